#pragma once
// Host kernel of the cpu device's unquantized f16 and f32 GEMM: y = epilogue(Σ_k a·w) with
// the operands widened exactly to f32 (f16 when the weights are packed and the rows staged),
// each output's sum taken over k = 0..K-1 in order from +0, as the reference
// (runtime/ops/gemm_reference.hpp) sums:
//   kIn f16: acc = fmadd(a, w, acc) — an f16 x f16 product is exact in f32, so the one
//            rounding of acc + a·w is the reference's rounding of acc + (a * w);
//   kIn f32: acc = acc + (a * w), each rounded, as the reference.
// Then y = acc + bias (one rounding, + 0 without bias), GELU, the canonical NaN, rounded to
// kOut (host/epilogue.h): bit-identical to the reference on every ISA without GELU (but for
// NaN, which is the canonical NaN here as in every GEMM kernel, DESIGN.md section 5); with it,
// the AVX-512 path's 16-lane tanh is bounded as the other GEMMs' is.
//
// Operands: activations [m, k] f32 rows (lda apart), weights packed once in panels of 16
// output channels: panel p holds channels 16p..16p+15 as [k][16] f32 (channels beyond n 0).
// Blocking as host/qgemm_int8.h: a grid block computes kMC x kNC of the output in K steps of
// kKC (running sums in a f32 tile between them, which keeps the K order), each step kMR x
// (kNB * 16) register tiles. None of it changes results.
//
// Config (QjitConfig): kIsa, kIn, kOut, kHasBias, kBias, kAct, kMR, kNB, kMC, kNC, kKC.

#include "host/epilogue.h"
#include "host/types.h"
#include "host/vec512.h"

