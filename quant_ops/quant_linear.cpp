#include "quant_ops/quant_linear.hpp"

#include <cmath>

#include "common/error.hpp"
#include "quant_ops/qgemm.hpp"
#include "quant_ops/reference/quantize_value.hpp"
#include "quant_ops/reference/weight_quant.hpp"
#include "runtime/kernels.hpp"

namespace qjit {

namespace {

constexpr const char* kSub = "QuantLinear";

reference::Activation activation_of(bool gelu_tanh) {
  return gelu_tanh ? reference::Activation::kGeluTanh : reference::Activation::kNone;
}

LinearOptions options_of(const std::optional<Tensor>& bias, bool gelu_tanh, const std::optional<Tensor>& act_scale) {
  LinearOptions o;
  o.bias = bias;
  o.activation = activation_of(gelu_tanh);
  o.act_scale = act_scale;
  return o;
}

// The dtype forward hands linear_forward for an input of `x_dtype` (see forward()).
DType input_dtype(const ResolvedRule& rule, DType x_dtype, DType high_precision) {
  return rule.weight_only() && x_dtype == DType::kF32 ? high_precision : x_dtype;
}

LinearProblem problem_of(std::int64_t m, std::int64_t n, std::int64_t k, DType x_dtype,
                         const std::optional<Tensor>& bias, bool gelu_tanh) {
  LinearProblem p;
  p.m = m, p.n = n, p.k = k;
  p.x_dtype = x_dtype;
  if (bias) p.bias = bias->dtype();
  p.activation = activation_of(gelu_tanh);
  return p;
}

}  // namespace

void QuantLinear::check(const Linear& linear, const ResolvedRule& rule, const std::optional<Tensor>& act_scale) {
  linear_family(rule);  // throws for a rule that keeps the layer (weight none)
  const Tensor& w = linear.weight();
  QJIT_CHECK_GEN(kSub, !rule.weight_only() || w.dtype() != DType::kF32,
                 "rule '{}' is weight-only (act none): its GEMM runs on f16 / bf16 activations, but the layer's "
                 "weights {} are f32 (a model feeds a layer activations of its weights' dtype)",
                 rule.label, w.describe());
  // NOTE: check_linear reads only the input's dtype and K: a zero-row cpu tensor stands for
  // what forward will be fed, without touching the weights' device.
  check_linear(Tensor::zeros({0, linear.in_features()}, w.dtype()), w, rule,
               options_of(linear.bias(), linear.gelu_tanh(), act_scale));
  if (w.device().is_host()) return;
  const jit::Arch arch = target_arch(*w.driver());
  std::string why;
  QJIT_CHECK_GEN(kSub, linear_arch_support(rule, arch, &why), "{} (the layer's weights are on {})", why,
                 w.device().str());
  linear_kernels(rule, problem_of(1, w.size(0), w.size(1), w.dtype(), linear.bias(), linear.gelu_tanh()), arch);
}

std::shared_ptr<QuantLinear> QuantLinear::from(const Linear& linear, const ResolvedRule& rule,
                                               const std::optional<Tensor>& act_scale) {
  check(linear, rule, act_scale);
  const Tensor& w = linear.weight();
  std::optional<Tensor> scale;
  if (act_scale) {
    // NOTE: on the weights' device once, so a static-scale GEMM copies nothing per call.
    const Tensor s = act_scale->to(Device::cpu()).contiguous().reshape({1});
    scale = w.device().is_host() ? s : s.to(w.device(), w.driver());
  }
  return std::make_shared<QuantLinear>(quantize_weight(w, rule), linear.bias(), rule, linear.gelu_tanh(),
                                       std::move(scale), w.dtype());
}

QuantLinear::QuantLinear(QuantizedWeight weight, std::optional<Tensor> bias, ResolvedRule rule, bool gelu_tanh,
                         std::optional<Tensor> act_scale, DType high_precision)
    : weight_(std::move(weight)),
      bias_(std::move(bias)),
      rule_(std::move(rule)),
      gelu_tanh_(gelu_tanh),
      act_scale_(std::move(act_scale)),
      high_precision_(high_precision) {
  linear_family(rule_);  // throws for weight none
  QJIT_CHECK_GEN(kSub, weight_.q.defined() && weight_.q.dim() == 2 && weight_.scales.defined(),
                 "the quantized weights must be [N, K] codes with their scales");
  QJIT_CHECK_GEN(kSub, weight_.qtype == rule_.weight && weight_.granularity == rule_.weight_granularity,
                 "the weights were quantized {} {}, rule '{}' wants {} {}", qtype_name(weight_.qtype),
                 granularity_name(weight_.granularity), rule_.label, qtype_name(rule_.weight),
                 granularity_name(rule_.weight_granularity));
  QJIT_CHECK_GEN(kSub, high_precision_ == DType::kF32 || high_precision_ == DType::kF16 || high_precision_ == DType::kBF16,
                 "the high-precision dtype must be f32, f16 or bf16, got {}", dtype_name(high_precision_));
  QJIT_CHECK_GEN(kSub, !rule_.weight_only() || high_precision_ != DType::kF32,
                 "rule '{}' is weight-only (act none): its activations are f16 / bf16, so the layer's "
                 "high-precision dtype cannot be f32",
                 rule_.label);
  QJIT_CHECK_GEN(kSub, rule_.act_static_scale == act_scale_.has_value(),
                 "rule '{}' {}: a static activation scale must be given exactly when the rule has "
                 "act_static_scale=true",
                 rule_.label, rule_.act_static_scale ? "has act_static_scale=true but no scale was given"
                                                     : "has no static activation scale but one was given");
  // NOTE: checked once here (and in set_act_scale): forward never reads it back.
  if (act_scale_) set_act_scale(*act_scale_);
}

void QuantLinear::set_act_scale(const Tensor& scale) {
  QJIT_CHECK_GEN(kSub, rule_.act_static_scale, "rule '{}' has no static activation scale to set", rule_.label);
  QJIT_CHECK_GEN(kSub, scale.defined() && scale.numel() == 1 && scale.dtype() == DType::kF32,
                 "a static activation scale is one f32 value, got {}", scale.defined() ? scale.describe() : "none");
  const Tensor s = scale.to(Device::cpu()).contiguous().reshape({1});
  const float v = s.item_f32(0);
  QJIT_CHECK_GEN(kSub, std::isfinite(v) && v > 0, "static activation scale {} must be finite and > 0", v);
  reference::static_scale(v);  // also rejects a subnormal scale, whose inverse overflows
  const Tensor& w = weight_.q;
  act_scale_ = w.device().is_host() ? s : s.to(w.device(), w.driver());
  act_scale_value_ = v;
}

LinearOptions QuantLinear::options() const {
  LinearOptions o = options_of(bias_, gelu_tanh_, act_scale_);
  o.memo = &gemm_plans_;
  o.weight_only_memo = &weight_only_plans_;
  return o;
}

Tensor QuantLinear::forward(const Tensor& x) {
  QJIT_CHECK_GEN(kSub, x.defined() && x.dim() >= 1 && x.size(-1) == in_features(),
                 "input must be [..., {}] (rule '{}', weights {}), got {}", in_features(), rule_.label,
                 weight_.q.describe(), x.defined() ? x.describe() : "an undefined tensor");
  const DType in = input_dtype(rule_, x.dtype(), high_precision_);
  return linear_forward(converted(x, in), weight_, rule_, options());
}

std::optional<InputQuantization> QuantLinear::input_quantization() const {
  const reference::GemmFamily family = linear_family(rule_);
  if (family != reference::GemmFamily::kInt8 && family != reference::GemmFamily::kFp8) return std::nullopt;
  const bool per_token = !rule_.act_static_scale && rule_.act_granularity == Granularity::kPerToken;
  if (!per_token && !rule_.act_static_scale) return std::nullopt;
  InputQuantization q;
  q.codes = qtype_storage(rule_.act);
  q.per_token = per_token;
  if (!per_token) {
    q.static_scale = act_scale_;
    q.static_scale_value = act_scale_value_;
  }
  return q;
}

Tensor QuantLinear::forward_input(const LinearInput& in) {
  if (!in.quantized()) return forward(in.x);
  const std::optional<InputQuantization> want = input_quantization();
  QJIT_CHECK_GEN(kSub, want && in.x.dtype() == want->codes && in.x.dim() == 2 && in.x.size(1) == in_features(),
                 "quantized input {} is not what rule '{}' asked for ([M, {}] {} codes)", in.x.describe(), rule_.label,
                 in_features(), want ? dtype_name(want->codes) : "no");
  QGemmOptions o;
  o.act_granularity = want->per_token ? Granularity::kPerToken : Granularity::kPerTensor;
  o.weight_granularity = weight_.granularity;
  o.bias = bias_;
  o.activation = activation_of(gelu_tanh_);
  o.out_dtype = rule_.out_dtype;
  o.memo = &gemm_plans_;
  return qgemm(in.x, *in.scales, weight_.q, weight_.scales, o);
}

LinearProblem QuantLinear::problem(std::int64_t m, DType x_dtype) const {
  return problem_of(m, out_features(), in_features(), input_dtype(rule_, x_dtype, high_precision_), bias_,
                    gelu_tanh_);
}

std::vector<KernelLaunch> QuantLinear::kernels(std::int64_t m, DType x_dtype, jit::Arch arch) const {
  return linear_kernels(rule_, problem(m, x_dtype), arch);
}

std::vector<KernelLaunch> QuantLinear::kernels(std::int64_t m, DType x_dtype) const {
  if (weight_.q.device().is_host()) return {};
  return kernels(m, x_dtype, target_arch(*weight_.q.driver()));
}

QuantLinear::WeightBytes QuantLinear::weight_bytes(const Linear& linear, const ResolvedRule& rule) {
  linear_family(rule);  // throws for weight none
  const std::int64_t n = linear.out_features(), k = linear.in_features();
  const auto blocks = [](std::int64_t v) { return (v + reference::kBlockSize - 1) / reference::kBlockSize; };
  const std::int64_t scales = rule.weight_granularity == Granularity::kPerChannel ? n
                              : rule.weight_granularity == Granularity::kPerTensor ? 1
                                                                                   : blocks(n) * blocks(k);
  WeightBytes b;
  b.before = n * k * static_cast<std::int64_t>(dtype_size(linear.weight().dtype()));
  b.after = n * k * static_cast<std::int64_t>(dtype_size(qtype_storage(rule.weight))) +
            scales * static_cast<std::int64_t>(sizeof(float));
  return b;
}

QuantLinear::WeightBytes QuantLinear::weight_bytes() const {
  WeightBytes b;
  b.before = weight_.n() * weight_.k() * static_cast<std::int64_t>(dtype_size(high_precision_));
  b.after = static_cast<std::int64_t>(weight_.q.nbytes() + weight_.scales.nbytes());
  return b;
}

}  // namespace qjit
