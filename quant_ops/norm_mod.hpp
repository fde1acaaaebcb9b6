#pragma once
// The norm + modulation op, Wan2.1's block input: y = norm(x) * (1 + scale) + shift, with
// norm LayerNorm without affine (Wan's norm1 / norm2 / norm3, elementwise_affine=False) or
// RMSNorm times a weight, eps 1e-6 by default. cpu runs the reference
// (quant_ops/reference/norm_mod.hpp, whose header defines the exact order of operations);
// sim and cuda launch the JIT-compiled norm_mod kernel (templates/impls/norm_mod.cuh). Every
// device gives bit-identical results.
//
// Fused quantized output (no separate activation-quantization pass): the codes and scales of
//   quantize_activations(norm_modulate(x, ..., round_to), qtype, mode, static_scale)
// bit for bit, i.e. y is rounded to `round_to` (the float dtype the separate path would
// write, bf16 in Wan) before it is quantized; mode is dynamic per-token or static per-tensor.
// NOTE: RMSNorm here stays in fp32 up to the final rounding; Wan's WanRMSNorm rounds the
// normalized x to x's dtype before the weight multiply (type_as), a difference of one
// rounding that the end-to-end NMSE bounds, not the bits, would see.

#include <optional>

#include "quant_ops/act_quant.hpp"
#include "runtime/tensor.hpp"

namespace qjit {

enum class NormKind { kLayerNorm, kRmsNorm };

struct NormModArgs {
  NormKind kind = NormKind::kLayerNorm;
  float eps = 1e-6f;              // finite, >= 0
  std::optional<Tensor> weight;   // RMSNorm: f32 [D]; LayerNorm: none
  Tensor shift;                   // f32 [D]
  Tensor scale;                   // f32 [D]
  // NOTE: Wan's modulation has one shift / scale per batch element ([B, 1, D]); callers run
  // one batch element at a time (or pass [D] shared by all rows).
};

// x: [M, D] (or [..., D], flattened to rows) f32/f16/bf16, unit stride along D. out: f32,
// f16 or bf16. Returns y [M, D] of out on x's device. The [D] parameters may be on cpu or on
// x's device.
Tensor norm_modulate(const Tensor& x, const NormModArgs& args, DType out);

// The fused path: y rounded to round_to (f32, f16, bf16), quantized to qtype with mode
// kDynamicPerToken (scales [M]) or kStaticPerTensor (static_scale: one f32, finite, > 0).
QuantizedActivations norm_modulate_quantized(const Tensor& x, const NormModArgs& args, DType round_to, QType qtype,
                                             ActScale mode, const std::optional<Tensor>& static_scale = std::nullopt);

}  // namespace qjit
