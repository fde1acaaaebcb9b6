#pragma once
// Reference norm + AdaLN modulation (Wan2.1's block input, runtime/ops/norm_mod.hpp):
// y = norm(x) * (1 + scale) + shift on rows [M, D] of f32, f16 or bf16, fp32 throughout,
// each operation rounded once (no fused multiply-add; the project compiles with
// -ffp-contract=off), in the order the device kernel (templates/impls/norm_mod.cuh) uses, so
// every device is bit-identical to it:
//   sum(v)    32 partial sums, partial l = v[l] + v[l + 32] + ... left to right (from 0.0f),
//             then partial 0 + partial 1 + ... + partial 31 left to right.
//   LayerNorm: mean = sum(x) / D; var = sum((x - mean)^2) / D;
//             rstd = 1 / sqrt(var + eps) (IEEE sqrt and division); n = (x - mean) * rstd,
//             then n = n * weight when it is affine (Wan's norm3; its bias is the shift).
//   RMSNorm:  ms = sum(x * x) / D; rstd = 1 / sqrt(ms + eps); n = (x * rstd) * weight.
//   y = n * (1 + scale) + shift, then rounded to the output dtype; shift and scale of row m
//   are those of batch element m / (M / B) when they are [B, D].
// NOTE: the 32-way order is a deliberate choice over a plain left-to-right sum: it is the
// order a warp sums in, so the kernel matches the reference bit for bit at any D. It lives in
// runtime/ (not quant_ops/reference) because the model's forward, in runtime, runs it on the
// cpu; quant_ops' fused quantized output composes it with the quantization reference.

#include <cstdint>

#include "runtime/ops/norm_mod.hpp"
#include "runtime/tensor.hpp"

namespace qjit::ops {

/// The 32-way ordered sum above, of v[0, n).
float ordered_sum(const float* v, std::int64_t n);

/// y [M, D] rounded to out (f32, f16 or bf16), a contiguous cpu tensor, for x [M, D] on the
/// cpu (any row stride, unit stride along D) and the parameters (any device; copied to the
/// cpu). The caller validates (norm_modulate does).
Tensor norm_mod_reference(const Tensor& x2d, const NormModArgs& args, DType out);

}  // namespace qjit::ops
