#pragma once
// Host kernels of int8 activation quantization for the cpu device's W8A8 linear (DESIGN.md
// section 5, byte for byte the reference's): rows of f32 / f16 / bf16 to int8 codes, with a
// dynamic per-token scale, a dynamic per-tensor scale (two passes: each row's amax, then the
// quantization, each block reducing the row maxima itself), or a static one. Besides the
// codes, each row's code sum, which the GEMM's unsigned x signed dot products need
// (host/qgemm_int8.h). Codes are written K-padded with zeros to a multiple of 4.
//
// Config (QjitConfig): kIn (DType), kMode (ActMode), kIsa (Isa), kRowsPerBlock.

#include "host/types.h"
#include "host/vec512.h"

namespace qjit::host {

enum class ActMode : int { kDynamicPerToken = 0, kDynamicPerTensor, kStatic };

// Parameters of both entries (jit/impls/host_qgemm.hpp: HostActQuantParams).
struct ActQuantArgs {
  const void* x;        // [m, k] rows, x_row_stride elements apart
  i64 x_row_stride;
  i8* q;                // [m, k_padded] codes, q_row_stride bytes apart
  i64 q_row_stride;
  float* scales;        // per-token [m] (written); per-tensor [1] (written); static [1] (read)
  i32* row_sums;        // [m] Σ_k q (written)
  float* row_amax;      // per-tensor: [m], written by act_amax_rows, read by act_quant_rows
  i32 m, k, k_padded, rows_per_block;
};

namespace detail {

inline float amax_step(float acc, float x) {
  const float a = float_of(bits_of(x) & 0x7fffffffu);
  if (is_nan(acc) || is_nan(a)) return float_of(0x7fc00000u);
  return a > acc ? a : acc;
}

struct RowScale {
  float scale, inv;
  bool finite;
};

// DESIGN.md section 5: a = max(amax, 1e-30); scale = a / 127; inv = 127 / a.
inline RowScale dynamic_scale(float amax) {
  if (is_nan(amax) || (bits_of(amax) & 0x7fffffffu) == 0x7f800000u) return {float_of(0x7fc00000u), 0.0f, false};
  const float a = amax > 1e-30f ? amax : 1e-30f;
  return {a / 127.0f, 127.0f / a, true};
}

inline i8 quantize_int8(float x, float inv) {
  const float y = x * inv;
  if (is_nan(y)) return 0;
  float r = rintf(y);
  if (r > 127.0f) r = 127.0f;
  if (r < -127.0f) r = -127.0f;
  return static_cast<i8>(static_cast<int>(r));
}

template <class Cfg>
float row_amax_of(const ActQuantArgs& p, i64 row) {
  const void* x = static_cast<const char*>(p.x) + row * p.x_row_stride * kDTypeSize<Cfg::kIn>;
#if QJIT_HOST_AVX512
  if constexpr (Cfg::kIsa == Isa::kAvx512Vnni) return vec512::row_amax<Cfg::kIn>(x, p.k);
#endif
  float acc = 0.0f;
  for (i32 c = 0; c < p.k; ++c) acc = amax_step(acc, load_as_f32<Cfg::kIn>(x, c));
  return acc;
}

// Quantizes one row with `s` (codes 0 when the scale is not finite); returns Σ codes.
template <class Cfg>
i32 quantize_row(const ActQuantArgs& p, i64 row, const RowScale& s) {
  const void* x = static_cast<const char*>(p.x) + row * p.x_row_stride * kDTypeSize<Cfg::kIn>;
  i8* q = p.q + row * p.q_row_stride;
  i32 sum = 0;
  i32 c = 0;
  if (s.finite) {
#if QJIT_HOST_AVX512
    if constexpr (Cfg::kIsa == Isa::kAvx512Vnni) {
      sum = vec512::quantize_row<Cfg::kIn>(x, p.k, s.inv, q);
      c = p.k;
    }
#endif
    for (; c < p.k; ++c) {
      const i8 v = quantize_int8(load_as_f32<Cfg::kIn>(x, c), s.inv);
      q[c] = v;
      sum += v;
    }
  }
  for (; c < p.k_padded; ++c) q[c] = 0;
  return sum;
}

}  // namespace detail

// Per-tensor pass 1: row_amax[r] for the block's rows.
template <class Cfg>
void act_amax_rows(const ActQuantArgs& p, unsigned bx, unsigned, unsigned) {
  const i64 r0 = static_cast<i64>(bx) * p.rows_per_block;
  const i64 r1 = min_of<i64>(p.m, r0 + p.rows_per_block);
  for (i64 r = r0; r < r1; ++r) p.row_amax[r] = detail::row_amax_of<Cfg>(p, r);
}

template <class Cfg>
void act_quant_rows(const ActQuantArgs& p, unsigned bx, unsigned, unsigned) {
  static_assert(Cfg::kRowsPerBlock >= 1, "a block quantizes at least one row");
  const i64 r0 = static_cast<i64>(bx) * p.rows_per_block;
  const i64 r1 = min_of<i64>(p.m, r0 + p.rows_per_block);
  detail::RowScale tensor{};
  if constexpr (Cfg::kMode == ActMode::kDynamicPerTensor) {
    float amax = 0.0f;
    for (i32 r = 0; r < p.m; ++r) amax = detail::amax_step(amax, p.row_amax[r]);
    tensor = detail::dynamic_scale(amax);
    if (bx == 0) p.scales[0] = tensor.scale;
  } else if constexpr (Cfg::kMode == ActMode::kStatic) {
    tensor = {p.scales[0], 1.0f / p.scales[0], true};
  }
  for (i64 r = r0; r < r1; ++r) {
    detail::RowScale s = tensor;
    if constexpr (Cfg::kMode == ActMode::kDynamicPerToken) {
      s = detail::dynamic_scale(detail::row_amax_of<Cfg>(p, r));
      p.scales[r] = s.scale;
    }
    p.row_sums[r] = detail::quantize_row<Cfg>(p, r, s);
  }
}

}  // namespace qjit::host
