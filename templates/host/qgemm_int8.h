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
// AMX (Isa::kAmx) takes the same operands: tdpbsud multiplies signed bytes (the codes, an A
// tile of 16 rows x 64 K) by unsigned ones (a B tile is 16 K quads of one panel, 64 bytes
// apart, as packed) into exact int32 sums, so the same correction gives the same bits. Codes
// rows are K-padded to a multiple of 64 (host_k_padded); the last, partial tile of 16 rows
// is copied into a zero-padded buffer so that no tile load reads past row m.
//
// Blocking: a block of the grid computes kMC rows x kNC columns; inside it, K is taken in
// kKC steps (partial sums kept in an int32 tile between them), and each step runs kMR x
// (kNB * 16) register tiles (on AMX, kMR / 16 x kNB tiles of 16 x 16). None of this changes
// results, only speed.
//
// Config (QjitConfig): kIsa (generic, VNNI or AMX), kOut, kHasBias, kBias, kAct, kMR, kNB, kMC, kNC, kKC.

#include "host/amx.h"
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
// Outputs (row, col..col+15) (those below n) from their (w + 128)-weighted sums.
template <class Cfg>
inline void finish_row16(const QGemmInt8Args& p, i64 row, i64 col, __m512i acc) {
  const __m512i corr = _mm512_set1_epi32(static_cast<int>(static_cast<u32>(p.a_row_sums[row]) << 7));
  const __m512 sa = _mm512_set1_ps(p.a_scales[row * p.a_scale_stride]);
  const __mmask16 mask = vec512::tail_mask(p.n - col);
  const __m512 sw = p.w_scale_stride ? _mm512_maskz_loadu_ps(mask, p.w_scales + col) : _mm512_set1_ps(p.w_scales[0]);
  __m512 bias = _mm512_setzero_ps();
  if constexpr (Cfg::kHasBias) bias = vec512::load16<Cfg::kBias>(p.bias, col, mask);
  const __m512 accf = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc, corr));
  finish16<Cfg::kAct, Cfg::kOut>(p.out, row * p.ldo + col, _mm512_fmadd_ps(accf, _mm512_mul_ps(sa, sw), bias), mask);
}

// The VNNI register tile: kMR x NB accumulators of 16 int32 lanes.
// NOTE: every loop over the tile's rows and panels is fully unrolled with constant trip
// counts (no early exit): one loop LLVM cannot unroll indexes acc dynamically, which keeps the
// whole array on the stack, a load and a store around every vpdpbusd (measured on Zen 4:
// 175 GOPS a core that way, 390 with the tile in registers).
template <class Cfg, int NB>
void tile_vnni(const QGemmInt8Args& p, i64 row0, i64 col0, i32 k0, i32 k4, bool first, bool last, i32* partial,
               i64 ld_partial) {
  constexpr int MR = Cfg::kMR;
  __m512i acc[MR][NB];
#pragma clang loop unroll(full)
  for (int i = 0; i < MR; ++i) {
#pragma clang loop unroll(full)
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
#pragma clang loop unroll(full)
    for (int j = 0; j < NB; ++j) b[j] = _mm512_loadu_si512(w + j * panel_bytes + kk * 64);
#pragma clang loop unroll(full)
    for (int i = 0; i < MR; ++i) {
      i32 four;
      __builtin_memcpy(&four, a[i] + kk * 4, 4);
      const __m512i av = _mm512_set1_epi32(four);
#pragma clang loop unroll(full)
      for (int j = 0; j < NB; ++j) acc[i][j] = _mm512_dpbusd_epi32(acc[i][j], b[j], av);
    }
  }
  if (!last) {
#pragma clang loop unroll(full)
    for (int i = 0; i < MR; ++i) {
#pragma clang loop unroll(full)
      for (int j = 0; j < NB; ++j) _mm512_storeu_si512(partial + i * ld_partial + j * kPanel, acc[i][j]);
    }
    return;
  }
#pragma clang loop unroll(full)
  for (int i = 0; i < MR; ++i) {
    const i64 row = row0 + i;
#pragma clang loop unroll(full)
    for (int j = 0; j < NB; ++j) {
      if (row < p.m && col0 + j * kPanel < p.n) finish_row16<Cfg>(p, row, col0 + j * kPanel, acc[i][j]);
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

// One grid block in vector registers (VNNI) or scalar code (generic).
template <class Cfg>
void block_registers(const QGemmInt8Args& p, i64 row_begin, i64 row_end, i64 col_begin, i64 col_end) {
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
        if constexpr (is_avx512(Cfg::kIsa)) {
          tile_vnni_upto<Cfg, Cfg::kNB>(p, row, col, panels, k0, kc / 4, first, last, part, Cfg::kNC);
          continue;
        }
#endif
        tile_generic<Cfg>(p, row, col, panels, k0, kc / 4, first, last, part, Cfg::kNC);
      }
    }
  }
}