namespace qjit::host {

// Parameters of the entry (jit/impls/host_gemm_f32.hpp: HostGemmF32Params).
struct GemmF32Args {
  const float* a;         // [m, k] f32, lda elements apart
  i64 lda;
  const float* w_packed;  // ceil(n / 16) panels of k * 16 f32
  const void* bias;       // [n] of kBias, or null
  void* out;              // [m, n] of kOut, ldo elements apart
  i64 ldo;
  i32 m, n, k, pad;
};

namespace detail {

inline constexpr int kF32Panel = 16;

// The portable register tile over k [k0, k0 + kc): one product at a time, in K order.
template <class Cfg>
void tile_f32_generic(const GemmF32Args& p, i64 row0, i64 col0, int panels, i32 k0, i32 kc, bool first, float* total,
                      i64 ldt) {
  for (int i = 0; i < Cfg::kMR; ++i) {
    const float* a = p.a + min_of<i64>(row0 + i, p.m - 1) * p.lda;
    for (int j = 0; j < panels * kF32Panel; ++j) {
      const i64 col = col0 + j;
      const float* w = p.w_packed + (col / kF32Panel) * static_cast<i64>(p.k) * kF32Panel + col % kF32Panel;
      float sum = first ? 0.0f : total[i * ldt + j];
      for (i32 k = k0; k < k0 + kc; ++k) {
        const float product = a[k] * w[static_cast<i64>(k) * kF32Panel];
        sum = sum + product;
      }
      total[i * ldt + j] = sum;
    }
  }
}

#if QJIT_HOST_AVX512
// The AVX-512 register tile: kMR x NB accumulators of 16 lanes, its loops fully unrolled so
// that acc stays in registers (host/qgemm_int8.h's tile_vnni says why).
template <class Cfg, int NB>
void tile_f32_avx512(const GemmF32Args& p, i64 row0, i64 col0, i32 k0, i32 kc, bool first, float* total, i64 ldt) {
  constexpr int MR = Cfg::kMR;
  const i64 panel_elems = static_cast<i64>(p.k) * kF32Panel;
  const float* w = p.w_packed + (col0 / kF32Panel) * panel_elems;
  const float* a[MR];
#pragma clang loop unroll(full)
  for (int i = 0; i < MR; ++i) a[i] = p.a + min_of<i64>(row0 + i, p.m - 1) * p.lda;
  __m512 acc[MR][NB];
#pragma clang loop unroll(full)
  for (int i = 0; i < MR; ++i) {
#pragma clang loop unroll(full)
    for (int j = 0; j < NB; ++j) acc[i][j] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(total + i * ldt + j * 16);
  }
  for (i32 k = k0; k < k0 + kc; ++k) {
    __m512 b[NB];
#pragma clang loop unroll(full)
    for (int j = 0; j < NB; ++j) b[j] = _mm512_loadu_ps(w + j * panel_elems + static_cast<i64>(k) * kF32Panel);
#pragma clang loop unroll(full)
    for (int i = 0; i < MR; ++i) {
      const __m512 av = _mm512_set1_ps(a[i][k]);
#pragma clang loop unroll(full)
      for (int j = 0; j < NB; ++j) {
        if constexpr (Cfg::kIn == DType::kF16) {
          acc[i][j] = _mm512_fmadd_ps(av, b[j], acc[i][j]);
        } else {
          acc[i][j] = _mm512_add_ps(acc[i][j], _mm512_mul_ps(av, b[j]));
        }
      }
    }
  }
#pragma clang loop unroll(full)
  for (int i = 0; i < MR; ++i) {
#pragma clang loop unroll(full)
    for (int j = 0; j < NB; ++j) _mm512_storeu_ps(total + i * ldt + j * 16, acc[i][j]);
  }
}

template <class Cfg, int NB>
void tile_f32_avx512_upto(const GemmF32Args& p, i64 row0, i64 col0, int panels, i32 k0, i32 kc, bool first,
                          float* total, i64 ldt) {
  if constexpr (NB > 1) {
    if (panels < NB) return tile_f32_avx512_upto<Cfg, NB - 1>(p, row0, col0, panels, k0, kc, first, total, ldt);
  }
  tile_f32_avx512<Cfg, NB>(p, row0, col0, k0, kc, first, total, ldt);
}
#endif

// y = total + bias, the activation and the output rounding, for rows [row0, row1) x columns
// [col0, col1).
template <class Cfg>
void epilogue_f32(const GemmF32Args& p, i64 row0, i64 row1, i64 col0, i64 col1, const float* total, i64 ldt) {
  for (i64 row = row0; row < row1; ++row) {
    const float* t = total + (row - row0) * ldt;
    i64 col = col0;
#if QJIT_HOST_AVX512
    if constexpr (is_avx512(Cfg::kIsa)) {
      for (; col < col1; col += 16) {
        const __mmask16 mask = vec512::tail_mask(col1 - col);
        __m512 bias = _mm512_setzero_ps();
        if constexpr (Cfg::kHasBias) bias = vec512::load16<Cfg::kBias>(p.bias, col, mask);
        const __m512 y = _mm512_add_ps(_mm512_maskz_loadu_ps(mask, t + (col - col0)), bias);
        finish16<Cfg::kAct, Cfg::kOut>(p.out, row * p.ldo + col, y, mask);
      }
    }
#endif
    for (; col < col1; ++col) {
      float bias = 0.0f;
      if constexpr (Cfg::kHasBias) bias = load_as_f32<Cfg::kBias>(p.bias, col);
      finish_one<Cfg::kAct, Cfg::kOut>(p.out, row * p.ldo + col, t[col - col0] + bias);
    }
  }
}

}  // namespace detail

template <class Cfg>
void gemm_f32(const GemmF32Args& p, unsigned bx, unsigned by, unsigned) {
  static_assert(Cfg::kIn == DType::kF16 || Cfg::kIn == DType::kF32, "kIn is f16 or f32");
  static_assert(Cfg::kMR >= 1 && Cfg::kNB >= 1, "a register tile has rows and panels");
  static_assert(Cfg::kNC % (Cfg::kNB * detail::kF32Panel) == 0, "kNC is a multiple of the register tile's columns");
  static_assert(Cfg::kMC % Cfg::kMR == 0, "kMC is a multiple of kMR");
  static_assert(Cfg::kKC >= 1, "kKC is positive");
#if !QJIT_HOST_AVX512
  static_assert(!is_avx512(Cfg::kIsa), "an AVX-512 program needs a target with avx512f/bw/vl");
#endif
  const i64 row_begin = static_cast<i64>(by) * Cfg::kMC;
  const i64 col_begin = static_cast<i64>(bx) * Cfg::kNC;
  const i64 row_end = min_of<i64>(p.m, row_begin + Cfg::kMC);
  const i64 col_end = min_of<i64>(p.n, col_begin + Cfg::kNC);
  constexpr int kTileCols = Cfg::kNB * detail::kF32Panel;
  alignas(64) float total[Cfg::kMC * Cfg::kNC];
  for (i32 k0 = 0; k0 < p.k || k0 == 0; k0 += Cfg::kKC) {
    const i32 kc = min_of<i32>(Cfg::kKC, p.k - k0);
    for (i64 col = col_begin; col < col_end; col += kTileCols) {
      const int panels = static_cast<int>(min_of<i64>(Cfg::kNB, (col_end - col + 15) / 16));
      for (i64 row = row_begin; row < row_end; row += Cfg::kMR) {
        float* t = total + (row - row_begin) * Cfg::kNC + (col - col_begin);
#if QJIT_HOST_AVX512
        if constexpr (is_avx512(Cfg::kIsa)) {
          detail::tile_f32_avx512_upto<Cfg, Cfg::kNB>(p, row, col, panels, k0, kc, k0 == 0, t, Cfg::kNC);
          continue;
        }
#endif
        detail::tile_f32_generic<Cfg>(p, row, col, panels, k0, kc, k0 == 0, t, Cfg::kNC);
      }
    }
    if (p.k == 0) break;
  }
  detail::epilogue_f32<Cfg>(p, row_begin, row_end, col_begin, col_end, total, Cfg::kNC);
}

}  // namespace qjit::host
