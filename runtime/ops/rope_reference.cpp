#include "runtime/ops/rope_reference.hpp"

#include <algorithm>
#include <cmath>

namespace qjit::ops {

namespace {

// One axis group: n pairs over `length` positions, appended to the table (Wan's
// rope_params(1024, 2n, theta) for positions 0..length-1).
void append_axis(RopeTable& t, std::int64_t length, std::int64_t n, double theta) {
  std::vector<double> inv(static_cast<std::size_t>(n));
  for (std::int64_t j = 0; j < n; ++j) {
    // NOTE: torch.arange(0, dim, 2).to(float64).div(dim), then 1.0 / pow(theta, .): float64.
    const double exponent = static_cast<double>(2 * j) / static_cast<double>(2 * n);
    inv[static_cast<std::size_t>(j)] = 1.0 / std::pow(theta, exponent);
  }
  for (std::int64_t pos = 0; pos < length; ++pos) {
    for (std::int64_t j = 0; j < n; ++j) {
      const double angle = static_cast<double>(pos) * inv[static_cast<std::size_t>(j)];
      t.cos.push_back(static_cast<float>(std::cos(angle)));
      t.sin.push_back(static_cast<float>(std::sin(angle)));
    }
  }
}

}  // namespace

std::int64_t RopeTable::entry(const RopeGrid& grid, std::int64_t t, std::int64_t j) const {
  if (j < n_f) return (t / (grid.height * grid.width)) * n_f + j;
  if (j < n_f + n_h) return off_h + ((t / grid.width) % grid.height) * n_h + (j - n_f);
  return off_w + (t % grid.width) * n_w + (j - n_f - n_h);
}

RopeTable rope_table(std::int64_t head_dim, const RopeGrid& grid, double theta) {
  RopeTable t;
  t.half = head_dim / 2;
  t.n_h = t.half / 3;
  t.n_w = t.half / 3;
  t.n_f = t.half - t.n_h - t.n_w;
  const std::size_t total = static_cast<std::size_t>(grid.frames * t.n_f + grid.height * t.n_h + grid.width * t.n_w);
  t.cos.reserve(total);
  t.sin.reserve(total);
  append_axis(t, grid.frames, t.n_f, theta);
  t.off_h = t.size();
  append_axis(t, grid.height, t.n_h, theta);
  t.off_w = t.size();
  append_axis(t, grid.width, t.n_w, theta);
  return t;
}

Tensor rope_3d_reference(const Tensor& x, std::int64_t heads, const RopeGrid& grid, DType out, double theta) {
  const std::int64_t batch = x.size(0), seq = x.size(1), width = x.size(2);
  const RopeTable table = rope_table(width / heads, grid, theta);
  const std::int64_t tokens = grid.frames * grid.height * grid.width;
  std::vector<float> y = x.to_f32_vector();  // row-major, widened exactly
  for (std::int64_t b = 0; b < batch; ++b) {
    for (std::int64_t t = 0; t < std::min(seq, tokens); ++t) {
      float* row = y.data() + (b * seq + t) * width;
      for (std::int64_t h = 0; h < heads; ++h) {
        for (std::int64_t j = 0; j < table.half; ++j) {
          float* pair = row + h * 2 * table.half + 2 * j;
          const std::size_t k = static_cast<std::size_t>(table.entry(grid, t, j));
          const float a = pair[0], bb = pair[1], c = table.cos[k], s = table.sin[k];
          const float ac = a * c, bs = bb * s, as = a * s, bc = bb * c;
          pair[0] = ac - bs;
          pair[1] = as + bc;
        }
      }
    }
  }
  return Tensor::from_f32({batch, seq, width}, y, out);  // RNE to bf16 / f16, f32 as is
}

}  // namespace qjit::ops