#if QJIT_HOST_AMX
// TM x TN tiles of 16 x 16 sums (C tile (i, j) is tile 2i + j; A tiles 4, 5; B tiles 6, 7)
// over K [k0, k0 + kc) from the codes at a[i] (rows lda[i] bytes apart). Tile numbers are
// immediates, hence the spelled-out cases.
template <class Cfg, int TM, int TN>
void tile_amx(const QGemmInt8Args& p, const i8* const* a, const i64* lda, i64 row0, i64 col0, i32 k0, i32 kc,
              bool first, bool last, i32* partial, i64 ld_partial) {
  const i64 panel_bytes = static_cast<i64>(p.k_padded) * kPanel;
  const u8* w = p.w_packed + (col0 / kPanel) * panel_bytes + static_cast<i64>(k0) * kPanel;
  const i64 ldp = ld_partial * 4;
  i32* part1 = partial + 16 * ld_partial;
  if (first) {
    _tile_zero(0);
    if constexpr (TN > 1) _tile_zero(1);
    if constexpr (TM > 1) _tile_zero(2);
    if constexpr (TM > 1 && TN > 1) _tile_zero(3);
  } else {
    _tile_loadd(0, partial, ldp);
    if constexpr (TN > 1) _tile_loadd(1, partial + kPanel, ldp);
    if constexpr (TM > 1) _tile_loadd(2, part1, ldp);
    if constexpr (TM > 1 && TN > 1) _tile_loadd(3, part1 + kPanel, ldp);
  }
  for (i32 kk = 0; kk < kc; kk += amx::kTileBytes) {
    _tile_loadd(4, a[0] + kk, lda[0]);
    _tile_loadd(6, w + static_cast<i64>(kk) * kPanel, amx::kTileBytes);
    _tile_dpbsud(0, 4, 6);
    if constexpr (TN > 1) {
      _tile_loadd(7, w + panel_bytes + static_cast<i64>(kk) * kPanel, amx::kTileBytes);
      _tile_dpbsud(1, 4, 7);
    }
    if constexpr (TM > 1) {
      _tile_loadd(5, a[1] + kk, lda[1]);
      _tile_dpbsud(2, 5, 6);
      if constexpr (TN > 1) _tile_dpbsud(3, 5, 7);
    }
  }
  if (!last) {
    _tile_stored(0, partial, ldp);
    if constexpr (TN > 1) _tile_stored(1, partial + kPanel, ldp);
    if constexpr (TM > 1) _tile_stored(2, part1, ldp);
    if constexpr (TM > 1 && TN > 1) _tile_stored(3, part1 + kPanel, ldp);
    return;
  }
  constexpr int kCols = TN * kPanel;
  alignas(64) i32 c[TM * 16 * kCols];
  _tile_stored(0, c, kCols * 4);
  if constexpr (TN > 1) _tile_stored(1, c + kPanel, kCols * 4);
  if constexpr (TM > 1) _tile_stored(2, c + 16 * kCols, kCols * 4);
  if constexpr (TM > 1 && TN > 1) _tile_stored(3, c + 16 * kCols + kPanel, kCols * 4);
  for (int i = 0; i < TM * 16; ++i) {
    const i64 row = row0 + i;
    if (row >= p.m) break;
    for (int j = 0; j < TN; ++j) {
      if (col0 + j * kPanel >= p.n) break;
      finish_row16<Cfg>(p, row, col0 + j * kPanel, _mm512_load_si512(c + i * kCols + j * kPanel));
    }
  }
}

