#pragma once
// The norm + modulation op with a fused quantized output (no separate activation-quantization
// pass), as LightX2V and vLLM fuse it before a quantized linear: the codes and scales of
//   quantize_activations(norm_modulate(x, ..., round_to), qtype, mode, static_scale)
// bit for bit, i.e. y is rounded to `round_to` (the float dtype the separate path would
// write, bf16 in Wan) before it is quantized; mode is dynamic per-token or static per-tensor.
// The float op and its parameters: runtime/ops/norm_mod.hpp. cpu runs the reference
// composition; sim and cuda the same norm_mod kernel with its quantized output.

#include <optional>

#include "quant_ops/act_quant.hpp"
#include "runtime/ops/norm_mod.hpp"
#include "runtime/tensor.hpp"

namespace qjit {

// The fused path: y rounded to round_to (f32, f16, bf16), quantized to qtype with mode
// kDynamicPerToken (scales [M]) or kStaticPerTensor (static_scale: one f32, finite, > 0).
QuantizedActivations norm_modulate_quantized(const Tensor& x, const NormModArgs& args, DType round_to, QType qtype,
                                             ActScale mode, const std::optional<Tensor>& static_scale = std::nullopt);

}  // namespace qjit
