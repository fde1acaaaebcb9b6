#pragma once
// Host kernel of the cpu device's float GEMMs: y = epilogue(Σ_k a·w) with bf16 operands whose
// products are exact in f32, summed in f32. One kernel serves four problems, by what the
// operands hold and how K is summed (kAccum):
//   - the unquantized bf16 GEMM and the weight-only one (weights dequantized to bf16 once at
//     apply time): one f32 sum over K (kSequential), epilogue fmaf(acc, 1, bias);
//   - fp8 W8A8: activation and weight codes decoded to bf16 (exact: an fp8 value has at most
//     4 significant bits), sums within each 128-wide K block promoted to the f32 total
//     (kBlock128, DESIGN.md section 5), epilogue fmaf(total, scale_a * scale_w, bias);
//   - block fp8: each block's sum times scale_a[m, g] * scale_w[n / 128, g] before it is
//     added (kBlock128Scaled), epilogue fmaf(total, 1, bias).
// The additions are in another order than the reference's (AVX-512 BF16's vdpbf16ps adds two
// products per step; the portable path adds one at a time), and vdpbf16ps treats subnormal
// inputs and results as zero (below 1.2e-38: never reached by fp8 products, whose smallest is
// 2^-32): these families agree with the reference by NMSE, as on the GPU.
//
// Operands: activations [m, 2 * k_pairs] bf16 rows (K padded with zeros to a multiple of
// 32), weights packed once at apply time in panels of 16 output channels: panel p holds
// channels 16p..16p+15 as [k_pairs][16][2] bf16 (channels beyond n and K beyond K are 0).
//
// AMX (Isa::kAmx): tdpbf16ps takes an A tile of 16 rows x 16 pairs and a B tile of 16 pairs
// of one panel (as packed, 64 bytes apart), adds pair products into f32 (subnormals flushed,
// as vdpbf16ps); the last partial tile of 16 rows is copied, zero-padded, per K step.
//
// Blocking as host/qgemm_int8.h: a grid block computes kMC x kNC of the output in K steps of
// kKC (running totals in a f32 tile between them), each step kMR x (kNB * 16) register tiles
// (on AMX, kMR / 16 x kNB tiles of 16 x 16).
//
// Config (QjitConfig): kIsa, kAccum, kOut, kHasBias, kBias, kAct, kMR, kNB, kMC, kNC, kKC.

#include "host/amx.h"
#include "host/epilogue.h"
#include "host/types.h"
#include "host/vec512.h"

