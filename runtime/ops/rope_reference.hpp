#pragma once
// The reference of 3-D RoPE (runtime/ops/rope.hpp), what the `cpu` device runs, and the
// cos/sin table every device uses.
//
// Pairs: c = Dh/2 per head; groups of n_f = c - 2*(c/3) (frames), n_h = c/3 (height) and
// n_w = c/3 (width) pairs, in that order along the head. For a group of n pairs on an axis
// (Wan's rope_params(1024, dim = 2n, theta)), all in float64:
//   inv[j]        = 1.0 / pow(theta, (2j) / (double)(2n))         j in [0, n)
//   angle(pos, j) = (double)pos * inv[j]
//   cos, sin      = std::cos(angle), std::sin(angle), each rounded once to f32.
// Token t < F*H*W of the sequence has positions f = t / (H*W), h = (t / W) % H, w = t % W;
// pair j of its group uses the angle of that group's axis position.
// Rotation of (a, b) = (x[2j], x[2j+1]) widened exactly to f32, each operation one IEEE fp32
// rounding (the project compiles with -ffp-contract=off; the kernel uses .rn PTX):
//   re = (a * cos) - (b * sin)
//   im = (a * sin) + (b * cos)
// then re, im rounded to the output dtype (RNE). Tokens t >= F*H*W are a, b rounded to the
// output dtype.

#include <cstdint>
#include <vector>

#include "runtime/ops/rope.hpp"

namespace qjit::ops {

/// The cos/sin table of one (Dh, grid, theta), laid out as the kernel reads it: cos[size()]
/// then sin[size()], each the frame group's [frames][n_f], then the height group's
/// [height][n_h] from off_h, then the width group's [width][n_w] from off_w.
struct RopeTable {
  std::int64_t half = 0;           // c = Dh / 2 pairs per head
  std::int64_t n_f = 0, n_h = 0, n_w = 0;  // pairs per group
  std::int64_t off_h = 0, off_w = 0;       // where the height / width groups start
  std::vector<float> cos, sin;     // each frames*n_f + height*n_h + width*n_w entries
  std::int64_t size() const { return static_cast<std::int64_t>(cos.size()); }
  /// The table entry of pair j (in [0, half)) of token t (< frames*height*width).
  std::int64_t entry(const RopeGrid& grid, std::int64_t t, std::int64_t j) const;
};

/// The table for head_dim (even, > 0), grid (sizes >= 1) and theta (finite, > 0). The caller
/// validates (rope_3d does).
RopeTable rope_table(std::int64_t head_dim, const RopeGrid& grid, double theta);

/// The reference on a cpu tensor x [B, S, heads*Dh] (f32, f16 or bf16; any strides). Returns
/// a contiguous cpu tensor of `out`. The caller validates (rope_3d does).
Tensor rope_3d_reference(const Tensor& x, std::int64_t heads, const RopeGrid& grid, DType out, double theta);

}  // namespace qjit::ops
