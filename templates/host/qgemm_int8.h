#pragma once
// Host kernel of the int8 W8A8 GEMM for the cpu device: y = epilogue(Σ_k qa·qw) exactly in
// int32, then DESIGN.md section 5's epilogue, bit-identical to the reference.
//
// Operands: activation codes [m, k_padded] (host/act_quant.h) with each row's code sum, and
// weights packed once at apply time (quant_ops/host_linear.hpp) in panels of 16 output
// channels: panel p holds channels 16p..16p+15 as [k_padded / 4][16][4] bytes of (w + 128),
// channels beyond n padded with 128 (a zero weight). VNNI's vpdpbusd multiplies unsigned by
// signed bytes, so the weights take the unsigned side (w + 128 in 1..255) and the codes the
// signed one (a broadcast), and Σ (w + 128)·a - 128·Σ a is the exact sum; the int32 lanes
// wrap, but the true sum fits (K is bounded so), so modular arithmetic gives it exactly.
//
// Blocking: a block of the grid computes kMC rows x kNC columns; inside it, K is taken in
// kKC steps (partial sums kept in an int32 tile between them), and each step runs kMR x
// (kNB * 16) register tiles. None of this changes results, only speed.
//
// Config (QjitConfig): kIsa, kOut, kHasBias, kBias, kAct, kMR, kNB, kMC, kNC, kKC.

#include "host/epilogue.h"
#include "host/types.h"
#include "host/vec512.h"

namespace qjit::host {

// Parameters of the entry (jit/impls/host_qgemm.hpp: HostQGemmParams).
struct QGemmInt8Args {
  const i8* a;            // [m, k_padded] codes, lda bytes apart
  i64 lda;
  const i32* a_row_sums;  // [m]
  const float* a_scales;  // [m] (a_scale_stride 1) or [1] (0)
  i64 a_scale_stride;
  const u8* w_packed;     // ceil(n / 16) panels of k_padded * 16 bytes
  const float* w_scales;  // [n] (w_scale_stride 1) or [1] (0)
  i64 w_scale_stride;
  const void* bias;       // [n] of kBias, or null
  void* out;              // [m, n] of kOut, ldo elements apart
  i64 ldo;
  i32 m, n, k_padded, pad;
};

inline constexpr int kPanel = 16;  // channels per packed panel

namespace detail {

// One output element from its exact int32 sum.
template <class Cfg>
inline void epilogue_one(const QGemmInt8Args& p, i64 row, i64 col, i32 acc) {
  const float s = p.a_scales[row * p.a_scale_stride] * p.w_scales[col * p.w_scale_stride];
  float bias = 0.0f;
  if constexpr (Cfg::kHasBias) bias = load_as_f32<Cfg::kBias>(p.bias, col);
  finish_one<Cfg::kAct, Cfg::kOut>(p.out, row * p.ldo + col, fmaf(static_cast<float>(acc), s, bias));
}

// The portable register tile: kMR rows x `panels` panels, sums of k4 groups of 4 from k0.
template <class Cfg>
void tile_generic(const QGemmInt8Args& p, i64 row0, i64 col0, int panels, i32 k0, i32 k4, bool first, bool last,
                  i32* partial, i64 ld_partial) {
  constexpr int MR = Cfg::kMR;
  constexpr int NC = Cfg::kNB * kPanel;
  i32 acc[MR][NC];
  for (int i = 0; i < MR; ++i) {
    for (int j = 0; j < NC; ++j) acc[i][j] = first ? 0 : partial[i * ld_partial + j];
  }
  const i64 panel_bytes = static_cast<i64>(p.k_padded) * kPanel;
  for (int i = 0; i < MR; ++i) {
    const i8* a = p.a + min_of<i64>(row0 + i, p.m - 1) * p.lda + k0;
    for (int pj = 0; pj < panels; ++pj) {
      const u8* w = p.w_packed + ((col0 / kPanel) + pj) * panel_bytes + static_cast<i64>(k0) * kPanel;
      i32* out = acc[i] + pj * kPanel;
      for (i32 kk = 0; kk < k4; ++kk) {
        for (int l = 0; l < kPanel; ++l) {
          i32 s = 0;
          for (int t = 0; t < 4; ++t) s += static_cast<i32>(a[kk * 4 + t]) * static_cast<i32>(w[kk * 64 + l * 4 + t]);
          out[l] = static_cast<i32>(static_cast<u32>(out[l]) + static_cast<u32>(s));
        }
      }
    }
  }
  for (int i = 0; i < MR; ++i) {
    const i64 row = row0 + i;
    if (row >= p.m) break;
    const u32 corr = static_cast<u32>(p.a_row_sums[row]) << 7;
    for (int j = 0; j < panels * kPanel; ++j) {
      if (!last) {
        partial[i * ld_partial + j] = acc[i][j];
        continue;
      }
      const i64 col = col0 + j;
      if (col < p.n) epilogue_one<Cfg>(p, row, col, static_cast<i32>(static_cast<u32>(acc[i][j]) - corr));
    }
  }
}

#if QJIT_HOST_AVX512
// The VNNI register tile: kMR x NB accumulators of 16 int32 lanes.
template <class Cfg, int NB>
void tile_vnni(const QGemmInt8Args& p, i64 row0, i64 col0, i32 k0, i32 k4, bool first, bool last, i32* partial,
               i64 ld_partial) {
  constexpr int MR = Cfg::kMR;
  __m512i acc[MR][NB];
  for (int i = 0; i < MR; ++i) {
    for (int j = 0; j < NB; ++j) {
      acc[i][j] = first ? _mm512_setzero_si512() : _mm512_loadu_si512(partial + i * ld_partial + j * kPanel);
    }
  }
  const i64 panel_bytes = static_cast<i64>(p.k_padded) * kPanel;
  const u8* w = p.w_packed + (col0 / kPanel) * panel_bytes + static_cast<i64>(k0) * kPanel;
  const i8* a[MR];
  for (int i = 0; i < MR; ++i) a[i] = p.a + min_of<i64>(row0 + i, p.m - 1) * p.lda + k0;
  for (i32 kk = 0; kk < k4; ++kk) {
    __m512i b[NB];
    for (int j = 0; j < NB; ++j) b[j] = _mm512_loadu_si512(w + j * panel_bytes + kk * 64);
    for (int i = 0; i < MR; ++i) {
      i32 four;
      __builtin_memcpy(&four, a[i] + kk * 4, 4);
      const __m512i av = _mm512_set1_epi32(four);
      for (int j = 0; j < NB; ++j) acc[i][j] = _mm512_dpbusd_epi32(acc[i][j], b[j], av);
    }
  }
  if (!last) {
    for (int i = 0; i < MR; ++i) {
      for (int j = 0; j < NB; ++j) _mm512_storeu_si512(partial + i * ld_partial + j * kPanel, acc[i][j]);
    }
    return;
  }
  for (int i = 0; i < MR; ++i) {
    const i64 row = row0 + i;
    if (row >= p.m) break;
    const __m512i corr = _mm512_set1_epi32(static_cast<int>(static_cast<u32>(p.a_row_sums[row]) << 7));
    const __m512 sa = _mm512_set1_ps(p.a_scales[row * p.a_scale_stride]);
    for (int j = 0; j < NB; ++j) {
      const i64 col = col0 + j * kPanel;
      if (col >= p.n) break;
      const __mmask16 mask = vec512::tail_mask(p.n - col);
      const __m512 sw = p.w_scale_stride ? _mm512_maskz_loadu_ps(mask, p.w_scales + col) : _mm512_set1_ps(p.w_scales[0]);
      __m512 bias = _mm512_setzero_ps();
      if constexpr (Cfg::kHasBias) bias = vec512::load16<Cfg::kBias>(p.bias, col, mask);
      const __m512 accf = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[i][j], corr));
      finish16<Cfg::kAct, Cfg::kOut>(p.out, row * p.ldo + col, _mm512_fmadd_ps(accf, _mm512_mul_ps(sa, sw), bias), mask);
    }
  }
}