namespace qjit::host {

enum class Accum : int { kSequential = 0, kBlock128, kBlock128Scaled };

// Parameters of the entry (jit/impls/host_gemm_bf16.hpp: HostGemmBf16Params).
struct GemmBf16Args {
  const u16* a;           // [m, 2 * k_pairs] bf16, lda elements apart
  i64 lda;
  const float* a_scales;  // kBlock128: [m] (stride 1) or [1] (0); kBlock128Scaled: [m, k_blocks] (k_blocks)
  i64 a_scale_stride;
  const u16* w_packed;    // ceil(n / 16) panels of k_pairs * 32 bf16
  const float* w_scales;  // kBlock128: [n] (stride 1) or [1] (0); kBlock128Scaled: [ceil(n / 128), k_blocks]
  i64 w_scale_stride;
  const void* bias;       // [n] of kBias, or null
  void* out;              // [m, n] of kOut, ldo elements apart
  i64 ldo;
  i32 m, n, k_pairs, pad;
};

namespace detail {

inline constexpr int kBf16Panel = 16;
inline constexpr int kBlockPairs = 64;  // a 128-wide K block

template <class Cfg>
inline float block_scale(const GemmBf16Args& p, i64 row, i64 col, i32 g) {
  return p.a_scales[row * p.a_scale_stride + g] * p.w_scales[(col / 128) * p.w_scale_stride + g];
}

// total (+)= the block's sum, as the reference promotes it.
template <class Cfg>
inline float promote(const GemmBf16Args& p, float total, float sum, i64 row, i64 col, i32 g) {
  if constexpr (Cfg::kAccum == Accum::kBlock128Scaled) {
    const float scaled = sum * block_scale<Cfg>(p, row, col, g);
    return total + scaled;
  } else {
    return total + sum;
  }
}

// The portable register tile over pairs [q0, q0 + nq): products one at a time, in K order.
template <class Cfg>
void tile_generic(const GemmBf16Args& p, i64 row0, i64 col0, int panels, i32 q0, i32 nq, bool first, float* total,
                  i64 ldt) {
  const i64 panel_elems = static_cast<i64>(p.k_pairs) * 2 * kBf16Panel;
  for (int i = 0; i < Cfg::kMR; ++i) {
    const i64 row = min_of<i64>(row0 + i, p.m - 1);
    const u16* a = p.a + row * p.lda;
    for (int j = 0; j < panels * kBf16Panel; ++j) {
      const i64 col = col0 + j;
      const u16* w = p.w_packed + (col / kBf16Panel) * panel_elems + (col % kBf16Panel) * 2;
      float* t = total + i * ldt + j;
      if (first) *t = 0.0f;
      const auto dot = [&](i32 from, i32 to, float sum) {
        for (i32 q = from; q < to; ++q) {
          for (int h = 0; h < 2; ++h) {
            const float product = bf16_to_f32(a[2 * q + h]) * bf16_to_f32(w[static_cast<i64>(q) * 2 * kBf16Panel + h]);
            sum = sum + product;
          }
        }
        return sum;
      };
      if constexpr (Cfg::kAccum == Accum::kSequential) {
        *t = dot(q0, q0 + nq, *t);
      } else {
        for (i32 b = q0; b < q0 + nq; b += kBlockPairs) {
          *t = promote<Cfg>(p, *t, dot(b, min_of<i32>(b + kBlockPairs, q0 + nq), 0.0f), row, col, b / kBlockPairs);
        }
      }
    }
  }
}

#if QJIT_HOST_AVX512
// The AVX-512 register tile: kMR x NB accumulators of 16 f32 lanes, its loops fully unrolled
// so that acc stays in registers (host/qgemm_int8.h's tile_vnni says why).
template <class Cfg, int NB>
void tile_avx512(const GemmBf16Args& p, i64 row0, i64 col0, i32 q0, i32 nq, bool first, float* total, i64 ldt) {
  constexpr int MR = Cfg::kMR;
  const i64 panel_elems = static_cast<i64>(p.k_pairs) * 2 * kBf16Panel;
  const u16* w = p.w_packed + (col0 / kBf16Panel) * panel_elems;
  const u16* a[MR];
  #pragma clang loop unroll(full)
  for (int i = 0; i < MR; ++i) a[i] = p.a + min_of<i64>(row0 + i, p.m - 1) * p.lda;
  __m512 acc[MR][NB];
  const auto run = [&](i32 from, i32 to) {
    for (i32 q = from; q < to; ++q) {
      __m512i b[NB];
      #pragma clang loop unroll(full)
      for (int j = 0; j < NB; ++j) b[j] = _mm512_loadu_si512(w + j * panel_elems + static_cast<i64>(q) * 2 * kBf16Panel);
      #pragma clang loop unroll(full)
      for (int i = 0; i < MR; ++i) {
        i32 pair;
        __builtin_memcpy(&pair, a[i] + 2 * q, 4);
        const __m512i av = _mm512_set1_epi32(pair);
        #pragma clang loop unroll(full)
        for (int j = 0; j < NB; ++j) acc[i][j] = vec512::dot_bf16_pairs(acc[i][j], av, b[j]);
      }
    }
  };
  if constexpr (Cfg::kAccum == Accum::kSequential) {
    #pragma clang loop unroll(full)
    for (int i = 0; i < MR; ++i) {
      #pragma clang loop unroll(full)
      for (int j = 0; j < NB; ++j) acc[i][j] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(total + i * ldt + j * 16);
    }
    run(q0, q0 + nq);
    #pragma clang loop unroll(full)
    for (int i = 0; i < MR; ++i) {
      #pragma clang loop unroll(full)
      for (int j = 0; j < NB; ++j) _mm512_storeu_ps(total + i * ldt + j * 16, acc[i][j]);
    }
  } else {
    if (first) {
      #pragma clang loop unroll(full)
      for (int i = 0; i < MR; ++i) {
        #pragma clang loop unroll(full)
        for (int j = 0; j < NB; ++j) _mm512_storeu_ps(total + i * ldt + j * 16, _mm512_setzero_ps());
      }
    }
    for (i32 bq = q0; bq < q0 + nq; bq += kBlockPairs) {
      #pragma clang loop unroll(full)
      for (int i = 0; i < MR; ++i) {
        #pragma clang loop unroll(full)
        for (int j = 0; j < NB; ++j) acc[i][j] = _mm512_setzero_ps();
      }
      run(bq, min_of<i32>(bq + kBlockPairs, q0 + nq));
      const i32 g = bq / kBlockPairs;
      #pragma clang loop unroll(full)
      for (int i = 0; i < MR; ++i) {
        #pragma clang loop unroll(full)
        for (int j = 0; j < NB; ++j) {
          __m512 sum = acc[i][j];
          if constexpr (Cfg::kAccum == Accum::kBlock128Scaled) {
            // NOTE: the columns of one panel share a 128 block (panels are 16-aligned).
            const i64 row = min_of<i64>(row0 + i, p.m - 1);
            sum = _mm512_mul_ps(sum, _mm512_set1_ps(block_scale<Cfg>(p, row, col0 + j * 16, g)));
          }
          float* t = total + i * ldt + j * 16;
          _mm512_storeu_ps(t, _mm512_add_ps(_mm512_loadu_ps(t), sum));
        }
      }
    }
  }
}

template <class Cfg, int NB>
void tile_avx512_upto(const GemmBf16Args& p, i64 row0, i64 col0, int panels, i32 q0, i32 nq, bool first,
                      float* total, i64 ldt) {
  if constexpr (NB > 1) {
    if (panels < NB) return tile_avx512_upto<Cfg, NB - 1>(p, row0, col0, panels, q0, nq, first, total, ldt);
  }
  tile_avx512<Cfg, NB>(p, row0, col0, q0, nq, first, total, ldt);
}
#endif

// One grid block's totals in vector registers (AVX-512) or scalar code (generic).
template <class Cfg>
void block_registers(const GemmBf16Args& p, i64 row_begin, i64 row_end, i64 col_begin, i64 col_end, float* total) {
  constexpr int kTileCols = Cfg::kNB * kBf16Panel;
  constexpr i32 kStepPairs = Cfg::kKC / 2;
  for (i32 q0 = 0; q0 < p.k_pairs || q0 == 0; q0 += kStepPairs) {
    const i32 nq = min_of<i32>(kStepPairs, p.k_pairs - q0);
    for (i64 col = col_begin; col < col_end; col += kTileCols) {
      const int panels = static_cast<int>(min_of<i64>(Cfg::kNB, (col_end - col + 15) / 16));
      for (i64 row = row_begin; row < row_end; row += Cfg::kMR) {
        float* t = total + (row - row_begin) * Cfg::kNC + (col - col_begin);
#if QJIT_HOST_AVX512
        if constexpr (is_avx512(Cfg::kIsa)) {
          tile_avx512_upto<Cfg, Cfg::kNB>(p, row, col, panels, q0, nq, q0 == 0, t, Cfg::kNC);
          continue;
        }
#endif
        tile_generic<Cfg>(p, row, col, panels, q0, nq, q0 == 0, t, Cfg::kNC);
      }
    }
    if (p.k_pairs == 0) break;
  }
}

#if QJIT_HOST_AMX
// TM x TN tiles of 16 x 16 f32 sums over pairs [q0, q0 + nq) (a multiple of 16) into the
// block's totals; a[i] is row tile i's pair q0 (rows lda[i] bytes apart). Tile numbers as in
// host/qgemm_int8.h: C (i, j) is 2i + j, A 4 and 5, B 6 and 7.
template <class Cfg, int TM, int TN>
void tile_amx(const GemmBf16Args& p, const u16* const* a, const i64* lda, i64 row0, i64 col0, i32 q0, i32 nq,
              bool first, float* total, i64 ldt) {
  const i64 panel_elems = static_cast<i64>(p.k_pairs) * 2 * kBf16Panel;
  const u16* w = p.w_packed + (col0 / kBf16Panel) * panel_elems + static_cast<i64>(q0) * 2 * kBf16Panel;
  // Pairs [from, to) relative to q0.
  const auto run = [&](i32 from, i32 to) {
    for (i32 q = from; q < to; q += 16) {
      _tile_loadd(4, a[0] + 2 * q, lda[0]);
      _tile_loadd(6, w + static_cast<i64>(q) * 2 * kBf16Panel, amx::kTileBytes);
      _tile_dpbf16ps(0, 4, 6);
      if constexpr (TN > 1) {
        _tile_loadd(7, w + panel_elems + static_cast<i64>(q) * 2 * kBf16Panel, amx::kTileBytes);
        _tile_dpbf16ps(1, 4, 7);
      }
      if constexpr (TM > 1) {
        _tile_loadd(5, a[1] + 2 * q, lda[1]);
        _tile_dpbf16ps(2, 5, 6);
        if constexpr (TN > 1) _tile_dpbf16ps(3, 5, 7);
      }
    }
  };
  const auto zero = [] {
    _tile_zero(0);
    if constexpr (TN > 1) _tile_zero(1);
    if constexpr (TM > 1) _tile_zero(2);
    if constexpr (TM > 1 && TN > 1) _tile_zero(3);
  };
  // The C tiles to (rows ld floats apart).
  const auto store = [](float* to, i64 ld) {
    _tile_stored(0, to, ld * 4);
    if constexpr (TN > 1) _tile_stored(1, to + 16, ld * 4);
    if constexpr (TM > 1) _tile_stored(2, to + 16 * ld, ld * 4);
    if constexpr (TM > 1 && TN > 1) _tile_stored(3, to + 16 * ld + 16, ld * 4);
  };
  if constexpr (Cfg::kAccum == Accum::kSequential) {
    if (first) {
      zero();
    } else {
      _tile_loadd(0, total, ldt * 4);
      if constexpr (TN > 1) _tile_loadd(1, total + 16, ldt * 4);
      if constexpr (TM > 1) _tile_loadd(2, total + 16 * ldt, ldt * 4);
      if constexpr (TM > 1 && TN > 1) _tile_loadd(3, total + 16 * ldt + 16, ldt * 4);
    }
    run(0, nq);
    store(total, ldt);
  } else {
    constexpr int kCols = TN * 16;
    alignas(64) float block[TM * 16 * kCols];
    if (first) {
      // NOTE: as the AVX-512 path: totals start at +0 (also when K takes no step).
      for (int i = 0; i < TM * 16; ++i) {
        for (int j = 0; j < TN; ++j) _mm512_storeu_ps(total + i * ldt + j * 16, _mm512_setzero_ps());
      }
    }
    for (i32 bq = 0; bq < nq; bq += kBlockPairs) {
      zero();
      run(bq, min_of<i32>(bq + kBlockPairs, nq));
      store(block, kCols);
      const i32 g = (q0 + bq) / kBlockPairs;
      for (int i = 0; i < TM * 16; ++i) {
        const i64 row = min_of<i64>(row0 + i, p.m - 1);
        for (int j = 0; j < TN; ++j) {
          __m512 sum = _mm512_load_ps(block + i * kCols + j * 16);
          if constexpr (Cfg::kAccum == Accum::kBlock128Scaled) {
            sum = _mm512_mul_ps(sum, _mm512_set1_ps(block_scale<Cfg>(p, row, col0 + j * 16, g)));
          }
          float* t = total + i * ldt + j * 16;
          _mm512_storeu_ps(t, _mm512_add_ps(_mm512_loadu_ps(t), sum));
        }
      }
    }
  }
}

// One grid block's totals on AMX tiles.
template <class Cfg>
void block_amx(const GemmBf16Args& p, i64 row_begin, i64 row_end, i64 col_begin, i64 col_end, float* total) {
  constexpr int TM = Cfg::kMR / 16, TN = Cfg::kNB;
  static_assert(Cfg::kMR % 16 == 0 && TM >= 1 && TM <= 2 && TN >= 1 && TN <= 2,
                "an AMX register tile is 1 or 2 tiles of 16 rows by 1 or 2 panels");
  constexpr i32 kStepPairs = Cfg::kKC / 2;
  const amx::TileScope tiles;
  alignas(64) u16 tail[16 * kStepPairs * 2];
  const i64 tail_row = p.m / 16 * 16;
  const bool has_tail = tail_row < p.m && tail_row >= row_begin && tail_row < row_end;
  for (i32 q0 = 0; q0 < p.k_pairs || q0 == 0; q0 += kStepPairs) {
    const i32 nq = min_of<i32>(kStepPairs, p.k_pairs - q0);
    if (has_tail) {
      for (int r = 0; r < 16; ++r) {
        const i64 row = tail_row + r;
        for (i32 e = 0; e < 2 * nq; ++e) tail[r * 2 * kStepPairs + e] = row < p.m ? p.a[row * p.lda + 2 * q0 + e] : 0;
      }
    }
    for (i64 col = col_begin; col < col_end; col += TN * kBf16Panel) {
      const bool two_panels = TN > 1 && col + kBf16Panel < col_end;
      for (i64 row = row_begin; row < row_end; row += Cfg::kMR) {
        const u16* a[2];
        i64 lda[2];
        for (int t = 0; t < TM; ++t) {
          const i64 r = row + 16 * t;
          const bool in_tail = has_tail && r == tail_row;
          a[t] = in_tail ? tail : p.a + r * p.lda + 2 * static_cast<i64>(q0);
          lda[t] = (in_tail ? 2 * kStepPairs : p.lda) * 2;
        }
        const bool two_tiles = TM > 1 && row + 16 < row_end;
        float* t = total + (row - row_begin) * Cfg::kNC + (col - col_begin);
        const bool first = q0 == 0;
        if (two_tiles && two_panels) {
          tile_amx<Cfg, TM, TN>(p, a, lda, row, col, q0, nq, first, t, Cfg::kNC);
        } else if (two_tiles) {
          tile_amx<Cfg, TM, 1>(p, a, lda, row, col, q0, nq, first, t, Cfg::kNC);
        } else if (two_panels) {
          tile_amx<Cfg, 1, TN>(p, a, lda, row, col, q0, nq, first, t, Cfg::kNC);
        } else {
          tile_amx<Cfg, 1, 1>(p, a, lda, row, col, q0, nq, first, t, Cfg::kNC);
        }
      }
    }
    if (p.k_pairs == 0) break;
  }
}
#endif

// The epilogue of rows [row0, row1) x columns [col0, col1) from their totals.
template <class Cfg>
void epilogue(const GemmBf16Args& p, i64 row0, i64 row1, i64 col0, i64 col1, const float* total, i64 ldt) {
  constexpr bool kScaled = Cfg::kAccum == Accum::kBlock128;
  for (i64 row = row0; row < row1; ++row) {
    const float* t = total + (row - row0) * ldt;
    i64 col = col0;
#if QJIT_HOST_AVX512
    if constexpr (is_avx512(Cfg::kIsa)) {
      const __m512 sa = _mm512_set1_ps(kScaled ? p.a_scales[row * p.a_scale_stride] : 1.0f);
      for (; col < col1; col += 16) {
        const __mmask16 mask = vec512::tail_mask(col1 - col);
        __m512 s = sa;
        if constexpr (kScaled) {
          const __m512 sw =
              p.w_scale_stride ? _mm512_maskz_loadu_ps(mask, p.w_scales + col) : _mm512_set1_ps(p.w_scales[0]);
          s = _mm512_mul_ps(sa, sw);
        }
        __m512 bias = _mm512_setzero_ps();
        if constexpr (Cfg::kHasBias) bias = vec512::load16<Cfg::kBias>(p.bias, col, mask);
        const __m512 y = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, t + (col - col0)), s, bias);
        finish16<Cfg::kAct, Cfg::kOut>(p.out, row * p.ldo + col, y, mask);
      }
    }
#endif
    for (; col < col1; ++col) {
      const float s = kScaled ? p.a_scales[row * p.a_scale_stride] * p.w_scales[col * p.w_scale_stride] : 1.0f;
      float bias = 0.0f;
      if constexpr (Cfg::kHasBias) bias = load_as_f32<Cfg::kBias>(p.bias, col);
      finish_one<Cfg::kAct, Cfg::kOut>(p.out, row * p.ldo + col, fmaf(t[col - col0], s, bias));
    }
  }
}

}  // namespace detail

