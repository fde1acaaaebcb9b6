#pragma once
// The norm + modulation op, Wan2.1's block input: y = norm(x) * (1 + scale) + shift, with
// norm LayerNorm (Wan's norm1 / norm2 without affine; norm3 with its weight, its bias passed
// as the shift and a zero scale) or RMSNorm times a weight (the q / k norms, with zero shift
// and scale), eps 1e-6 by default. cpu:ref runs the reference (norm_mod_reference.hpp, whose
// header defines the exact order of operations), cpu its compiled kernel (host_glue.hpp); sim and cuda launch the JIT-compiled
// norm_mod kernel (templates/impls/norm_mod.cuh). Every device gives bit-identical results.
// quant_ops/norm_mod.hpp adds the fused variant that emits the quantized activation.
// NOTE: RMSNorm here stays in fp32 up to the final rounding; Wan's WanRMSNorm rounds the
// normalized x to x's dtype before the weight multiply (type_as), a difference of one
// rounding that the end-to-end NMSE bounds, not the bits, would see.

#include <optional>

#include "jit/impls/norm_mod.hpp"
#include "runtime/kernels.hpp"
#include "runtime/linear_input.hpp"
#include "runtime/tensor.hpp"

namespace qjit {

using jit::impls::NormKind;  // LayerNorm or RMSNorm: the family's own vocabulary

struct NormModArgs {
  NormKind kind = NormKind::kLayerNorm;
  float eps = 1e-6f;                // finite, >= 0
  // RMSNorm: f32 [D], required. LayerNorm: f32 [D] when it is affine (Wan's norm3), else none.
  std::optional<Tensor> weight{};
  // f32 [D] shared by every row, or [B, D]: Wan's per-batch modulation ([B, 1, D] there), row
  // m of x taking batch element m / (M / B); B must divide the number of rows M.
  Tensor shift{};
  Tensor scale{};                   // the same shape as shift
  KernelMemo* memo = nullptr;       // the call site's resolved kernels (runtime/kernels.hpp)
};

// x: [M, D] (or [..., D], flattened to rows) f32/f16/bf16. out: f32, f16 or bf16. Returns y
// [M, D] of out on x's device. The parameters may be on cpu or on x's device. Throws
// qjit::Error naming the problem before any work.
Tensor norm_modulate(const Tensor& x, const NormModArgs& args, DType out);

/// The norm + modulation feeding a linear layer: y rounded to `round_to` as rows [M, D], or,
/// on sim / cuda when the layer asks for it (`want`, from LinearLayer::input_quantization),
/// y rounded to `round_to` and quantized by the same kernel — exactly the codes and scales the
/// layer's own quantization of the float rows would give (quant_ops/norm_mod.hpp's
/// norm_modulate_quantized is the op it equals). The cpu always returns float rows: there the
/// layer's separate quantization is the reference.
LinearInput norm_modulate_for(const Tensor& x, const NormModArgs& args, DType round_to,
                              const std::optional<InputQuantization>& want);

}  // namespace qjit
