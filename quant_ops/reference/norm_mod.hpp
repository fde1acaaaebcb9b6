#pragma once
// Reference norm + AdaLN modulation (Wan2.1's block input): y = norm(x) * (1 + scale) + shift
// on rows [M, D] of f32, f16 or bf16 in host memory, fp32 throughout, each operation rounded
// once (no fused multiply-add), in the order the device kernel (templates/impls/norm_mod.cuh)
// uses, so every device is bit-identical to it:
//   sum(v)    32 partial sums, partial l = v[l] + v[l + 32] + ... left to right (from 0.0f),
//             then partial 0 + partial 1 + ... + partial 31 left to right.
//   LayerNorm (no affine): mean = sum(x) / D; var = sum((x - mean)^2) / D;
//             rstd = 1 / sqrt(var + eps) (IEEE sqrt and division); n = (x - mean) * rstd.
//   RMSNorm:  ms = sum(x * x) / D; rstd = 1 / sqrt(ms + eps); n = (x * rstd) * weight.
//   y = n * (1 + scale) + shift, then rounded to the output dtype.
// NOTE: the 32-way order is a deliberate choice over a plain left-to-right sum: it is the
// order a warp sums in, so the kernel matches the reference bit for bit at any D.

#include <cstdint>
#include <vector>

#include "quant_ops/reference/act_quant.hpp"

namespace qjit::reference {

enum class NormKind { kLayerNorm, kRmsNorm };

/// The norm's parameters. weight: RMSNorm's [D] (empty for LayerNorm); shift, scale: [D].
/// NOTE: Wan's modulation has one shift / scale per batch element; these are one batch's.
struct NormModParams {
  NormKind kind = NormKind::kLayerNorm;
  float eps = 1e-6f;
  const float* weight = nullptr;
  const float* shift = nullptr;
  const float* scale = nullptr;
};

/// The 32-way ordered sum above, of v[0, n).
float ordered_sum(const float* v, std::int64_t n);

/// y of every element in fp32 (before rounding), dense [rows, cols]. Throws qjit::Error on a
/// bad view or missing parameters.
std::vector<float> norm_mod_f32(const ActView& x, const NormModParams& p);

/// y rounded to out (f32, f16 or bf16): dense [rows, cols]; f32 as floats, f16 and bf16 as
/// bit patterns in raw (rows * cols * dtype size bytes).
std::vector<std::uint8_t> norm_mod(const ActView& x, const NormModParams& p, DType out);

}  // namespace qjit::reference
