#pragma once
// QuantLinear: a linear layer under a quantization rule, what Rule::apply puts in place of
// runtime's Linear (DESIGN.md section 6). It holds the weights quantized once (on the device
// the Linear's weights were on), the bias, the rule, the GELU flag and the static activation
// scale when the rule has one; forward is linear_forward (quant_ops/linear.hpp), so a
// QuantLinear gives the op's bits on every device. Its kernels are the ones linear_kernels
// names for its shapes on the device's arch; the ops' kernel caches fetch them on the first
// call (JIT or disk cache), never at construction.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "quant_ops/kernel_launch.hpp"
#include "quant_ops/linear.hpp"
#include "quant_ops/rule.hpp"
#include "runtime/linear.hpp"

namespace qjit {

class QuantLinear final : public LinearLayer {
 public:
  /// The Linear quantized under `rule` (quantize_weight on the Linear's device), keeping its
  /// bias and GELU. `act_scale` (one f32 value, finite, > 0) is required exactly when the
  /// rule has act_static_scale; it is copied to the weights' device once. Throws qjit::Error
  /// (check()) before quantizing anything.
  static std::shared_ptr<QuantLinear> from(const Linear& linear, const ResolvedRule& rule,
                                           const std::optional<Tensor>& act_scale = std::nullopt);

  /// Everything from() checks, without quantizing: the rule quantizes; the Linear's shapes
  /// (N, K positive multiples of 16, the int8 K bound), bias and the static scale, as
  /// check_linear sees them for the inputs forward feeds (the Linear's weight dtype); a
  /// weight-only rule needs f16 / bf16 weights (its GEMM runs on activations of that dtype);
  /// on sim / cuda the rule's family on the weights' device arch (linear_arch_support) and
  /// the kernels of a call (linear_kernels). Throws qjit::Error naming the problem (callers
  /// add the layer's path).
  static void check(const Linear& linear, const ResolvedRule& rule, const std::optional<Tensor>& act_scale);

  /// From parts: `weight` quantized under `rule`, `bias` [N] as Linear takes it;
  /// `high_precision` is the dtype the layer's weights had (f32, f16 or bf16): what
  /// weight_bytes().before counts and what a weight-only layer converts f32 inputs to.
  QuantLinear(QuantizedWeight weight, std::optional<Tensor> bias, ResolvedRule rule, bool gelu_tanh,
              std::optional<Tensor> act_scale, DType high_precision);

  std::string type_name() const override { return "QuantLinear"; }
  /// y [..., N] = linear_forward(x, weight(), rule(), options()) on x's device, with one
  /// conversion: a weight-only layer (whose GEMM takes f16 / bf16 activations) converts an
  /// f32 x to its high-precision dtype first, as Linear converts x to its weights' dtype.
  /// NOTE: the output dtype is the rule's out_dtype (default bf16), where Linear answers in
  /// x's dtype: the rule says what the layer produces.
  Tensor forward(const Tensor& x) override;
  std::int64_t in_features() const override { return weight_.k(); }
  std::int64_t out_features() const override { return weight_.n(); }
  bool gelu_tanh() const override { return gelu_tanh_; }
  /// W8A8 int8 / fp8 rules with per-token dynamic or static per-tensor activation scales ask
  /// the glue op before them for their input quantized (the rule's act qtype; the static
  /// scale is the layer's); every other rule (weight-only, group128, dynamic per-tensor)
  /// takes float rows.
  std::optional<InputQuantization> input_quantization() const override;
  /// Codes go straight to qgemm with the layer's weights (no quantization pass): the bits
  /// forward() gives on the float rows they were quantized from. Float rows: forward().
  Tensor forward_input(const LinearInput& in) override;

  const QuantizedWeight& weight() const { return weight_; }
  const std::optional<Tensor>& bias() const { return bias_; }
  const ResolvedRule& rule() const { return rule_; }
  const std::optional<Tensor>& act_scale() const { return act_scale_; }
  /// Replaces the static activation scale (one f32 value, finite, > 0, with a finite
  /// inverse), copied to the weights' device: what per-timestep scales switch between steps.
  /// Throws qjit::Error naming the rule when it has no static scale, or the value.
  void set_act_scale(const Tensor& scale);
  DType high_precision() const { return high_precision_; }
  /// What forward hands linear_forward besides x and the weights.
  LinearOptions options() const;

  /// The linear_kernels problem of a forward on `m` rows of `x_dtype` (after forward's
  /// conversion), and the kernel launches it runs on a device of `arch`, in launch order.
  LinearProblem problem(std::int64_t m, DType x_dtype) const;
  std::vector<KernelLaunch> kernels(std::int64_t m, DType x_dtype, jit::Arch arch) const;
  /// kernels() for the arch of the device the weights live on; empty on the cpu, which runs
  /// the reference.
  std::vector<KernelLaunch> kernels(std::int64_t m, DType x_dtype) const;

  struct WeightBytes {
    std::int64_t before = 0;  // N * K in the high-precision dtype
    std::int64_t after = 0;   // the codes plus their f32 scales
  };
  /// Memory of the weight matrix before and after quantization (the bias is unchanged and
  /// not counted).
  WeightBytes weight_bytes() const;
  /// What weight_bytes() of QuantLinear::from(linear, rule) will be, from the shapes alone
  /// (for reports that quantize nothing). `rule` must quantize.
  static WeightBytes weight_bytes(const Linear& linear, const ResolvedRule& rule);

 private:
  QuantizedWeight weight_;
  std::optional<Tensor> bias_;
  ResolvedRule rule_;
  bool gelu_tanh_ = false;
  std::optional<Tensor> act_scale_;
  float act_scale_value_ = 0;  // act_scale_ on the host, read once where it was set
  DType high_precision_ = DType::kBF16;
  // The kernels this layer resolved, per M bucket and input kind: forward launches them
  // without building a spec (mutable: a cache, not state that changes what forward does).
  mutable PlanMemo<QGemmPlan> gemm_plans_;
  mutable PlanMemo<WeightOnlyPlan> weight_only_plans_;
};

}  // namespace qjit