template <class Cfg>
void gemm_bf16(const GemmBf16Args& p, unsigned bx, unsigned by, unsigned) {
  static_assert(Cfg::kMR >= 1 && Cfg::kNB >= 1, "a register tile has rows and panels");
  static_assert(Cfg::kNC % (Cfg::kNB * detail::kBf16Panel) == 0, "kNC is a multiple of the register tile's columns");
  static_assert(Cfg::kMC % Cfg::kMR == 0, "kMC is a multiple of kMR");
  static_assert(Cfg::kKC % 128 == 0 && Cfg::kKC >= 128, "kKC is a positive multiple of 128 (the fp8 K block)");
#if !QJIT_HOST_AVX512
  static_assert(!is_avx512(Cfg::kIsa), "an AVX-512 program needs a target with avx512f/bw/vl/vnni");
#endif
#if !QJIT_HOST_AMX
  static_assert(Cfg::kIsa != Isa::kAmx, "an AMX program needs a target with amx-tile, amx-int8 and amx-bf16");
#endif
  const i64 row_begin = static_cast<i64>(by) * Cfg::kMC;
  const i64 col_begin = static_cast<i64>(bx) * Cfg::kNC;
  const i64 row_end = min_of<i64>(p.m, row_begin + Cfg::kMC);
  const i64 col_end = min_of<i64>(p.n, col_begin + Cfg::kNC);
  alignas(64) float total[Cfg::kMC * Cfg::kNC];
#if QJIT_HOST_AMX
  if constexpr (Cfg::kIsa == Isa::kAmx) {
    detail::block_amx<Cfg>(p, row_begin, row_end, col_begin, col_end, total);
  } else
#endif
  {
    detail::block_registers<Cfg>(p, row_begin, row_end, col_begin, col_end, total);
  }
  detail::epilogue<Cfg>(p, row_begin, row_end, col_begin, col_end, total, Cfg::kNC);
}

}  // namespace qjit::host
