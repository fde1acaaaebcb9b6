#pragma once
// The activation-quantization op: validates, then dispatches — cpu runs the reference,
// cuda and sim launch the JIT-compiled act_quant kernels (templates/impls/act_quant.cuh).
// Numerics: DESIGN.md section 5; every device gives bit-identical results.

#include <optional>

#include "quant_ops/qtype.hpp"
#include "runtime/tensor.hpp"

namespace qjit {

enum class ActScale {
  kDynamicPerToken,   // one scale per row, computed from the row
  kStaticPerTensor,   // one given (calibrated) scale
  kDynamicPerTensor,  // one scale computed from the whole tensor (any NaN/Inf: all outputs NaN)
  kDynamicGroup128,   // one scale per 1x128 group along K (the last group of a row may be partial)
};

struct QuantizedActivations {
  Tensor q;       // [M, K] int8 or fp8 codes, on x's device
  Tensor scales;  // f32: [M] (per-token), [1] (per-tensor; static: the given scale) or
                  // [M, ceil(K/128)] row-major (group128)
};

// x: [M, K] (or [..., K], flattened to rows) f32/f16/bf16 with unit stride along K.
// static_scale: a 1-element f32 tensor on x's device (or on cpu), finite and > 0; given with
// kStaticPerTensor only.
/// A static activation scale checked as DESIGN.md section 5 wants it: one f32 value, finite,
/// > 0, with a finite inverse. The value is read (and returned) when the scale is on the cpu
/// or `need_value` asks for it; a device-resident scale is otherwise not read, since that
/// would synchronize the host on every call — whoever placed it on the device checked it
/// (QuantLinear::set_act_scale). Returns NaN when the value was not read. Throws qjit::Error
/// (subsystem `sub`).
float check_static_scale(const Tensor& s, const char* sub, bool need_value = false);

QuantizedActivations quantize_activations(const Tensor& x, QType qtype, ActScale mode,
                                          const std::optional<Tensor>& static_scale = std::nullopt);

// The group128 pass that feeds the block-fp8 GEMM (quant_ops/qgemm.cpp): the codes of
// quantize_activations(x, qtype, kDynamicGroup128), bit for bit, with the scales in the
// GEMM's internal K-major layout [ceil(K/128), jit::impls::group_scales_ld(M)] (the padding
// rows past M are not written). x on sim or cuda. NOTE: internal to the ops; interfaces
// (quantize_activations, qjit linear --dump-quantized, checkpoints) keep the logical layout
// (DESIGN.md section 5).
QuantizedActivations quantize_group128_k_major(const Tensor& x, QType qtype);

}  // namespace qjit
