#pragma once
// Host kernels of activation quantization for the cpu device's W8A8 linears (DESIGN.md
// section 5, value for value the reference's): rows of f32 / f16 / bf16 quantized with a
// dynamic per-token scale, a dynamic per-tensor scale (two passes: each row's amax, then the
// quantization, each block reducing the row maxima itself), a static one, or (fp8) dynamic
// scales per group of 128 along K.
//   - kOut int8: codes, K-padded with zeros to a multiple of 4, and each row's code sum,
//     which the GEMM's unsigned x signed dot products need (host/qgemm_int8.h).
//   - kOut fp8 (e4m3, e5m2): each code's value written as bf16 (exact: at most 4 significant
//     bits), K-padded with zeros, for host/gemm_bf16.h.
//
// Config (QjitConfig): kIn (DType), kOut (DType), kMode (ActMode), kIsa (Isa), kRowsPerBlock.

#include "host/types.h"
#include "host/vec512.h"

namespace qjit::host {

enum class ActMode : int { kDynamicPerToken = 0, kDynamicPerTensor, kStatic, kDynamicGroup128 };

// Parameters of both entries (jit/impls/host_qgemm.hpp: HostActQuantParams).
struct ActQuantArgs {
  const void* x;        // [m, k] rows, x_row_stride elements apart
  i64 x_row_stride;
  void* q;              // [m, k_padded] int8 codes or bf16 values, q_row_stride bytes apart
  i64 q_row_stride;
  float* scales;        // per-token [m], per-tensor [1], group128 [m, ceil(k / 128)] (written); static [1] (read)
  i32* row_sums;        // int8: [m] Σ_k q (written)
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

template <DType Q>
inline constexpr float kQMax = Q == DType::kI8 ? 127.0f : Q == DType::kE4M3 ? 448.0f : 57344.0f;

// DESIGN.md section 5: a = max(amax, 1e-30); scale = a / qmax; inv = qmax / a.
template <DType Q>
inline RowScale dynamic_scale(float amax) {
  if (is_nan(amax) || (bits_of(amax) & 0x7fffffffu) == 0x7f800000u) return {float_of(0x7fc00000u), 0.0f, false};
  const float a = amax > 1e-30f ? amax : 1e-30f;
  return {a / kQMax<Q>, kQMax<Q> / a, true};
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
const void* row_of(const ActQuantArgs& p, i64 row, i32 c0) {
  return static_cast<const char*>(p.x) + (row * p.x_row_stride + c0) * kDTypeSize<Cfg::kIn>;
}

// max |x| of columns [c0, c0 + n) of a row, NaN-propagating.
template <class Cfg>
float amax_of(const ActQuantArgs& p, i64 row, i32 c0, i32 n) {
  const void* x = row_of<Cfg>(p, row, c0);
#if QJIT_HOST_AVX512
  if constexpr (is_avx512(Cfg::kIsa)) return vec512::row_amax<Cfg::kIn>(x, n);
#endif
  float acc = 0.0f;
  for (i32 c = 0; c < n; ++c) acc = amax_step(acc, load_as_f32<Cfg::kIn>(x, c));
  return acc;
}

template <class Cfg>
float row_amax_of(const ActQuantArgs& p, i64 row) {
  return amax_of<Cfg>(p, row, 0, p.k);
}

// Columns [c0, c0 + n) of a row quantized to fp8 with `s` and written as bf16 values (0 when
// the scale is not finite).
template <class Cfg>
void quantize_fp8_segment(const ActQuantArgs& p, i64 row, i32 c0, i32 n, const RowScale& s) {
  u16* q = reinterpret_cast<u16*>(static_cast<char*>(p.q) + row * p.q_row_stride) + c0;
  if (!s.finite) {
    for (i32 c = 0; c < n; ++c) q[c] = 0;
    return;
  }
  const void* x = row_of<Cfg>(p, row, c0);
  i32 c = 0;
#if QJIT_HOST_AVX512
  if constexpr (is_avx512(Cfg::kIsa)) {
    vec512::quantize_fp8_row<Cfg::kIn, Cfg::kOut>(x, n, s.inv, q);
    c = n;
  }
#endif
  for (; c < n; ++c) q[c] = static_cast<u16>(bits_of(fp8_round<Cfg::kOut>(load_as_f32<Cfg::kIn>(x, c) * s.inv)) >> 16);
}

// Quantizes one row with `s` (codes 0 when the scale is not finite); returns Σ codes.
template <class Cfg>
i32 quantize_row(const ActQuantArgs& p, i64 row, const RowScale& s) {
  const void* x = row_of<Cfg>(p, row, 0);
  i8* q = static_cast<i8*>(p.q) + row * p.q_row_stride;
  i32 sum = 0;
  i32 c = 0;
  if (s.finite) {
#if QJIT_HOST_AVX512
    if constexpr (is_avx512(Cfg::kIsa)) {
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

// One row with scale `s` (a dynamic per-token one when the mode is per-token): the codes of
// int8, the values of fp8.
template <class Cfg>
void quantize_whole_row(const ActQuantArgs& p, i64 r, RowScale s) {
  if constexpr (Cfg::kMode == ActMode::kDynamicPerToken) {
    s = dynamic_scale<Cfg::kOut>(row_amax_of<Cfg>(p, r));
    p.scales[r] = s.scale;
  }
  if constexpr (Cfg::kOut == DType::kI8) {
    p.row_sums[r] = quantize_row<Cfg>(p, r, s);
  } else if constexpr (Cfg::kMode == ActMode::kDynamicGroup128) {
    const i32 groups = (p.k + 127) / 128;
    for (i32 g = 0; g < groups; ++g) {
      const i32 c0 = g * 128, n = min_of<i32>(128, p.k - c0);
      const RowScale gs = dynamic_scale<Cfg::kOut>(amax_of<Cfg>(p, r, c0, n));
      p.scales[r * groups + g] = gs.scale;
      quantize_fp8_segment<Cfg>(p, r, c0, n, gs);
    }
  } else {
    quantize_fp8_segment<Cfg>(p, r, 0, p.k, s);
  }
  if constexpr (Cfg::kOut != DType::kI8) {
    u16* q = reinterpret_cast<u16*>(static_cast<char*>(p.q) + r * p.q_row_stride);
    for (i32 c = p.k; c < p.k_padded; ++c) q[c] = 0;
  }
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
  static_assert(Cfg::kOut == DType::kI8 || Cfg::kOut == DType::kE4M3 || Cfg::kOut == DType::kE5M2,
                "activations quantize to int8, fp8_e4m3 or fp8_e5m2");
  static_assert(Cfg::kMode != ActMode::kDynamicGroup128 || Cfg::kOut != DType::kI8, "group128 scales are fp8 only");
  const i64 r0 = static_cast<i64>(bx) * p.rows_per_block;
  const i64 r1 = min_of<i64>(p.m, r0 + p.rows_per_block);
  detail::RowScale tensor{};
  if constexpr (Cfg::kMode == ActMode::kDynamicPerTensor) {
    float amax = 0.0f;
    for (i32 r = 0; r < p.m; ++r) amax = detail::amax_step(amax, p.row_amax[r]);
    tensor = detail::dynamic_scale<Cfg::kOut>(amax);
    if (bx == 0) p.scales[0] = tensor.scale;
  } else if constexpr (Cfg::kMode == ActMode::kStatic) {
    tensor = {p.scales[0], 1.0f / p.scales[0], true};
  }
  for (i64 r = r0; r < r1; ++r) detail::quantize_whole_row<Cfg>(p, r, tensor);
}

}  // namespace qjit::host
