#pragma once
// Host kernel of the norm + modulation for the cpu device (the CUDA one:
// templates/impls/norm_mod.cuh; the order of operations: runtime/ops/norm_mod_reference.hpp):
// y = norm(x) * (1 + scale) + shift per row, LayerNorm (kAffine: times a weight) or RMSNorm
// times a weight, each f32 operation rounded once (-ffp-contract=off, no reassociation), the
// row sums in the reference's 32 ordered lanes (lane l sums elements l, l + 32, ... left to
// right; then lanes 0..31 left to right), kept as two 16-lane vectors (lane-wise adds: the
// same order on every ISA; the portable path lowers them to SSE): the reference's bits on
// every ISA, up to NaN payloads (any NaN is the reference's NaN, as on the GPU kernels). A
// grid block takes kRows rows.
//
// Config (QjitConfig): kIsa, kKind (0 LayerNorm, 1 RMSNorm), kAffine, kIn, kOut, kRows.

#include "host/types.h"

namespace qjit::host {

// Parameters of the entry (jit/impls/norm_mod.hpp: NormModParams, shared with CUDA; `scales`
// is the CUDA kernel's quantized output and unused here).
struct NormModArgs {
  const void* x;
  i64 x_row_stride;
  const float* w;      // [d] (read with kAffine or RMSNorm)
  const float* shift;  // [m / rows_per_batch, d]
  const float* scale;  // as shift
  void* out;
  i64 out_row_stride;
  float* scales;
  float eps;
  i32 m, d, rows_per_batch;
};

namespace detail {

inline constexpr int kSumLanes = 32;

using f32x16 = float __attribute__((vector_size(64)));

// The reference's ordered sum of f(i), i in [0, d).
template <class F>
inline float ordered_sum(i64 d, F f) {
  f32x16 lo = {}, hi = {};
  i64 i = 0;
  for (; i + kSumLanes <= d; i += kSumLanes) {
    alignas(64) float t[kSumLanes];
    for (int l = 0; l < kSumLanes; ++l) t[l] = f(i + l);
    f32x16 a, b;
    __builtin_memcpy(&a, t, sizeof a);
    __builtin_memcpy(&b, t + 16, sizeof b);
    lo = lo + a;
    hi = hi + b;
  }
  alignas(64) float part[kSumLanes];
  __builtin_memcpy(part, &lo, sizeof lo);
  __builtin_memcpy(part + 16, &hi, sizeof hi);
  // NOTE: a lane past d keeps its sum (adding +0.0f would too: a lane's sum is never -0).
  for (int l = 0; i + l < d; ++l) part[l] = part[l] + f(i + l);
  float s = part[0];
  for (int l = 1; l < kSumLanes; ++l) s = s + part[l];
  return s;
}

}  // namespace detail

template <class Cfg>
void norm_mod_rows(const NormModArgs& p, unsigned bx, unsigned, unsigned) {
  static_assert(Cfg::kKind == 0 || Cfg::kKind == 1, "kKind is 0 (LayerNorm) or 1 (RMSNorm)");
  static_assert(Cfg::kRows >= 1, "a grid block takes at least one row");
  constexpr bool kLayer = Cfg::kKind == 0;
  constexpr bool kWeighted = Cfg::kAffine || !kLayer;
  const i64 d = p.d;
  const float dn = static_cast<float>(d);
  const i64 begin = static_cast<i64>(bx) * Cfg::kRows;
  const i64 end = min_of<i64>(p.m, begin + Cfg::kRows);
  for (i64 r = begin; r < end; ++r) {
    const void* row = static_cast<const char*>(p.x) + r * p.x_row_stride * kDTypeSize<Cfg::kIn>;
    const auto x = [row](i64 i) { return load_as_f32<Cfg::kIn>(row, i); };
    const float* sh = p.shift + (r / p.rows_per_batch) * d;
    const float* sc = p.scale + (r / p.rows_per_batch) * d;
    float mean = 0.0f;
    float stat;
    if constexpr (kLayer) {
      mean = detail::ordered_sum(d, x) / dn;
      stat = detail::ordered_sum(d, [&](i64 i) {
               const float dv = x(i) - mean;
               return dv * dv;
             }) / dn;
    } else {
      stat = detail::ordered_sum(d, [&](i64 i) { return x(i) * x(i); }) / dn;
    }
    const float rstd = 1.0f / __builtin_sqrtf(stat + p.eps);
    void* out = static_cast<char*>(p.out) + r * p.out_row_stride * kDTypeSize<Cfg::kOut>;
    for (i64 i = 0; i < d; ++i) {
      float n = kLayer ? (x(i) - mean) * rstd : x(i) * rstd;
      if constexpr (kWeighted) n = n * p.w[i];
      const float mod = n * (1.0f + sc[i]);
      store_from_f32<Cfg::kOut>(out, i, mod + sh[i]);
    }
  }
}

}  // namespace qjit::host
