#include "quant_ops/qgemm.hpp"

#include <cmath>
#include <span>

#include <fmt/ranges.h>

#include "common/error.hpp"
#include "common/log.hpp"
#include "jit/impls/act_quant.hpp"
#include "quant_ops/act_quant.hpp"
#include "quant_ops/reference/act_quant.hpp"
#include "quant_ops/reference/gemm.hpp"
#include "quant_ops/reference_tensor.hpp"
#include "quant_ops/tuning.hpp"
#include "runtime/kernel_operands.hpp"
#include "runtime/kernels.hpp"

namespace qjit {

namespace {

QType operand_qtype(const Tensor& t, const char* what) {
  const std::optional<QType> q = qtype_of_storage(t.dtype());
  QJIT_CHECK_GEN("qgemm", q.has_value(), "{} must hold int8, fp8_e4m3 or fp8_e5m2 codes, got {}", what, t.describe());
  return *q;
}
// Shapes and dtypes of the operands, before anything else looks at them.
void check_operands(const Tensor& a, const Tensor& w) {
  QJIT_CHECK_GEN("qgemm", a.defined() && a.dim() == 2, "activations must be [M, K], got {}",
                 a.defined() ? a.describe() : "an undefined tensor");
  QJIT_CHECK_GEN("qgemm", w.defined() && w.dim() == 2, "weights must be [N, K], got {}",
                 w.defined() ? w.describe() : "an undefined tensor");
  operand_qtype(a, "activations");
  operand_qtype(w, "weights");
  QJIT_CHECK_GEN("qgemm", a.size(1) == w.size(1), "K differs: activations {} and weights {}", a.describe(),
                 w.describe());
  const std::int64_t n = w.size(0), k = w.size(1);
  QJIT_CHECK_GEN("qgemm", n % 16 == 0 && n > 0, "N = {} (weights {}) must be a positive multiple of 16", n,
                 w.describe());
  QJIT_CHECK_GEN("qgemm", k % 16 == 0, "K = {} (activations {}, weights {}) must be a multiple of 16", k,
                 a.describe(), w.describe());
}

// The logical scale layout of a granularity (DESIGN.md section 5), for operand rows x K.
std::vector<std::int64_t> scale_shape(Granularity g, std::int64_t rows, std::int64_t k) {
  const std::int64_t groups = (k + reference::kKBlock - 1) / reference::kKBlock;
  switch (g) {
    case Granularity::kPerTensor: return {1};
    case Granularity::kPerToken:
    case Granularity::kPerChannel: return {rows};
    case Granularity::kGroup128: return {rows, groups};
    case Granularity::kBlock128: return {(rows + reference::kKBlock - 1) / reference::kKBlock, groups};
  }
  return {};
}

std::string shape_str(const std::vector<std::int64_t>& s) { return fmt::format("[{}]", fmt::join(s, ", ")); }

// rows_name: "M" or "N". NOTE: group128 and block128 scales are 2-D in their logical layout
// ([M, ceil(K/128)], [ceil(N/128), ceil(K/128)]); the others are 1-D.
void check_scales(const Tensor& s, const char* what, Granularity g, std::int64_t rows, const char* rows_name,
                  std::int64_t k) {
  const std::vector<std::int64_t> want = scale_shape(g, rows, k);
  QJIT_CHECK_GEN("qgemm", s.defined() && s.dtype() == DType::kF32,
                 "{} scales must be an f32 tensor {}, got {}", what, shape_str(want),
                 s.defined() ? s.describe() : "none");
  if (s.shape() == want) return;  // NOTE: the message is built only when it is needed
  std::string meaning = g == Granularity::kPerTensor ? "one scale" : fmt::format("{} = {}", rows_name, rows);
  if (g == Granularity::kGroup128) meaning = fmt::format("M = {}, ceil(K / 128) = {}", rows, want[1]);
  if (g == Granularity::kBlock128) meaning = fmt::format("ceil(N / 128) = {}, ceil(K / 128) = {}", want[0], want[1]);
  QJIT_THROW("qgemm", "{} scales are {}, but {} needs {} ({})", what, s.describe(), granularity_name(g), shape_str(want),
             meaning);
}

void check_bias(const std::optional<Tensor>& bias, std::int64_t n) {
  if (!bias) return;
  const Tensor& b = *bias;
  QJIT_CHECK_GEN("qgemm", b.defined() && b.dim() == 1 && b.size(0) == n, "bias must be [N] = [{}], got {}", n,
                 b.defined() ? b.describe() : "an undefined tensor");
  QJIT_CHECK_GEN("qgemm", b.dtype() == DType::kF32 || b.dtype() == DType::kF16 || b.dtype() == DType::kBF16,
                 "bias must be f32, f16 or bf16, got {}", b.describe());
}

Tensor run_reference(const Tensor& a_in, const Tensor& scale_a, const Tensor& w_in, const Tensor& scale_w,
                     const QGemmOptions& o) {
  const Tensor a = a_in.contiguous(), w = w_in.contiguous();
  ReferenceHold hold;
  reference::GemmProblem p;
  p.m = a.size(0), p.n = w.size(0), p.k = a.size(1);
  p.act = reference_operand(a, operand_qtype(a, "activations"), o.act_granularity, scale_a, hold);
  p.weight = reference_operand(w, operand_qtype(w, "weights"), o.weight_granularity, scale_w, hold);
  p.epilogue = reference_epilogue(o.bias, o.activation, o.out_dtype, hold);
  return reference_output(reference::reference_gemm(p));
}

// Launches plan's GEMM on a's driver. a: codes, or float x (a_source static / dynamic fused);
// scale_a: the activation scales (static: the one scale; none for the fused dynamic strategy,
// which computes them; block-fp8: group128, logical when the plan has the transpose — the GEMM
// program's kQGemmBlockScalesKernel, a launch before it — else already K-major).
Tensor run_gemm(const QGemmPlan& plan, const Tensor& a_in, const std::optional<Tensor>& scale_a, const Tensor& w_in,
                const Tensor& scale_w, const QGemmOptions& o) {
  const Device dev = a_in.device();
  const std::shared_ptr<Driver>& driver = a_in.driver();
  const std::int64_t m = a_in.size(0), n = w_in.size(0), k = a_in.size(1);
  const auto grid = jit::impls::qgemm_grid(plan.config, std::max<std::int64_t>(m, 1), n);
  const Tensor a = as_kernel_operand(a_in, "qgemm", "activations");
  const Tensor w = as_kernel_operand(on_driver(w_in, dev, driver), "qgemm", "weights");
  std::optional<Tensor> sa, sa_logical;
  if (scale_a) sa = on_driver(*scale_a, dev, driver).contiguous();
  const Tensor sw = on_driver(scale_w, dev, driver).contiguous();
  std::optional<Tensor> bias;
  if (o.bias) bias = on_driver(*o.bias, dev, driver).contiguous();
  Tensor y = Tensor::empty({m, n}, o.out_dtype, dev, driver);
  if (m == 0) return y;
  if (plan.transpose != nullptr) {
    // NOTE: the launches are ordered on the stream; the logical source's block goes back to
    // the caching allocator when it dies and is reused only by later work on that stream.
    const std::int64_t groups = sa->size(1);
    Tensor k_major = Tensor::empty({groups, jit::impls::group_scales_ld(m)}, DType::kF32, dev, driver);
    if (groups > 0) {
      const auto g = jit::impls::qgemm_block_scales_grid(m, groups);
      LaunchConfig tc;
      tc.grid = {g.x, g.y, 1};
      tc.block = {static_cast<unsigned>(jit::impls::kQGemmBlockScalesThreads), 1, 1};
      jit::impls::QGemmBlockScalesParams targs;
      targs.src = sa->device_ptr();
      targs.dst = k_major.device_ptr();
      targs.m = static_cast<int>(m);
      targs.groups = static_cast<int>(groups);
      plan.transpose->launch(tc, targs);
    }
    sa_logical = std::move(sa);
    sa = std::move(k_major);
  }
  LaunchConfig lc;
  lc.grid = {grid.x, grid.y, 1};
  lc.block = {plan.threads, 1, 1};
  lc.dynamic_smem = plan.smem_bytes;
  jit::impls::QGemmParams args;
  args.a = a.device_ptr();
  args.a_ld = m > 1 ? a.stride(0) : k;
  args.w = w.device_ptr();
  args.w_ld = w.stride(0);
  args.scale_a = sa ? sa->device_ptr() : DevicePtr{0};
  args.scale_w = sw.device_ptr();
  args.bias = bias ? bias->device_ptr() : DevicePtr{0};
  args.y = y.device_ptr();
  args.y_ld = n;
  args.m = static_cast<int>(m);
  args.n = static_cast<int>(n);
  args.k = static_cast<int>(k);
  plan.gemm->launch(lc, args);
  return y;
}

// ---- float activations quantized for the GEMM -------------------------------------------

std::string act_mode_str(const ActQuant& q) {
  return fmt::format("{} {} {}", q.static_scale ? "static" : "dynamic", granularity_name(q.granularity),
                     qtype_name(q.qtype));
}

void check_float_operands(const Tensor& x, const ActQuant& act, const Tensor& w) {
  QJIT_CHECK_GEN("qgemm", x.defined() && x.dim() == 2, "activations must be [M, K], got {}",
                 x.defined() ? x.describe() : "an undefined tensor");
  QJIT_CHECK_GEN("qgemm", x.dtype() == DType::kBF16 || x.dtype() == DType::kF16 || x.dtype() == DType::kF32,
                 "float activations must be bf16, f16 or f32, got {} (pre-quantized codes take the qgemm overload "
                 "with scale_a)",
                 x.describe());
  QJIT_CHECK_GEN("qgemm", w.defined() && w.dim() == 2, "weights must be [N, K], got {}",
                 w.defined() ? w.describe() : "an undefined tensor");
  operand_qtype(w, "weights");
  QJIT_CHECK_GEN("qgemm", act.qtype != QType::kNone,
                 "activation qtype none has nothing to quantize (weight-only is qgemm_weight_only)");
  QJIT_CHECK_GEN("qgemm", x.size(1) == w.size(1), "K differs: activations {} and weights {}", x.describe(),
                 w.describe());
  const std::int64_t n = w.size(0), k = w.size(1);
  QJIT_CHECK_GEN("qgemm", n % 16 == 0 && n > 0, "N = {} (weights {}) must be a positive multiple of 16", n,
                 w.describe());
  QJIT_CHECK_GEN("qgemm", k % 16 == 0, "K = {} (activations {}, weights {}) must be a multiple of 16", k,
                 x.describe(), w.describe());
  const Granularity g = act.granularity;
  if (act.static_scale) {
    QJIT_CHECK_GEN("qgemm", g == Granularity::kPerTensor, "a static activation scale is per_tensor, not {}",
                   granularity_name(g));
  } else {
    QJIT_CHECK_GEN("qgemm", g == Granularity::kPerToken || g == Granularity::kPerTensor || g == Granularity::kGroup128,
                   "dynamic activation granularity {} is not per_token, per_tensor or group128", granularity_name(g));
  }
}

// The reference: quantize x (reference act_quant), then the reference GEMM.
Tensor run_float_reference(const Tensor& x_in, const ActQuant& act, float static_scale, const Tensor& w,
                           const Tensor& scale_w, const QGemmOptions& o) {
  const Tensor x = x_in.contiguous();
  const std::int64_t m = x.size(0), k = x.size(1);
  const auto view = reference::ActView::dense(x.raw_data_ptr(), x.dtype(), m, k);
  const reference::QuantizedActs q = act.static_scale ? reference::quantize_static(view, act.qtype, static_scale)
                                                      : reference::quantize_dynamic(view, act.qtype, act.granularity);
  const Tensor codes = Tensor::from_raw({m, k}, qtype_storage(act.qtype), q.q.data());
  const Granularity g = act.static_scale ? Granularity::kPerTensor : act.granularity;
  const std::vector<std::int64_t> shape = scale_shape(g, m, k);
  const Tensor scales = Tensor::from_vector<float>(shape, q.scales);
  QGemmOptions po = o;
  po.act_granularity = g;
  return qgemm(codes, scales, w, scale_w, po);
}

}  // namespace

jit::impls::GemmDesc qgemm_desc(const Tensor& a, const Tensor& w, const QGemmOptions& o) {
  jit::impls::GemmDesc d;
  d.m_bucket = jit::impls::gemm_m_bucket(a.size(0));
  d.n = w.size(0), d.k = w.size(1);
  d.qtype_a = operand_qtype(a, "activations");
  d.qtype_w = operand_qtype(w, "weights");
  d.scale_a = o.act_granularity;
  d.scale_w = o.weight_granularity;
  if (o.bias) d.bias = o.bias->dtype();
  d.act = o.activation;
  d.out = o.out_dtype;
  return d;
}

Tensor qgemm(const Tensor& a, const Tensor& scale_a, const Tensor& w, const Tensor& scale_w, const QGemmOptions& o) {
  check_operands(a, w);
  const std::int64_t m = a.size(0), n = w.size(0), k = a.size(1);
  QJIT_CHECK_GEN("qgemm", m <= 2147483647ll && n <= 2147483647ll && k <= 2147483647ll,
                 "activations {} or weights {} are too large", a.describe(), w.describe());
  const Granularity ga = o.act_granularity, gw = o.weight_granularity;
  QJIT_CHECK_GEN("qgemm", ga == Granularity::kPerToken || ga == Granularity::kPerTensor || ga == Granularity::kGroup128,
                 "activation granularity {} is not per_token, per_tensor or group128", granularity_name(ga));
  QJIT_CHECK_GEN("qgemm", gw == Granularity::kPerChannel || gw == Granularity::kPerTensor || gw == Granularity::kBlock128,
                 "weight granularity {} is not per_channel, per_tensor or block128", granularity_name(gw));
  QJIT_CHECK_GEN("qgemm", (ga == Granularity::kGroup128) == (gw == Granularity::kBlock128),
                 "activation granularity {} with weight granularity {}: group128 activations go only with block128 "
                 "weights (the block-fp8 family)",
                 granularity_name(ga), granularity_name(gw));
  check_scales(scale_a, "activation", ga, m, "M", k);
  check_scales(scale_w, "weight", gw, n, "N", k);
  check_bias(o.bias, n);
  QJIT_CHECK_GEN("qgemm", o.out_dtype == DType::kF32 || o.out_dtype == DType::kF16 || o.out_dtype == DType::kBF16,
                 "output dtype {} is not f32, f16 or bf16", dtype_name(o.out_dtype));
  if (a.device().is_host()) {
    QJIT_CHECK_GEN("qgemm", w.device().is_host(), "activations are on the cpu but weights {} are not", w.describe());
    // The shape rules; the cpu has no arch limit.
    jit::impls::check_gemm_desc(qgemm_desc(a, w, o), jit::Arch::parse("sm_90"));
    return run_reference(a, scale_a, w, scale_w, o);
  }
  // NOTE: the driver that owns the activations' memory runs the kernel (tests put several
  // sim devices, one per arch, side by side).
  const std::shared_ptr<Driver>& driver = a.driver();
  auto make = [&] { return plan_qgemm(driver, qgemm_desc(a, w, o), o.config, /*logical_group_scales=*/true); };
  if (o.memo == nullptr || o.config) return run_gemm(make(), a, scale_a, w, scale_w, o);
  // NOTE: codes' dtypes differ from float x's, so these keys never meet the float path's.
  const PlanKey key{driver.get(),
                    {jit::impls::gemm_m_bucket(m), static_cast<std::int64_t>(a.dtype()),
                     static_cast<std::int64_t>(o.act_granularity), static_cast<std::int64_t>(o.out_dtype)}};
  return run_gemm(o.memo->get(key, make), a, scale_a, w, scale_w, o);
}

jit::impls::GemmDesc qgemm_desc(const Tensor& x, const ActQuant& act, const Tensor& w, const QGemmOptions& o) {
  return qgemm_desc(qgemm_problem(x, act, w, o));
}

QGemmProblem qgemm_problem(const Tensor& x, const ActQuant& act, const Tensor& w, const QGemmOptions& o) {
  QGemmProblem p;
  p.m = x.size(0), p.n = w.size(0), p.k = w.size(1);
  p.x_dtype = x.dtype();
  p.act = act.qtype;
  p.act_static = act.static_scale.has_value();
  p.act_granularity = p.act_static ? Granularity::kPerTensor : act.granularity;
  p.weight = operand_qtype(w, "weights");
  p.weight_granularity = o.weight_granularity;
  if (o.bias) p.bias = o.bias->dtype();
  p.activation = o.activation;
  p.out_dtype = o.out_dtype;
  return p;
}

jit::impls::GemmDesc qgemm_desc(const QGemmProblem& p) {
  jit::impls::GemmDesc d;
  d.m_bucket = jit::impls::gemm_m_bucket(p.m);
  d.n = p.n, d.k = p.k;
  d.qtype_a = p.act;
  d.qtype_w = p.weight;
  d.scale_a = p.act_static ? Granularity::kPerTensor : p.act_granularity;
  d.scale_w = p.weight_granularity;
  d.bias = p.bias;
  d.act = p.activation;
  d.out = p.out_dtype;
  d.a_source = p.act_static ? jit::impls::ActSource::kStatic : jit::impls::ActSource::kDynamic;
  d.x_dtype = p.x_dtype;
  return d;
}

QGemmLaunches qgemm_launches(const QGemmProblem& p, jit::Arch arch, const std::optional<jit::impls::GemmConfig>& config) {
  const jit::impls::GemmDesc desc = qgemm_desc(p);
  jit::impls::check_gemm_desc(desc, arch);
  QGemmLaunches out;
  out.config = config ? *config : jit::impls::qgemm_heuristic(desc, arch);
  jit::impls::check_gemm_config(desc, out.config, arch);
  const std::string mode =
      fmt::format("{} {} {}", p.act_static ? "static" : "dynamic",
                  granularity_name(p.act_static ? Granularity::kPerTensor : p.act_granularity), qtype_name(p.act));
  if (out.config.fusion == jit::impls::GemmFusion::kSeparate) {
    // NOTE: the mode plan_qgemm hands plan_act_quant, and the desc it builds there.
    using M = ActScale;
    M m = M::kStaticPerTensor;
    if (!p.act_static) {
      switch (p.act_granularity) {
        case Granularity::kPerToken: m = M::kDynamicPerToken; break;
        case Granularity::kPerTensor: m = M::kDynamicPerTensor; break;
        case Granularity::kGroup128: m = M::kDynamicGroup128; break;
        default: QJIT_THROW("qgemm", "activation granularity {} has no act_quant mode", granularity_name(p.act_granularity));
      }
    }
    // group128 feeds block-fp8's GEMM its scales K-major (quantize_group128_k_major): no
    // transpose launch on this path.
    const jit::impls::ActQuantDesc aq{p.x_dtype, p.act, m, p.k, p.x_row_align,
                                      m == M::kDynamicGroup128};
    KernelLaunch pass{jit::impls::act_quant_spec(aq, jit::impls::act_quant_heuristic(aq), arch), {}, "act_quant " + mode};
    if (m == M::kDynamicPerTensor) pass.kernels.push_back(jit::impls::act_quant_tensor_amax_kernel());
    pass.kernels.push_back(jit::impls::act_quant_kernel(m));
    out.kernels.push_back(std::move(pass));
  }
  const bool quantizes_x = out.config.fusion != jit::impls::GemmFusion::kSeparate;
  out.kernels.push_back({jit::impls::qgemm_spec(desc, out.config, arch),
                         {jit::impls::kQGemmKernel},
                         fmt::format("qgemm {}{}", out.config.str(), quantizes_x ? " (quantizes x itself: " + mode + ")" : "")});
  return out;
}

namespace {

// The plan for float activations: from the options' memo when there is one (a layer's: found
// by the M bucket, x's dtype and alignment, no spec built), else made on the spot.
const QGemmPlan& plan_of(const Tensor& x, const ActQuant& act, const Tensor& w, const QGemmOptions& o,
                         QGemmPlan& local) {
  const std::shared_ptr<Driver>& driver = x.driver();
  const std::int64_t align = act_quant_row_align(x);
  auto make = [&] {
    QGemmProblem p = qgemm_problem(x, act, w, o);
    p.x_row_align = align;
    return plan_qgemm(driver, p, o.config);
  };
  if (o.memo == nullptr || o.config) return local = make();
  const PlanKey key{driver.get(),
                    {jit::impls::gemm_m_bucket(x.size(0)), static_cast<std::int64_t>(x.dtype()), align,
                     static_cast<std::int64_t>(o.out_dtype)}};
  return o.memo->get(key, make);
}

}  // namespace

Tensor qgemm(const Tensor& x, const ActQuant& act, const Tensor& w, const Tensor& scale_w, const QGemmOptions& o) {
  check_float_operands(x, act, w);
  const std::int64_t m = x.size(0), n = w.size(0), k = x.size(1);
  QJIT_CHECK_GEN("qgemm", m <= 2147483647ll && n <= 2147483647ll && k <= 2147483647ll,
                 "activations {} or weights {} are too large", x.describe(), w.describe());
  const Granularity ga = act.static_scale ? Granularity::kPerTensor : act.granularity, gw = o.weight_granularity;
  QJIT_CHECK_GEN("qgemm", gw == Granularity::kPerChannel || gw == Granularity::kPerTensor || gw == Granularity::kBlock128,
                 "weight granularity {} is not per_channel, per_tensor or block128", granularity_name(gw));
  QJIT_CHECK_GEN("qgemm", (ga == Granularity::kGroup128) == (gw == Granularity::kBlock128),
                 "{} activations with weight granularity {}: group128 activations go only with block128 weights (the "
                 "block-fp8 family)",
                 act_mode_str(act), granularity_name(gw));
  check_scales(scale_w, "weight", gw, n, "N", k);
  check_bias(o.bias, n);
  QJIT_CHECK_GEN("qgemm", o.out_dtype == DType::kF32 || o.out_dtype == DType::kF16 || o.out_dtype == DType::kBF16,
                 "output dtype {} is not f32, f16 or bf16", dtype_name(o.out_dtype));
  if (act.static_scale) check_static_scale(*act.static_scale, "qgemm");
  if (x.device().is_host()) {
    QJIT_CHECK_GEN("qgemm", w.device().is_host(), "activations are on the cpu but weights {} are not", w.describe());
    // The shape rules; the cpu has no arch limit.
    jit::impls::check_gemm_desc(qgemm_desc(x, act, w, o), jit::Arch::parse("sm_90"));
    const float s = act.static_scale ? check_static_scale(*act.static_scale, "qgemm", /*need_value=*/true) : 0.0f;
    return run_float_reference(x, act, s, w, scale_w, o);
  }
  QGemmPlan local;
  const QGemmPlan& plan = plan_of(x, act, w, o, local);
  if (o.ran) *o.ran = plan.config;
  return launch_qgemm(plan, x, act.static_scale, w, scale_w, o);
}

QGemmPlan plan_qgemm(const std::shared_ptr<Driver>& driver, const jit::impls::GemmDesc& desc,
                     const std::optional<jit::impls::GemmConfig>& config, bool logical_group_scales) {
  const jit::Arch arch = target_arch(*driver);
  jit::impls::check_gemm_desc(desc, arch);  // fp8 below sm_89 is rejected here, before any copy
  QGemmPlan plan;
  plan.config = config ? *config : qgemm_config(*driver, desc, arch);
  const jit::KernelSpec spec = jit::impls::qgemm_spec(desc, plan.config, arch);  // checks the config too
  plan.threads = static_cast<unsigned>(plan.config.threads());
  plan.smem_bytes = static_cast<unsigned>(jit::impls::qgemm_smem_bytes(desc, plan.config));
  plan.gemm = &KernelCache::global().get(driver, spec, jit::impls::kQGemmKernel);
  if (logical_group_scales && desc.scale_w == Granularity::kBlock128) {
    plan.transpose = &KernelCache::global().get(driver, spec, jit::impls::kQGemmBlockScalesKernel);
  }
  return plan;
}

QGemmPlan plan_qgemm(const std::shared_ptr<Driver>& driver, const QGemmProblem& p,
                     const std::optional<jit::impls::GemmConfig>& config) {
  if (!config) {
    // The tuning database's config (quant_ops/tuning.hpp) or the heuristic's. A tuned config
    // that cannot be planned here (its compile fails on this machine) gives way to the
    // heuristic's, said once.
    const jit::Arch arch = target_arch(*driver);
    jit::impls::check_gemm_desc(qgemm_desc(p), arch);
    const jit::impls::GemmConfig chosen = qgemm_config(*driver, qgemm_desc(p), arch);
    const jit::impls::GemmConfig heuristic = jit::impls::qgemm_heuristic(qgemm_desc(p), arch);
    if (chosen == heuristic) return plan_qgemm(driver, p, heuristic);
    try {
      return plan_qgemm(driver, p, chosen);
    } catch (const Error& e) {
      log(LogLevel::kWarn, "qgemm: the tuned config {} failed here ({}); using the heuristic's {}", chosen.str(),
          e.message(), heuristic.str());
      return plan_qgemm(driver, p, heuristic);
    }
  }
  // NOTE: qgemm_launches is what `qjit run` plans with: the op launches exactly its kernels.
  const QGemmLaunches launches = qgemm_launches(p, target_arch(*driver), config);
  if (!launches.separate()) return plan_qgemm(driver, qgemm_desc(p), launches.config, false);
  // The separate strategy: the act_quant pass, then the GEMM on its codes (group128 writes
  // the scales K-major, as the block-fp8 GEMM reads them: no transpose).
  ActScale mode = ActScale::kStaticPerTensor;
  if (!p.act_static) {
    switch (p.act_granularity) {
      case Granularity::kPerToken: mode = ActScale::kDynamicPerToken; break;
      case Granularity::kPerTensor: mode = ActScale::kDynamicPerTensor; break;
      case Granularity::kGroup128: mode = ActScale::kDynamicGroup128; break;
      default: QJIT_THROW("qgemm", "activation granularity {} has no act_quant mode", granularity_name(p.act_granularity));
    }
  }
  jit::impls::GemmDesc codes = qgemm_desc(p);
  codes.a_source = jit::impls::ActSource::kQuantized;
  codes.x_dtype = DType::kBF16;
  jit::impls::GemmConfig gemm_config = launches.config;
  gemm_config.fusion = jit::impls::GemmFusion::kFused;  // irrelevant for codes; the canonical value
  QGemmPlan plan = plan_qgemm(driver, codes, gemm_config, /*logical_group_scales=*/false);
  plan.pass = plan_act_quant(driver, p.x_dtype, p.act, mode, p.k,
                             p.x_row_align != 0 ? p.x_row_align : jit::impls::act_quant_row_align(p.k),
                             mode == ActScale::kDynamicGroup128);
  plan.config.fusion = jit::impls::GemmFusion::kSeparate;
  return plan;
}

Tensor launch_qgemm(const QGemmPlan& plan, const Tensor& x, const std::optional<Tensor>& static_scale, const Tensor& w,
                    const Tensor& scale_w, const QGemmOptions& o) {
  if (!plan.pass) return run_gemm(plan, x, static_scale, w, scale_w, o);
  const QuantizedActivations q = launch_act_quant(*plan.pass, x, static_scale ? &*static_scale : nullptr);
  return run_gemm(plan, q.q, q.scales, w, scale_w, o);
}

}  // namespace qjit
