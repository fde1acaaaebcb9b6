#pragma once
// Host kernel of the cpu device's attention: o = softmax(q k^T * scale) v per batch and head,
// bf16 q, k, v, f32 arithmetic, output rounded to nearest even to kOut. A grid block takes
// kMQ query rows of one head of one batch (grid x, y, z) and walks the keys in tiles of kKT
// with the online softmax (running row max and sum, the output rescaled when the max grows),
// then divides by the sum, as the reference does once at the end.
//   - S = q k^T: products of bf16 pairs (vdpbf16ps where the target has AVX-512 BF16, else two
//     f32 FMAs; exact products either way) on keys packed by the host in panels of 16 keys,
//     [ceil(Skv / 16)][Dh / 2][16][2] bf16 per (batch, head), keys beyond Skv zero (masked);
//   - P v: f32 FMAs on the tile's values widened to f32 once per tile;
//   - exp: 2^n * e^r with n = round(x / ln 2), r by Cody-Waite reduction and a degree-7 Taylor
//     polynomial (relative error below 2^-23 on the reduced range), scalef for 2^n.
// A NaN score makes its row NaN, as in the reference. Agrees with the reference by NMSE.
//
// Config (QjitConfig): kIsa, kOut, kHeadDim, kMQ, kKT.

#include "host/epilogue.h"
#include "host/types.h"
#include "host/vec512.h"

