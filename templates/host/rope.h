#pragma once
// Host kernel of 3-D RoPE for the cpu device (the CUDA one: templates/impls/rope.cuh; the
// order of operations: runtime/ops/rope_reference.hpp): per pair (a, b) of a head and its
// table entry (cos, sin), re = a * cos - b * sin and im = a * sin + b * cos, each operation
// rounded once in f32 (-ffp-contract=off), then rounded to kOut: the same bits as the
// reference on every ISA, up to NaN payloads (host/elementwise.h says why). Tokens past the grid (padding) are copied, rounded to kOut. A grid
// block takes kTokens tokens (rows of x); a token's table entries are three contiguous runs
// (its frame's, its row's and its column's), so the pair loops vectorize.
//
// Config (QjitConfig): kIsa, kIn, kOut, kTokens.

#include "host/types.h"

namespace qjit::host {

// Parameters of the entry (jit/impls/rope.hpp: RopeParams, shared with CUDA). x and out are
// contiguous [B, S, heads, half, 2]; pairs = B * S * heads * half; the table is cos at
// [0, sin_offset) and sin at [sin_offset, 2 * sin_offset), each the frame group's [F][n_f],
// the height group's [H][n_h] from off_h and the width group's [W][half - n_f - n_h] from off_w.
struct RopeArgs {
  const void* x;
  void* out;
  const float* table;
  i64 sin_offset, off_h, off_w, pairs, seq, grid_tokens;
  i32 grid_h, grid_w, heads, half, n_f, n_h;
};

namespace detail {

// Pairs [j0, j0 + n) of every head of one token from cos / sin runs starting at entry k.
template <class Cfg>
inline void rope_group(const RopeArgs& p, const void* x, void* out, i64 base, i32 j0, i32 n, i64 k) {
  const float* cs = p.table + k;
  const float* sn = p.table + p.sin_offset + k;
  for (i32 h = 0; h < p.heads; ++h) {
    const i64 at = base + (static_cast<i64>(h) * p.half + j0) * 2;
    for (i32 j = 0; j < n; ++j) {
      const float a = load_as_f32<Cfg::kIn>(x, at + 2 * j), b = load_as_f32<Cfg::kIn>(x, at + 2 * j + 1);
      const float c = cs[j], s = sn[j];
      const float ac = a * c, bs = b * s, as = a * s, bc = b * c;
      store_from_f32<Cfg::kOut>(out, at + 2 * j, ac - bs);
      store_from_f32<Cfg::kOut>(out, at + 2 * j + 1, as + bc);
    }
  }
}

}  // namespace detail

template <class Cfg>
void rope_rows(const RopeArgs& p, unsigned bx, unsigned, unsigned) {
  static_assert(Cfg::kTokens >= 1, "a grid block takes at least one token");
  const i64 width = static_cast<i64>(p.heads) * p.half * 2;
  const i64 rows = p.pairs / (static_cast<i64>(p.heads) * p.half);
  const i64 begin = static_cast<i64>(bx) * Cfg::kTokens;
  const i64 end = min_of<i64>(rows, begin + Cfg::kTokens);
  const i32 n_w = p.half - p.n_f - p.n_h;
  const i64 hw = static_cast<i64>(p.grid_h) * p.grid_w;
  for (i64 r = begin; r < end; ++r) {
    const i64 t = r % p.seq, base = r * width;
    if (t >= p.grid_tokens) {
      for (i64 i = 0; i < width; ++i) store_from_f32<Cfg::kOut>(p.out, base + i, load_as_f32<Cfg::kIn>(p.x, base + i));
      continue;
    }
    detail::rope_group<Cfg>(p, p.x, p.out, base, 0, p.n_f, (t / hw) * p.n_f);
    detail::rope_group<Cfg>(p, p.x, p.out, base, p.n_f, p.n_h, p.off_h + ((t / p.grid_w) % p.grid_h) * p.n_h);
    detail::rope_group<Cfg>(p, p.x, p.out, base, p.n_f + p.n_h, n_w, p.off_w + (t % p.grid_w) * n_w);
  }
}

}  // namespace qjit::host
