#include "quant_ops/linear.hpp"

#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <span>

#include "common/error.hpp"
#include "quant_ops/host_linear.hpp"
#include "quant_ops/qgemm.hpp"
#include "quant_ops/qgemm_weight_only.hpp"
#include "quant_ops/reference/act_quant.hpp"
#include "quant_ops/reference/weight_quant.hpp"
#include "runtime/host_driver.hpp"
#include "runtime/kernel_operands.hpp"
#include "runtime/kernels.hpp"
#include "runtime/safetensors.hpp"

namespace qjit {

namespace {

using reference::GemmFamily;

constexpr const char* kSub = "linear";

std::string shape_str(const std::vector<std::int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

std::string describe(const Tensor& t) { return t.defined() ? t.describe() : "an undefined tensor"; }

void check_quantizes(const ResolvedRule& rule) {
  QJIT_CHECK_GEN(kSub, !rule.skips(),
                 "rule '{}': weight none keeps the layer in high precision; a quantized linear needs a weight qtype "
                 "(int8, fp8_e4m3 or fp8_e5m2)",
                 rule.label);
}

// NOTE: the GPU kernels' shape rule, applied on every device (the cpu included) so that a
// problem the cpu accepts never fails on sim or cuda.
void check_weight_shape(const Tensor& w, const char* what) {
  QJIT_CHECK_GEN(kSub, w.defined() && w.dim() == 2, "{} must be [N, K], got {}", what, describe(w));
  const std::int64_t n = w.size(0), k = w.size(1);
  QJIT_CHECK_GEN(kSub, n > 0 && n % 16 == 0, "{} {}: N = {} must be a positive multiple of 16", what, w.describe(), n);
  QJIT_CHECK_GEN(kSub, k > 0 && k % 16 == 0, "{} {}: K = {} must be a positive multiple of 16", what, w.describe(), k);
}

// The logical scale shape of a weight granularity (DESIGN.md section 5).
std::vector<std::int64_t> weight_scale_shape(Granularity g, std::int64_t n, std::int64_t k) {
  const auto blocks = [](std::int64_t v) { return (v + reference::kBlockSize - 1) / reference::kBlockSize; };
  switch (g) {
    case Granularity::kPerChannel:
      return {n};
    case Granularity::kPerTensor:
      return {1};
    case Granularity::kBlock128:
      return {blocks(n), blocks(k)};
    default:
      QJIT_THROW(kSub, "{} is not a weight granularity", granularity_name(g));
  }
}

DType out_dtype_of(const ResolvedRule& rule, const LinearOptions& o) { return o.out_dtype.value_or(rule.out_dtype); }

// A dense cpu [M, K] copy of x and its reference view.
struct HostRows {
  Tensor x;
  reference::ActView view;
};

HostRows host_rows(const Tensor& x) {
  HostRows h;
  const std::int64_t k = x.size(-1), m = k == 0 ? 0 : x.numel() / k;
  h.x = x.to(Device::cpu()).contiguous().reshape({m, k});
  h.view = reference::ActView::dense(h.x.raw_data_ptr(), h.x.dtype(), m, k);
  return h;
}

// The reference activation quantization of a W8A8 rule: the bytes every device produces.
reference::QuantizedActs reference_acts(const reference::ActView& v, const ResolvedRule& rule,
                                        const std::optional<Tensor>& act_scale) {
  if (rule.act_static_scale) return reference::quantize_static(v, rule.act, check_static_scale(*act_scale, kSub, /*need_value=*/true));
  return reference::quantize_dynamic(v, rule.act, rule.act_granularity);
}

std::span<const std::uint8_t> bytes_of(const Tensor& t) {
  return {static_cast<const std::uint8_t*>(t.raw_data_ptr()), t.nbytes()};
}

std::span<const float> floats_of(const Tensor& t) { return {t.data_ptr<float>(), static_cast<std::size_t>(t.numel())}; }

Tensor run_reference(const Tensor& x, const QuantizedWeight& w, const ResolvedRule& rule, const LinearOptions& o,
                     GemmFamily family, LinearTrace* trace) {
  const HostRows h = host_rows(x);
  const Tensor wq = w.q.to(Device::cpu()).contiguous(), ws = w.scales.to(Device::cpu()).contiguous();
  std::optional<Tensor> bias;
  if (o.bias) bias = o.bias->to(Device::cpu()).contiguous();
  reference::GemmProblem p;
  p.m = h.view.rows, p.n = wq.size(0), p.k = wq.size(1);
  p.weight = {w.qtype, w.granularity, bytes_of(wq), floats_of(ws)};
  reference::QuantizedActs qa;  // NOTE: outlives p, which points into it
  if (family == GemmFamily::kWeightOnly) {
    p.act.qtype = QType::kNone;
    p.act_float = h.view;
  } else {
    qa = reference_acts(h.view, rule, o.act_scale);
    p.act = reference::QuantOperand::of(qa);
  }
  p.epilogue.bias = bias ? bias->raw_data_ptr() : nullptr;
  p.epilogue.bias_dtype = bias ? bias->dtype() : DType::kF32;
  p.epilogue.activation = o.activation;
  p.epilogue.out_dtype = out_dtype_of(rule, o);
  const reference::GemmOutput r = reference::reference_gemm(p);
  if (trace) trace->steps.push_back(fmt::format("reference {}", reference::gemm_family_name(family)));
  if (r.dtype == DType::kF32) return Tensor::from_vector<float>({p.m, p.n}, r.values);
  return Tensor::from_raw({p.m, p.n}, r.dtype, r.bits.data());
}

// Weight-only on sim / cuda: the f16 / bf16 input times the codes, dequantized in the main loop.
Tensor run_weight_only(const Tensor& x, const QuantizedWeight& w, const ResolvedRule& rule, const LinearOptions& o,
                       LinearTrace* trace) {
  const std::int64_t k = x.size(-1);
  const Tensor x2d = x.reshape({k == 0 ? 0 : x.numel() / k, k});
  WeightOnlyOptions g;
  g.weight_granularity = w.granularity;
  g.bias = o.bias;
  g.activation = o.activation;
  g.out_dtype = out_dtype_of(rule, o);
  g.config = o.weight_only_config;
  g.memo = o.weight_only_memo;
  jit::impls::WeightOnlyConfig ran;
  g.ran = &ran;
  Tensor y = qgemm_weight_only(x2d, w.q, w.scales, g);
  if (trace) trace->steps.push_back(fmt::format("qgemm_wo {}", ran.str()));
  return y;
}

std::string act_scale_name(const ResolvedRule& rule) {
  return fmt::format("{} {}", rule.act_static_scale ? "static_per_tensor" : granularity_name(rule.act_granularity),
                     qtype_name(rule.act));
}

// W8A8 on sim / cuda (int8, fp8, or block-fp8 with group128 x block128 scales): qgemm on the
// float activations, which quantizes them as the rule says — a static scale inside the GEMM's
// main loop, dynamic per-token in a fused prologue or a separate act_quant pass (the config's
// fusion, the heuristic's choice unless options.config says), per-tensor and group128 in a
// separate pass. Every choice gives the same codes and scales (DESIGN.md section 5).
Tensor run_w8a8(const Tensor& x, const QuantizedWeight& w, const ResolvedRule& rule, const LinearOptions& o,
                LinearTrace* trace) {
  const std::int64_t k = x.size(-1);
  const Tensor x2d = x.reshape({k == 0 ? 0 : x.numel() / k, k});
  ActQuant aq;
  aq.qtype = rule.act;
  aq.granularity = rule.act_granularity;  // per_tensor when static (resolve() guarantees it)
  if (rule.act_static_scale) aq.static_scale = o.act_scale->reshape({1});
  QGemmOptions g;
  g.weight_granularity = w.granularity;
  g.bias = o.bias;
  g.activation = o.activation;
  g.out_dtype = out_dtype_of(rule, o);
  g.config = o.config;
  g.memo = o.memo;
  jit::impls::GemmConfig ran;
  g.ran = &ran;
  Tensor y = qgemm(x2d, aq, w.q, w.scales, g);
  if (trace) {
    const QGemmLaunches launches = qgemm_launches(qgemm_problem(x2d, aq, w.q, g), target_arch(*x.driver()), ran);
    const auto& config = launches.config;
    const bool separate = launches.separate();
    if (separate) {
      trace->steps.push_back("act_quant " + act_scale_name(rule));
      trace->steps.push_back(fmt::format("qgemm {}", config.str()));
    } else {
      trace->steps.push_back(fmt::format("qgemm {} (quantizes x itself: {})", config.str(), act_scale_name(rule)));
    }
  }
  return y;
}

Tensor run_device(const Tensor& x, const QuantizedWeight& w, const ResolvedRule& rule, const LinearOptions& o,
                  GemmFamily family, LinearTrace* trace) {
  if (family == GemmFamily::kWeightOnly) return run_weight_only(x, w, rule, o, trace);
  return run_w8a8(x, w, rule, o, trace);
}

}  // namespace

GemmFamily linear_family(const ResolvedRule& rule) {
  check_quantizes(rule);
  if (rule.act == QType::kNone) return GemmFamily::kWeightOnly;
  if (rule.weight_granularity == Granularity::kBlock128) return GemmFamily::kBlockFp8;
  return rule.weight == QType::kInt8 ? GemmFamily::kInt8 : GemmFamily::kFp8;
}

void check_linear(const Tensor& x, const Tensor& w, const ResolvedRule& rule, const LinearOptions& o) {
  const GemmFamily family = linear_family(rule);
  const std::string_view fam = reference::gemm_family_name(family);
  QJIT_CHECK_GEN(kSub, x.defined() && x.dim() >= 1, "the input must be [..., K], got {}", describe(x));
  QJIT_CHECK_GEN(kSub, is_high_precision(x.dtype()), "the input must be f32, f16 or bf16, got {}", x.describe());
  QJIT_CHECK_GEN(kSub, family != GemmFamily::kWeightOnly || x.dtype() != DType::kF32,
                 "rule '{}' is weight-only (act none): its GEMM runs on the f16 / bf16 input itself, so the input "
                 "must be f16 or bf16, got {}",
                 rule.label, x.describe());
  check_weight_shape(w, "the weights");
  const std::int64_t n = w.size(0), k = w.size(1);
  QJIT_CHECK_GEN(kSub, x.size(-1) == k, "the input {} has K = {}, the weights {} have K = {}", x.describe(), x.size(-1),
                 w.describe(), k);
  const std::int64_t m = x.numel() / k;
  QJIT_CHECK_GEN(kSub, m <= std::numeric_limits<int>::max(), "the input {} has {} rows; at most 2^31 - 1 are supported",
                 x.describe(), m);
  QJIT_CHECK_GEN(kSub, family != GemmFamily::kInt8 || k <= reference::kMaxInt8K,
                 "rule '{}' ({} family): K = {} could overflow the int32 accumulator (127 * 127 * K > 2^31 - 1); "
                 "K must be <= {}",
                 rule.label, fam, k, reference::kMaxInt8K);
  if (o.bias) {
    const Tensor& b = *o.bias;
    QJIT_CHECK_GEN(kSub, b.defined() && b.dim() == 1 && b.size(0) == n, "the bias must be [N] = [{}], got {}", n,
                   describe(b));
    QJIT_CHECK_GEN(kSub, is_high_precision(b.dtype()), "the bias must be f32, f16 or bf16, got {}", b.describe());
  }
  if (rule.act_static_scale) {
    QJIT_CHECK_GEN(kSub, o.act_scale.has_value(),
                   "rule '{}' has a static (calibrated) activation scale (act_static_scale=true): give the scale "
                   "(qjit linear: --act-scale)",
                   rule.label);
    check_static_scale(*o.act_scale, kSub);
  } else {
    QJIT_CHECK_GEN(kSub, !o.act_scale.has_value(),
                   "rule '{}' quantizes activations {}: a static activation scale was given, but the rule does not "
                   "have act_static_scale=true",
                   rule.label, family == GemmFamily::kWeightOnly ? "not at all (weight-only)" : "dynamically");
  }
  const DType out = out_dtype_of(rule, o);
  QJIT_CHECK_GEN(kSub, is_high_precision(out), "the output dtype {} is not f32, f16 or bf16", dtype_name(out));
  const Device dev = x.device();
  if (!dev.is_host()) {
    std::string why;
    QJIT_CHECK_GEN(kSub, linear_arch_support(rule, target_arch(*x.driver()), &why), "{} (device {})", why,
                   dev.str());
  }
}

bool linear_arch_support(const ResolvedRule& rule, jit::Arch arch, std::string* why) {
  if (arch.is_host()) {
    // NOTE: every valid rule has cpu kernels today; one without would run the plain reference,
    // which a plan at a video's shapes must never do (hours at 14B).
    if (host_kernels_support(rule, DType::kBF16)) return true;
    if (why) *why = fmt::format("rule '{}' has no cpu kernels (the cpu device runs the reference for it)", rule.label);
    return false;
  }
  const GemmFamily family = linear_family(rule);
  if (family != GemmFamily::kFp8 && family != GemmFamily::kBlockFp8) return true;
  if (arch.number >= 89) return true;
  if (why) {
    *why = fmt::format("rule '{}' ({} family) needs fp8 mma, sm_89 or newer; the arch is {}", rule.label,
                       reference::gemm_family_name(family), arch.str());
  }
  return false;
}

std::vector<KernelLaunch> linear_kernels(const ResolvedRule& rule, const LinearProblem& p, jit::Arch arch) {
  const GemmFamily family = linear_family(rule);
  std::string why;
  QJIT_CHECK_GEN(kSub, linear_arch_support(rule, arch, &why), "{}", why);
  // NOTE: the same problems run_weight_only and run_w8a8 hand the ops (through the ops'
  // qgemm_weight_only_problem / qgemm_problem on the tensors).
  if (family == GemmFamily::kWeightOnly) {
    return qgemm_weight_only_launches(linear_weight_only_problem(rule, p), arch, p.weight_only_config).kernels;
  }
  return qgemm_launches(linear_qgemm_problem(rule, p), arch, p.config).kernels;
}

QGemmProblem linear_qgemm_problem(const ResolvedRule& rule, const LinearProblem& p) {
  QGemmProblem q;
  q.m = p.m, q.n = p.n, q.k = p.k;
  q.x_dtype = p.x_dtype;
  q.act = rule.act;
  q.act_granularity = rule.act_granularity;  // per_tensor when static (resolve() guarantees it)
  q.act_static = rule.act_static_scale;
  q.weight = rule.weight;
  q.weight_granularity = rule.weight_granularity;
  q.bias = p.bias;
  q.activation = p.activation;
  q.out_dtype = p.out_dtype.value_or(rule.out_dtype);
  return q;
}

WeightOnlyProblem linear_weight_only_problem(const ResolvedRule& rule, const LinearProblem& p) {
  return {p.m,          p.n, p.k, p.x_dtype, rule.weight, rule.weight_granularity, p.bias, p.activation,
          p.out_dtype.value_or(rule.out_dtype)};
}

QuantizedWeight quantize_weight(const Tensor& w, const ResolvedRule& rule) {
  check_quantizes(rule);
  check_weight_shape(w, "the weights");
  QJIT_CHECK_GEN(kSub, is_high_precision(w.dtype()), "the weights to quantize must be f32, f16 or bf16, got {}",
                 w.describe());
  if (!w.holds_values()) {
    // A planned run (runtime/plan_driver.hpp): weights without values, codes and scales of
    // the right shapes without computing them.
    const auto driver = w.driver();
    const auto scales = weight_scale_shape(rule.weight_granularity, w.size(0), w.size(1));
    return {rule.weight, rule.weight_granularity,
            Tensor::empty(w.shape(), qtype_storage(rule.weight), w.device(), driver),
            Tensor::empty(scales, DType::kF32, w.device(), driver)};
  }
  const Tensor host = w.to(Device::cpu()).contiguous();
  const std::int64_t n = host.size(0), k = host.size(1);
  const auto view = reference::WeightView::dense(host.raw_data_ptr(), host.dtype(), n, k);
  const reference::QuantizedWeights qw = reference::quantize_weights(view, rule.weight, rule.weight_granularity);
  QuantizedWeight out;
  out.qtype = rule.weight;
  out.granularity = rule.weight_granularity;
  out.q = Tensor::from_raw({n, k}, qtype_storage(rule.weight), qw.q.data());
  out.scales = Tensor::from_vector<float>(weight_scale_shape(rule.weight_granularity, n, k), qw.scales);
  if (runs_compiled_host_kernels(w.device()) && host_kernels_support(rule)) out.host_packed = pack_for_host(out, rule);
  if (!w.device().is_host()) {
    const auto driver = w.driver();
    out.q = out.q.to(w.device(), driver);
    out.scales = out.scales.to(w.device(), driver);
  }
  return out;
}

QuantizedWeight quantize_weight(const Tensor& w, const Rule& rule) { return quantize_weight(w, rule.resolve()); }

// Pre-quantized codes and scales, checked as the static activation scale is: what a
// quantizer of DESIGN.md section 5 writes, and nothing else. An int8 -128 (never written:
// codes are clamped to ±127) breaks the K bound's overflow guarantee, and the devices would
// differ; an fp8 NaN or Inf code (satfinite never writes one) and a scale that is not finite
// and > 0 make every output of its row or block garbage.
void check_prequantized_values(const Tensor& q, const Tensor& scales, const ResolvedRule& rule) {
  const Tensor qh = q.to(Device::cpu()).contiguous();
  const auto* codes = static_cast<const std::uint8_t*>(qh.raw_data_ptr());
  const std::int64_t k = q.size(1);
  for (std::int64_t i = 0; i < qh.numel(); ++i) {
    const std::uint8_t c = codes[i];
    const bool bad = rule.weight == QType::kInt8       ? c == 0x80
                     : rule.weight == QType::kE4M3 ? (c & 0x7f) == 0x7f
                                                      : (c & 0x7c) == 0x7c;
    if (bad) {
      QJIT_THROW(kSub, "pre-quantized {} weights: the code at [{}, {}] is {}, which no quantizer writes ({})",
                 qtype_name(rule.weight), i / k, i % k,
                 rule.weight == QType::kInt8 ? std::string("-128") : fmt::format("0x{:02x}", c),
                 rule.weight == QType::kInt8 ? "int8 codes are -127..127" : "fp8 codes are finite");
    }
  }
  const std::vector<float> sv = scales.to_f32_vector();
  for (std::size_t i = 0; i < sv.size(); ++i) {
    QJIT_CHECK_GEN(kSub, std::isfinite(sv[i]) && sv[i] > 0,
                   "weight scale {} of {} is {}: scales must be finite and > 0", i, sv.size(), sv[i]);
  }
}

QuantizedWeight quantized_weight_from(const Tensor& q, const Tensor& scales, const ResolvedRule& rule) {
  check_quantizes(rule);
  QJIT_CHECK_GEN(kSub, q.defined(), "pre-quantized weights: an undefined tensor");
  const DType want = qtype_storage(rule.weight);
  QJIT_CHECK_GEN(kSub, q.dtype() == want,
                 "rule '{}' quantizes weights to {}: pre-quantized weights must be {} (safetensors {}), got {}",
                 rule.label, qtype_name(rule.weight), dtype_name(want), safetensors_dtype_name(want), q.describe());
  check_weight_shape(q, "pre-quantized weights");
  const std::int64_t n = q.size(0), k = q.size(1);
  const std::vector<std::int64_t> logical = weight_scale_shape(rule.weight_granularity, n, k);
  const std::string_view g = granularity_name(rule.weight_granularity);
  QJIT_CHECK_GEN(kSub, scales.defined() && scales.dtype() == DType::kF32,
                 "weight scales must be f32 (rule '{}': {} scales {}), got {}", rule.label, g, shape_str(logical),
                 describe(scales));
  // The layouts vLLM and LightX2V store besides the logical one.
  std::vector<std::vector<std::int64_t>> accepted = {logical};
  if (rule.weight_granularity == Granularity::kPerChannel) accepted.push_back({n, 1});
  if (rule.weight_granularity == Granularity::kPerTensor) accepted.insert(accepted.end(), {{}, {1, 1}});
  bool ok = false;
  for (const auto& s : accepted) ok = ok || scales.shape() == s;
  QJIT_CHECK_GEN(kSub, ok, "weight scales {} do not fit rule '{}': {} scales of weights [{}, {}] are {}",
                 scales.describe(), rule.label, g, n, k, shape_str(logical));
  check_prequantized_values(q, scales, rule);
  QuantizedWeight out;
  out.qtype = rule.weight;
  out.granularity = rule.weight_granularity;
  out.q = q;
  out.scales = scales.contiguous().reshape(logical);
  if (runs_compiled_host_kernels(q.device()) && host_kernels_support(rule)) out.host_packed = pack_for_host(out, rule);
  return out;
}

Tensor linear_forward(const Tensor& x, const QuantizedWeight& w, const ResolvedRule& rule, const LinearOptions& o,
                      LinearTrace* trace) {
  check_linear(x, w.q, rule, o);
  QJIT_CHECK_GEN(kSub, w.qtype == rule.weight && w.granularity == rule.weight_granularity,
                 "the weights were quantized {} {}, rule '{}' wants {} {}", qtype_name(w.qtype),
                 granularity_name(w.granularity), rule.label, qtype_name(rule.weight),
                 granularity_name(rule.weight_granularity));
  QJIT_CHECK_GEN(kSub, w.q.dtype() == qtype_storage(w.qtype), "{} weights hold {}", qtype_name(w.qtype),
                 w.q.describe());
  const auto logical = weight_scale_shape(w.granularity, w.n(), w.k());
  QJIT_CHECK_GEN(kSub, w.scales.defined() && w.scales.dtype() == DType::kF32 && w.scales.shape() == logical,
                 "{} weight scales must be f32 {}, got {}", granularity_name(w.granularity), shape_str(logical),
                 describe(w.scales));
  const GemmFamily family = linear_family(rule);
  if (trace) {
    trace->family = family;
    trace->device = x.device().str();
    trace->arch = x.device().is_host() ? "" : target_arch(*x.driver()).str();
    trace->steps.clear();
  }
  Tensor y;
  if (runs_compiled_host_kernels(x.device()) && host_kernels_support(rule, x.dtype())) {
    const std::int64_t k = x.size(-1);
    y = host_linear_forward(x.reshape({k == 0 ? 0 : x.numel() / k, k}), w, rule, o, out_dtype_of(rule, o), trace);
  } else if (x.device().is_host()) {
    y = on_host_device(run_reference(x, w, rule, o, family, trace), x.device());
    if (trace && runs_compiled_host_kernels(x.device())) {
      trace->steps.back() += fmt::format(" (the cpu device has no kernels for {} on {} activations)",
                                         reference::gemm_family_name(family), dtype_name(x.dtype()));
    }
  } else {
    y = run_device(x, w, rule, o, family, trace);
  }
  std::vector<std::int64_t> shape(x.shape().begin(), x.shape().end() - 1);
  shape.push_back(w.n());
  return y.view(shape);
}

Tensor linear_forward(const Tensor& x, const QuantizedWeight& w, const Rule& rule, const LinearOptions& o,
                      LinearTrace* trace) {
  return linear_forward(x, w, rule.resolve(), o, trace);
}

QuantizedActivations quantize_linear_input(const Tensor& x, const ResolvedRule& rule,
                                           const std::optional<Tensor>& act_scale) {
  const GemmFamily family = linear_family(rule);
  QJIT_CHECK_GEN(kSub, family != GemmFamily::kWeightOnly,
                 "rule '{}' is weight-only (act none): the input is not quantized", rule.label);
  QJIT_CHECK_GEN(kSub, x.defined() && x.dim() >= 1 && is_high_precision(x.dtype()),
                 "the input must be an f32, f16 or bf16 tensor [..., K], got {}", describe(x));
  QJIT_CHECK_GEN(kSub, !rule.act_static_scale || act_scale.has_value(),
                 "rule '{}' has a static activation scale: give it", rule.label);
  const HostRows h = host_rows(x);
  const reference::QuantizedActs qa = reference_acts(h.view, rule, act_scale);
  QuantizedActivations out;
  out.q = Tensor::from_raw({qa.rows, qa.cols}, qtype_storage(qa.qtype), qa.q.data());
  std::vector<std::int64_t> scale_shape = {static_cast<std::int64_t>(qa.scales.size())};
  if (qa.granularity == Granularity::kGroup128) {
    scale_shape = {qa.rows, (qa.cols + reference::kGroupSize - 1) / reference::kGroupSize};
  }
  out.scales = Tensor::from_vector<float>(scale_shape, qa.scales);
  return out;
}

}  // namespace qjit