namespace qjit::host {

// Parameters of the entry (jit/impls/host_attention.hpp: HostAttentionParams).
struct AttentionArgs {
  const u16* q;         // [B, Sq, H * Dh] bf16
  i64 q_row_stride, q_batch_stride;
  const u16* k_packed;  // [B, H] blocks of ceil(Skv / 16) * Dh * 16 bf16
  const u16* v;         // [B, Skv, H * Dh] bf16
  i64 v_row_stride, v_batch_stride;
  void* out;            // [B, Sq, H * Dh] of kOut
  i64 o_row_stride, o_batch_stride;
  float scale;
  i32 sq, skv, heads, pad;
};

namespace detail {

inline float neg_inf() { return float_of(0xff800000u); }

template <class Cfg>
struct AttentionTile {
  static constexpr int kDH = Cfg::kHeadDim, kMQ = Cfg::kMQ, kKT = Cfg::kKT;
  alignas(64) float s[kMQ][kKT];   // the scores, then the probabilities, of the key tile
  alignas(64) float o[kMQ][kDH];   // the running output
  alignas(64) float vf[kKT][kDH];  // the tile's values as f32
  float m[kMQ], l[kMQ];
  bool nan[kMQ];
};

#if QJIT_HOST_AVX512
// S[rows][keys] of the tile: 4-row x NB-panel register tiles over Dh / 2 pairs.
template <class Cfg, int NB>
void scores_avx512(const AttentionArgs& p, const u16* const* qrows, const u16* kp, int rows, AttentionTile<Cfg>& t,
                   int panel0) {
  constexpr int kPairs = Cfg::kHeadDim / 2;
  constexpr int kPanelElems = Cfg::kHeadDim * 16;
  for (int i0 = 0; i0 < rows; i0 += 4) {
    __m512 acc[4][NB];
    for (int i = 0; i < 4; ++i) {
      for (int j = 0; j < NB; ++j) acc[i][j] = _mm512_setzero_ps();
    }
    const u16* qr[4];
    for (int i = 0; i < 4; ++i) qr[i] = qrows[min_of(i0 + i, rows - 1)];
    for (int d = 0; d < kPairs; ++d) {
      __m512i b[NB];
      for (int j = 0; j < NB; ++j) b[j] = _mm512_loadu_si512(kp + static_cast<i64>(panel0 + j) * kPanelElems + d * 32);
      for (int i = 0; i < 4; ++i) {
        i32 pair;
        __builtin_memcpy(&pair, qr[i] + 2 * d, 4);
        const __m512i a = _mm512_set1_epi32(pair);
        for (int j = 0; j < NB; ++j) acc[i][j] = vec512::dot_bf16_pairs(acc[i][j], a, b[j]);
      }
    }
    const __m512 scale = _mm512_set1_ps(p.scale);
    for (int i = 0; i < 4 && i0 + i < rows; ++i) {
      for (int j = 0; j < NB; ++j) _mm512_store_ps(&t.s[i0 + i][(panel0 % (Cfg::kKT / 16) + j) * 16], _mm512_mul_ps(acc[i][j], scale));
    }
  }
}
#endif

// The scores of one row and key, in the portable path: pairs in order.
template <class Cfg>
float score_generic(const AttentionArgs& p, const u16* q, const u16* kp, i64 key) {
  const u16* panel = kp + (key / 16) * (Cfg::kHeadDim * 16) + (key % 16) * 2;
  float dot = 0.0f;
  for (int d = 0; d < Cfg::kHeadDim / 2; ++d) {
    for (int h = 0; h < 2; ++h) {
      const float product = bf16_to_f32(q[2 * d + h]) * bf16_to_f32(panel[d * 32 + h]);
      dot = dot + product;
    }
  }
  return dot * p.scale;
}

}  // namespace detail

template <class Cfg>
void attention_rows(const AttentionArgs& p, unsigned bx, unsigned by, unsigned bz) {
  static_assert(Cfg::kHeadDim % 16 == 0 && Cfg::kHeadDim <= 256, "the head dim is a multiple of 16 up to 256");
  static_assert(Cfg::kMQ % 4 == 0 && Cfg::kKT % 64 == 0, "kMQ is a multiple of 4, kKT of 64");
#if !QJIT_HOST_AVX512
  static_assert(!is_avx512(Cfg::kIsa), "an AVX-512 program needs a target with avx512f/bw/vl/vnni");
#endif
  constexpr int kDH = Cfg::kHeadDim, kMQ = Cfg::kMQ, kKT = Cfg::kKT;
  const i64 row0 = static_cast<i64>(bx) * kMQ;
  const int rows = static_cast<int>(min_of<i64>(kMQ, p.sq - row0));
  if (rows <= 0) return;
  const i64 head = by, batch = bz;
  const i64 col0 = head * kDH;
  const u16* qrows[kMQ];
  for (int i = 0; i < rows; ++i) qrows[i] = p.q + batch * p.q_batch_stride + (row0 + i) * p.q_row_stride + col0;
  const i64 panels = (static_cast<i64>(p.skv) + 15) / 16;
  const u16* kp = p.k_packed + (batch * p.heads + head) * panels * (kDH * 16);
  const u16* vbase = p.v + batch * p.v_batch_stride + col0;

  detail::AttentionTile<Cfg> t;
  for (int i = 0; i < rows; ++i) {
    t.m[i] = detail::neg_inf();
    t.l[i] = 0.0f;
    t.nan[i] = false;
    for (int d = 0; d < kDH; ++d) t.o[i][d] = 0.0f;
  }
  for (i64 k0 = 0; k0 < p.skv; k0 += kKT) {
    const int kt = static_cast<int>(min_of<i64>(kKT, p.skv - k0));
    // Scores.
#if QJIT_HOST_AVX512
    if constexpr (is_avx512(Cfg::kIsa)) {
      const int panel0 = static_cast<int>(k0 / 16);
      const int tile_panels = (kt + 15) / 16;
      int j = 0;
      for (; j + 4 <= tile_panels; j += 4) detail::scores_avx512<Cfg, 4>(p, qrows, kp, rows, t, panel0 + j);
      for (; j < tile_panels; ++j) detail::scores_avx512<Cfg, 1>(p, qrows, kp, rows, t, panel0 + j);
    } else
#endif
    {
      for (int i = 0; i < rows; ++i) {
        for (int j = 0; j < kt; ++j) t.s[i][j] = detail::score_generic<Cfg>(p, qrows[i], kp, k0 + j);
      }
    }
    // The tile's values as f32.
    for (int j = 0; j < kt; ++j) {
      const u16* vr = vbase + (k0 + j) * p.v_row_stride;
      for (int d = 0; d < kDH; ++d) t.vf[j][d] = bf16_to_f32(vr[d]);
    }
    // Online softmax and P v, row by row.
    for (int i = 0; i < rows; ++i) {
      float* s = t.s[i];
      float mx = t.m[i];
      for (int j = 0; j < kt; ++j) {
        if (is_nan(s[j])) t.nan[i] = true;
        mx = s[j] > mx ? s[j] : mx;
      }
      float* o = t.o[i];
      float sum = 0.0f, alpha;
#if QJIT_HOST_AVX512
      if constexpr (is_avx512(Cfg::kIsa)) {
        const __m512 vm = _mm512_set1_ps(mx);
        alpha = _mm512_cvtss_f32(vec512::exp16(_mm512_set1_ps(t.m[i] - mx)));
        __m512 vs = _mm512_setzero_ps();
        for (int j = 0; j < kt; j += 16) {
          const __mmask16 mask = vec512::tail_mask(kt - j);
          const __m512 e = _mm512_maskz_mov_ps(mask, vec512::exp16(_mm512_sub_ps(_mm512_loadu_ps(s + j), vm)));
          _mm512_storeu_ps(s + j, e);
          vs = _mm512_add_ps(vs, e);
        }
        sum = _mm512_reduce_add_ps(vs);
        const __m512 va = _mm512_set1_ps(alpha);
        __m512 acc[kDH / 16];
        for (int d = 0; d < kDH / 16; ++d) acc[d] = _mm512_mul_ps(_mm512_load_ps(o + 16 * d), va);
        for (int j = 0; j < kt; ++j) {
          const __m512 pj = _mm512_set1_ps(s[j]);
          for (int d = 0; d < kDH / 16; ++d) acc[d] = _mm512_fmadd_ps(pj, _mm512_load_ps(&t.vf[j][16 * d]), acc[d]);
        }
        for (int d = 0; d < kDH / 16; ++d) _mm512_store_ps(o + 16 * d, acc[d]);
      } else
#endif
      {
        alpha = expf(t.m[i] - mx);
        for (int j = 0; j < kt; ++j) {
          s[j] = expf(s[j] - mx);
          sum = sum + s[j];
        }
        for (int d = 0; d < kDH; ++d) o[d] = o[d] * alpha;
        for (int j = 0; j < kt; ++j) {
          for (int d = 0; d < kDH; ++d) {
            const float product = s[j] * t.vf[j][d];
            o[d] = o[d] + product;
          }
        }
      }
      t.l[i] = t.l[i] * alpha + sum;
      t.m[i] = mx;
    }
  }
  // o / l, rounded to the output dtype.
  for (int i = 0; i < rows; ++i) {
    const i64 at = batch * p.o_batch_stride + (row0 + i) * p.o_row_stride + col0;
    const float nan = float_of(0x7fc00000u);
    for (int d = 0; d < kDH; ++d) {
      const float y = t.nan[i] ? nan : t.o[i][d] / t.l[i];
      store_from_f32<Cfg::kOut>(p.out, at + d, y);
    }
  }
}

}  // namespace qjit::host
