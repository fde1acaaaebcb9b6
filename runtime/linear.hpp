#pragma once
// Linear layers: the interface models call (LinearLayer: y = act(x · W^T + b) on x [..., K])
// and the unquantized implementation (Linear), which runs the float GEMM of runtime/ops on
// x's device. Rule::apply puts QuantLinear (quant_ops/) in place of Linear through this
// interface, so the runtime never knows about quantization (DESIGN.md section 6).

#include <cstdint>
#include <optional>
#include <string>

#include "runtime/linear_input.hpp"
#include "runtime/module.hpp"
#include "runtime/ops/gemm.hpp"
#include "runtime/tensor.hpp"

namespace qjit {

class LinearLayer : public Module {
 public:
  /// y [..., N] for x [..., K]: the leading dimensions are flattened to rows and restored.
  virtual Tensor forward(const Tensor& x) = 0;
  virtual std::int64_t in_features() const = 0;   // K
  virtual std::int64_t out_features() const = 0;  // N
  /// Whether GELU-tanh follows the bias inside the layer (a fused epilogue: Wan's ffn.0).
  virtual bool gelu_tanh() const = 0;

  /// The form this layer wants its input in when a glue op produces it (norm + modulation,
  /// runtime/ops/norm_mod.hpp's norm_modulate_for): quantized codes and scales, or float rows
  /// (nullopt, the default). A request, not a promise: the producer may hand floats (the cpu
  /// does: there the separate quantization is the reference).
  virtual std::optional<InputQuantization> input_quantization() const { return std::nullopt; }
  /// y [M, N] for an input a glue op produced: float rows go to forward(); codes (only in the
  /// form input_quantization() asked for) to the layer's GEMM directly.
  virtual Tensor forward_input(const LinearInput& in) { return forward(in.x); }
};

/// y = act(x · weight^T + bias) with weight [N, K] and bias [N] in high precision (bf16 or
/// f16 on every device; f32 on the cpu), the output in x's dtype.
class Linear final : public LinearLayer {
 public:
  /// Throws qjit::Error naming the problem: weight not [N, K] f32/f16/bf16, bias not [N]
  /// f32/f16/bf16.
  explicit Linear(Tensor weight, std::optional<Tensor> bias = std::nullopt, bool gelu_tanh = false);

  std::string type_name() const override { return "Linear"; }
  Tensor forward(const Tensor& x) override;
  std::int64_t in_features() const override { return weight_.size(1); }
  std::int64_t out_features() const override { return weight_.size(0); }
  bool gelu_tanh() const override { return gelu_tanh_; }

  const Tensor& weight() const { return weight_; }
  const std::optional<Tensor>& bias() const { return bias_; }
  /// Moves the parameters to `device` once, so forward copies nothing per call.
  void to(const Device& device);

 private:
  Tensor weight_;
  std::optional<Tensor> bias_;
  bool gelu_tanh_ = false;
  // The kernels this layer resolved, per M bucket and dtypes: forward builds no spec.
  PlanMemo<GemmPlan> plans_;
  // The weights in the cpu kernel's layout, packed on the first forward there.
  std::shared_ptr<const HostBf16Weight> host_weight_;
  std::shared_ptr<const HostF32Weight> host_weight_f32_;  // f16 / f32 weights
};

/// x [..., K] as rows [M, K] (a view when the layout allows, else a copy), and back:
/// y [M, N] as [..., N] with x's leading dimensions. For every LinearLayer.
Tensor flatten_rows(const Tensor& x, const char* layer);
/// x converted to `dtype` on x's device: what a layer does to an input of another dtype than
/// its GEMM takes. Conversions run on the host, so a device tensor takes a round trip (in Wan
/// only the time embedding's small f32 rows do).
Tensor converted(const Tensor& x, DType dtype);
Tensor unflatten_rows(const Tensor& y, const Tensor& x);

}  // namespace qjit