template <class Cfg, int NB>
void tile_vnni_upto(const QGemmInt8Args& p, i64 row0, i64 col0, int panels, i32 k0, i32 k4, bool first, bool last,
                    i32* partial, i64 ld_partial) {
  if constexpr (NB > 1) {
    if (panels < NB) return tile_vnni_upto<Cfg, NB - 1>(p, row0, col0, panels, k0, k4, first, last, partial, ld_partial);
  }
  tile_vnni<Cfg, NB>(p, row0, col0, k0, k4, first, last, partial, ld_partial);
}
#endif

}  // namespace detail

template <class Cfg>
void qgemm_int8(const QGemmInt8Args& p, unsigned bx, unsigned by, unsigned) {
  static_assert(Cfg::kMR >= 1 && Cfg::kNB >= 1, "a register tile has rows and panels");
  static_assert(Cfg::kNC % (Cfg::kNB * kPanel) == 0, "kNC is a multiple of the register tile's columns");
  static_assert(Cfg::kMC % Cfg::kMR == 0, "kMC is a multiple of kMR");
  static_assert(Cfg::kKC % 4 == 0 && Cfg::kKC >= 4, "kKC is a positive multiple of 4");
#if !QJIT_HOST_AVX512
  static_assert(Cfg::kIsa == Isa::kGeneric, "an AVX-512 VNNI program needs a target with avx512f/bw/vl/vnni");
#endif
  const i64 row_begin = static_cast<i64>(by) * Cfg::kMC;
  const i64 col_begin = static_cast<i64>(bx) * Cfg::kNC;
  const i64 row_end = min_of<i64>(p.m, row_begin + Cfg::kMC);
  const i64 col_end = min_of<i64>(p.n, col_begin + Cfg::kNC);
  constexpr int kTileCols = Cfg::kNB * kPanel;
  // Partial sums between K steps (only when K takes more than one).
  alignas(64) i32 partial[Cfg::kMC * Cfg::kNC];
  for (i32 k0 = 0; k0 < p.k_padded; k0 += Cfg::kKC) {
    const i32 kc = min_of<i32>(Cfg::kKC, p.k_padded - k0);
    const bool first = k0 == 0, last = k0 + kc >= p.k_padded;
    for (i64 col = col_begin; col < col_end; col += kTileCols) {
      const int panels = static_cast<int>(min_of<i64>(Cfg::kNB, (col_end - col + kPanel - 1) / kPanel));
      for (i64 row = row_begin; row < row_end; row += Cfg::kMR) {
        i32* part = partial + (row - row_begin) * Cfg::kNC + (col - col_begin);
#if QJIT_HOST_AVX512
        if constexpr (Cfg::kIsa == Isa::kAvx512Vnni) {
          detail::tile_vnni_upto<Cfg, Cfg::kNB>(p, row, col, panels, k0, kc / 4, first, last, part, Cfg::kNC);
          continue;
        }
#endif
        detail::tile_generic<Cfg>(p, row, col, panels, k0, kc / 4, first, last, part, Cfg::kNC);
      }
    }
  }
}

}  // namespace qjit::host
