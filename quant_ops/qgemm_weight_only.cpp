#include "quant_ops/qgemm_weight_only.hpp"

#include <span>

#include <fmt/format.h>

#include "common/error.hpp"
#include "common/log.hpp"
#include "quant_ops/reference/gemm.hpp"
#include "quant_ops/reference_tensor.hpp"
#include "quant_ops/tuning.hpp"
#include "runtime/kernel_operands.hpp"
#include "runtime/kernels.hpp"

namespace qjit {

namespace {

constexpr const char* kOp = "qgemm_weight_only";

QType weight_qtype(const Tensor& w) {
  const std::optional<QType> q = qtype_of_storage(w.dtype());
  QJIT_CHECK_GEN(kOp, q.has_value(), "weights must hold int8, fp8_e4m3 or fp8_e5m2 codes, got {}", w.describe());
  return *q;
}
// Shapes and dtypes of the operands, before anything else looks at them.
void check_operands(const Tensor& x, const Tensor& w) {
  QJIT_CHECK_GEN(kOp, x.defined() && x.dim() == 2, "activations must be [M, K], got {}",
                 x.defined() ? x.describe() : "an undefined tensor");
  QJIT_CHECK_GEN(kOp, w.defined() && w.dim() == 2, "weights must be [N, K], got {}",
                 w.defined() ? w.describe() : "an undefined tensor");
  QJIT_CHECK_GEN(kOp, x.dtype() == DType::kBF16 || x.dtype() == DType::kF16,
                 "activations must be bf16 or f16 (weight-only: act qtype none), got {}", x.describe());
  weight_qtype(w);
  QJIT_CHECK_GEN(kOp, x.size(1) == w.size(1), "K differs: activations {} and weights {}", x.describe(),
                 w.describe());
  const std::int64_t n = w.size(0), k = w.size(1);
  QJIT_CHECK_GEN(kOp, n % 16 == 0 && n > 0, "N = {} (weights {}) must be a positive multiple of 16", n,
                 w.describe());
  QJIT_CHECK_GEN(kOp, k % 16 == 0, "K = {} (activations {}, weights {}) must be a multiple of 16", k, x.describe(),
                 w.describe());
  QJIT_CHECK_GEN(kOp, x.size(0) <= 2147483647ll && n <= 2147483647ll && k <= 2147483647ll,
                 "activations {} or weights {} are too large", x.describe(), w.describe());
}

// scale_w in the logical layout of g (DESIGN.md section 5).
void check_scales(const Tensor& s, Granularity g, std::int64_t n, std::int64_t k) {
  QJIT_CHECK_GEN(kOp, g == Granularity::kPerChannel || g == Granularity::kPerTensor || g == Granularity::kBlock128,
                 "weight granularity {} is not per_channel, per_tensor or block128", granularity_name(g));
  QJIT_CHECK_GEN(kOp, s.defined() && s.dtype() == DType::kF32, "weight scales must be an f32 tensor, got {}",
                 s.defined() ? s.describe() : "none");
  if (g == Granularity::kBlock128) {
    const std::int64_t nb = (n + 127) / 128, kb = (k + 127) / 128;
    const bool ok = (s.dim() == 2 && s.size(0) == nb && s.size(1) == kb) || (s.dim() == 1 && s.numel() == nb * kb);
    QJIT_CHECK_GEN(kOp, ok, "weight scales are {}, but block128 needs [{}, {}] ([ceil(N/128), ceil(K/128)], N = {}, K = {})",
                   s.describe(), nb, kb, n, k);
    return;
  }
  const std::int64_t want = g == Granularity::kPerTensor ? 1 : n;
  QJIT_CHECK_GEN(kOp, s.dim() == 1 && s.numel() == want, "weight scales are {}, but {} needs [{}] ({})", s.describe(),
                 granularity_name(g), want, g == Granularity::kPerTensor ? "one scale" : fmt::format("N = {}", n));
}

void check_bias(const std::optional<Tensor>& bias, std::int64_t n) {
  if (!bias) return;
  const Tensor& b = *bias;
  QJIT_CHECK_GEN(kOp, b.defined() && b.dim() == 1 && b.size(0) == n, "bias must be [N] = [{}], got {}", n,
                 b.defined() ? b.describe() : "an undefined tensor");
  QJIT_CHECK_GEN(kOp, b.dtype() == DType::kF32 || b.dtype() == DType::kF16 || b.dtype() == DType::kBF16,
                 "bias must be f32, f16 or bf16, got {}", b.describe());
}

Tensor run_reference(const Tensor& x_in, const Tensor& w_in, const Tensor& scale_w, const WeightOnlyOptions& o) {
  const Tensor x = x_in.contiguous(), w = w_in.contiguous();
  ReferenceHold hold;
  reference::GemmProblem p;
  p.m = x.size(0), p.n = w.size(0), p.k = x.size(1);
  p.act_float = reference::ActView::dense(x.raw_data_ptr(), x.dtype(), p.m, p.k);
  p.weight = reference_operand(w, weight_qtype(w), o.weight_granularity, scale_w, hold);
  p.epilogue = reference_epilogue(o.bias, o.activation, o.out_dtype, hold);
  return reference_output(reference::reference_gemm(p));
}

Tensor run_kernel(const WeightOnlyPlan& plan, const Tensor& x_in, const Tensor& w_in, const Tensor& scale_w,
                  const WeightOnlyOptions& o) {
  const Device dev = x_in.device();
  const std::shared_ptr<Driver>& driver = x_in.driver();
  const jit::impls::WeightOnlyConfig& config = plan.config;
  const std::int64_t m = x_in.size(0), n = w_in.size(0), k = x_in.size(1);
  const auto grid = jit::impls::qgemm_wo_grid(config, std::max<std::int64_t>(m, 1), n);
  const Tensor x = as_kernel_operand(x_in, kOp, "activations");
  const Tensor w = as_kernel_operand(on_driver(w_in, dev, driver), kOp, "weights");
  const Tensor sw = on_driver(scale_w, dev, driver).contiguous();
  std::optional<Tensor> bias;
  if (o.bias) bias = on_driver(*o.bias, dev, driver).contiguous();
  Tensor y = Tensor::empty({m, n}, o.out_dtype, dev, driver);
  if (m == 0) return y;
  LaunchConfig lc;
  lc.grid = {grid.x, grid.y, 1};
  lc.block = {static_cast<unsigned>(config.threads()), 1, 1};
  lc.dynamic_smem = static_cast<unsigned>(config.smem_bytes());
  jit::impls::QGemmWoParams args;
  args.x = x.device_ptr();
  args.x_ld = m > 1 ? x.stride(0) : k;
  args.w = w.device_ptr();
  args.w_ld = w.stride(0);
  args.scale_w = sw.device_ptr();
  args.bias = bias ? bias->device_ptr() : DevicePtr{0};
  args.y = y.device_ptr();
  args.y_ld = n;
  args.m = static_cast<int>(m);
  args.n = static_cast<int>(n);
  args.k = static_cast<int>(k);
  plan.kernel->launch(lc, args);
  return y;
}

}  // namespace

WeightOnlyPlan plan_qgemm_weight_only(const std::shared_ptr<Driver>& driver, const WeightOnlyProblem& p,
                                      const std::optional<jit::impls::WeightOnlyConfig>& config) {
  const jit::Arch arch = target_arch(*driver);
  const jit::impls::WeightOnlyDesc desc = qgemm_weight_only_desc(p);
  jit::impls::check_weight_only_desc(desc, arch);  // below sm_80 rejected here, before any copy
  if (!config) {
    // The tuning database's config (quant_ops/tuning.hpp) or the heuristic's. A tuned config
    // that cannot be planned here (its compile fails on this machine) gives way to the
    // heuristic's, said once.
    const jit::impls::WeightOnlyConfig chosen = qgemm_wo_config(*driver, desc, arch);
    const jit::impls::WeightOnlyConfig heuristic = jit::impls::qgemm_wo_heuristic(desc, arch);
    if (chosen == heuristic) return plan_qgemm_weight_only(driver, p, heuristic);
    try {
      return plan_qgemm_weight_only(driver, p, chosen);
    } catch (const Error& e) {
      log(LogLevel::kWarn, "qgemm_weight_only: the tuned config {} failed here ({}); using the heuristic's {}",
          chosen.str(), e.message(), heuristic.str());
      return plan_qgemm_weight_only(driver, p, heuristic);
    }
  }
  // NOTE: qgemm_weight_only_launches is what `qjit run` plans with: with this config the op
  // launches exactly its kernel.
  const WeightOnlyLaunches launches = qgemm_weight_only_launches(p, arch, config);
  return {launches.config,
          &KernelCache::global().get(driver, launches.kernels.front().spec, jit::impls::kQGemmWoKernel)};
}

jit::impls::WeightOnlyDesc qgemm_weight_only_desc(const Tensor& x, const Tensor& w, const WeightOnlyOptions& o) {
  return qgemm_weight_only_desc(qgemm_weight_only_problem(x, w, o));
}

WeightOnlyProblem qgemm_weight_only_problem(const Tensor& x, const Tensor& w, const WeightOnlyOptions& o) {
  WeightOnlyProblem p;
  p.m = x.size(0), p.n = w.size(0), p.k = w.size(1);
  p.x_dtype = x.dtype();
  p.weight = weight_qtype(w);
  p.weight_granularity = o.weight_granularity;
  if (o.bias) p.bias = o.bias->dtype();
  p.activation = o.activation;
  p.out_dtype = o.out_dtype;
  return p;
}

jit::impls::WeightOnlyDesc qgemm_weight_only_desc(const WeightOnlyProblem& p) {
  jit::impls::WeightOnlyDesc d;
  d.m_bucket = jit::impls::gemm_m_bucket(p.m);
  d.n = p.n, d.k = p.k;
  d.x = p.x_dtype;
  d.qtype_w = p.weight;
  d.scale_w = p.weight_granularity;
  d.bias = p.bias;
  d.act = p.activation;
  d.out = p.out_dtype;
  return d;
}

WeightOnlyLaunches qgemm_weight_only_launches(const WeightOnlyProblem& p, jit::Arch arch,
                                              const std::optional<jit::impls::WeightOnlyConfig>& config) {
  const jit::impls::WeightOnlyDesc desc = qgemm_weight_only_desc(p);
  jit::impls::check_weight_only_desc(desc, arch);
  WeightOnlyLaunches out;
  out.config = config ? *config : jit::impls::qgemm_wo_heuristic(desc, arch);
  out.kernels.push_back({jit::impls::qgemm_wo_spec(desc, out.config, arch),
                         {jit::impls::kQGemmWoKernel},
                         fmt::format("qgemm_wo {}", out.config.str())});
  return out;
}

Tensor qgemm_weight_only(const Tensor& x, const Tensor& w, const Tensor& scale_w, const WeightOnlyOptions& o) {
  check_operands(x, w);
  const std::int64_t n = w.size(0), k = w.size(1);
  check_scales(scale_w, o.weight_granularity, n, k);
  check_bias(o.bias, n);
  QJIT_CHECK_GEN(kOp, o.out_dtype == DType::kF32 || o.out_dtype == DType::kF16 || o.out_dtype == DType::kBF16,
                 "output dtype {} is not f32, f16 or bf16", dtype_name(o.out_dtype));
  if (x.device().is_host()) {
    QJIT_CHECK_GEN(kOp, w.device().is_host(), "activations are on the cpu but weights {} are not", w.describe());
    // The shape rules; the cpu has no arch limit.
    jit::impls::check_weight_only_desc(qgemm_weight_only_desc(x, w, o), jit::Arch::parse("sm_90"));
    return run_reference(x, w, scale_w, o);
  }
  // NOTE: the driver that owns the activations' memory runs the kernel (tests put several
  // sim devices, one per arch, side by side).
  const std::shared_ptr<Driver>& driver = x.driver();
  auto make = [&] { return plan_qgemm_weight_only(driver, qgemm_weight_only_problem(x, w, o), o.config); };
  auto run = [&](const WeightOnlyPlan& plan) {
    if (o.ran) *o.ran = plan.config;
    return run_kernel(plan, x, w, scale_w, o);
  };
  if (o.memo == nullptr || o.config) return run(make());
  const PlanKey key{driver.get(),
                    {jit::impls::gemm_m_bucket(x.size(0)), static_cast<std::int64_t>(x.dtype()), 0,
                     static_cast<std::int64_t>(o.out_dtype)}};
  return run(o.memo->get(key, make));
}

}  // namespace qjit
