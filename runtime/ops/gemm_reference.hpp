#pragma once
// The reference of the unquantized GEMM (runtime/ops/gemm.hpp), what the `cpu` device runs:
// plain C++ in which every operation is one IEEE fp32 rounding (the project compiles with
// -ffp-contract=off), the unquantized counterpart of quant_ops/reference's weight-only
// family:
//   x, w, bias  widened exactly to f32 (bf16/f16 -> f32 of float_convert.hpp)
//   acc[m, n] = sequential fp32 sum k = 0..K-1 of x[m, k] * w[n, k], from +0
//               (a bf16 x bf16 or f16 x f16 product is exact in fp32; f32 x f32 rounds once)
//   y = acc + bias[n]      one rounding (+0 without bias: the reference's fmaf(acc, 1, bias))
//   y = gelu_tanh(y)       optional
//   out = round(y)         RNE to bf16 / f16, or f32 as is
// NOTE: it lives in runtime/ because runtime's Linear calls gemm() on the cpu and runtime
// never includes quant_ops (DESIGN.md section 6); tests/quant_ops/gemm_float_reference_test.cpp
// checks it against quant_ops/reference (epilogue and weight-only family) bit for bit.

#include <optional>

#include "runtime/tensor.hpp"

namespace qjit::ops {

/// GELU with the tanh approximation in fp32, operation for operation as
/// quant_ops/reference/epilogue.hpp's gelu_tanh:
///   u = (kSqrt2OverPi * (y + (0.044715f * ((y * y) * y))));  gelu = (0.5f * y) * (1 + tanh(u)).
float gelu_tanh_reference(float y);

/// The reference GEMM on cpu tensors: x [M, K] and w [N, K] of one dtype (f32, f16 or bf16;
/// any strides), bias [N] (f32, f16 or bf16) or none, out f32, f16 or bf16. Returns a
/// contiguous cpu [M, N] tensor of `out`. The caller validates (gemm() does).
Tensor gemm_reference(const Tensor& x, const Tensor& w, const std::optional<Tensor>& bias, bool gelu_tanh, DType out);

}  // namespace qjit::ops