// One grid block on AMX tiles.
template <class Cfg>
void block_amx(const QGemmInt8Args& p, i64 row_begin, i64 row_end, i64 col_begin, i64 col_end) {
  constexpr int TM = Cfg::kMR / 16, TN = Cfg::kNB;
  static_assert(Cfg::kMR % 16 == 0 && TM >= 1 && TM <= 2 && TN >= 1 && TN <= 2,
                "an AMX register tile is 1 or 2 tiles of 16 rows by 1 or 2 panels");
  static_assert(Cfg::kKC % amx::kTileBytes == 0, "an AMX K step is a multiple of 64");
  const amx::TileScope tiles;
  alignas(64) i32 partial[Cfg::kMC * Cfg::kNC];
  // The rows of the last, partial tile of 16 (when this block has it), zero-padded.
  alignas(64) i8 tail[16 * Cfg::kKC];
  const i64 tail_row = p.m / 16 * 16;
  const bool has_tail = tail_row < p.m && tail_row >= row_begin && tail_row < row_end;
  for (i32 k0 = 0; k0 < p.k_padded; k0 += Cfg::kKC) {
    const i32 kc = min_of<i32>(Cfg::kKC, p.k_padded - k0);
    const bool first = k0 == 0, last = k0 + kc >= p.k_padded;
    if (has_tail) {
      for (int r = 0; r < 16; ++r) {
        const i64 row = tail_row + r;
        for (i32 k = 0; k < kc; ++k) tail[r * Cfg::kKC + k] = row < p.m ? p.a[row * p.lda + k0 + k] : 0;
      }
    }
    for (i64 col = col_begin; col < col_end; col += TN * kPanel) {
      const bool two_panels = TN > 1 && col + kPanel < col_end;
      for (i64 row = row_begin; row < row_end; row += Cfg::kMR) {
        const i8* a[2];
        i64 lda[2];
        const bool two_tiles = TM > 1 && row + 16 < row_end;
        for (int t = 0; t < TM; ++t) {
          const i64 r = row + 16 * t;
          const bool in_tail = has_tail && r == tail_row;
          a[t] = in_tail ? tail : p.a + r * p.lda + k0;
          lda[t] = in_tail ? Cfg::kKC : p.lda;
        }
        i32* part = partial + (row - row_begin) * Cfg::kNC + (col - col_begin);
        if (two_tiles && two_panels) {
          tile_amx<Cfg, TM, TN>(p, a, lda, row, col, k0, kc, first, last, part, Cfg::kNC);
        } else if (two_tiles) {
          tile_amx<Cfg, TM, 1>(p, a, lda, row, col, k0, kc, first, last, part, Cfg::kNC);
        } else if (two_panels) {
          tile_amx<Cfg, 1, TN>(p, a, lda, row, col, k0, kc, first, last, part, Cfg::kNC);
        } else {
          tile_amx<Cfg, 1, 1>(p, a, lda, row, col, k0, kc, first, last, part, Cfg::kNC);
        }
      }
    }
  }
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
  static_assert(!is_avx512(Cfg::kIsa), "an AVX-512 VNNI program needs a target with avx512f/bw/vl/vnni");
#endif
#if !QJIT_HOST_AMX
  static_assert(Cfg::kIsa != Isa::kAmx, "an AMX program needs a target with amx-tile and amx-int8");
#endif
  const i64 row_begin = static_cast<i64>(by) * Cfg::kMC;
  const i64 col_begin = static_cast<i64>(bx) * Cfg::kNC;
  const i64 row_end = min_of<i64>(p.m, row_begin + Cfg::kMC);
  const i64 col_end = min_of<i64>(p.n, col_begin + Cfg::kNC);
#if QJIT_HOST_AMX
  if constexpr (Cfg::kIsa == Isa::kAmx) {
    detail::block_amx<Cfg>(p, row_begin, row_end, col_begin, col_end);
  } else
#endif
  {
    detail::block_registers<Cfg>(p, row_begin, row_end, col_begin, col_end);
  }
}

}  // namespace qjit::host
