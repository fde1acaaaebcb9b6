// 3-D RoPE on the cpu (runtime/ops/rope.hpp -> rope_reference.hpp): the reference against an
// independent float64 complex-multiplication formula of Wan's rope_apply (Dh 128 / 64 / 6,
// grids (2,3,5) and (1,1,1), padding tokens), the axis-group split against Wan's
// d - 4*(d//6) / 2*(d//6), the output rounding, views, every error before any work, and the
// cuda device (skipped with the driver's reason when no GPU answers).

#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <vector>

#include <fmt/format.h>

#include "runtime/driver/cuda_driver.hpp"
#include "runtime/ops/rope.hpp"
#include "runtime/ops/rope_reference.hpp"
#include "tests/support/checks.hpp"
#include "tests/support/wave_data.hpp"
#include "tests/support/cuda_required.hpp"

namespace qjit {
namespace {

// Values of either sign and a few magnitudes, no structure the rotation could hide.
std::vector<float> data(std::int64_t n, unsigned seed) { return test::wave(n, seed, 0.731f, 1.0f, true); }

// Wan's rope_apply written out independently in float64: per head, per pair j, the complex
// number (a + ib) times exp(i * angle), the angle of pair j being pos * theta^(-2k/dim) for
// its axis group (k the pair within the group, dim = 2 * pairs of the group) and pos the
// token's frame / row / column. Tokens beyond the grid are returned unchanged.
std::vector<double> wan_float64(const std::vector<float>& x, std::int64_t b, std::int64_t s, std::int64_t heads,
                                std::int64_t dh, const RopeGrid& g, double theta) {
  const std::int64_t c = dh / 2;
  const std::int64_t groups[3] = {dh - 4 * (dh / 6), 2 * (dh / 6), 2 * (dh / 6)};  // Wan's dims
  std::vector<double> y(x.begin(), x.end());
  for (std::int64_t bi = 0; bi < b; ++bi) {
    for (std::int64_t t = 0; t < std::min(s, g.frames * g.height * g.width); ++t) {
      const std::int64_t pos[3] = {t / (g.height * g.width), (t / g.width) % g.height, t % g.width};
      for (std::int64_t h = 0; h < heads; ++h) {
        std::int64_t j = 0;
        for (int axis = 0; axis < 3; ++axis) {
          const std::int64_t dim = groups[axis];
          for (std::int64_t k = 0; k < dim / 2; ++k, ++j) {
            const double angle = static_cast<double>(pos[axis]) * std::pow(theta, -static_cast<double>(2 * k) / dim);
            const std::size_t i = static_cast<std::size_t>(((bi * s + t) * heads + h) * dh + 2 * j);
            const std::complex<double> r = std::complex<double>(x[i], x[i + 1]) * std::polar(1.0, angle);
            y[i] = r.real();
            y[i + 1] = r.imag();
          }
        }
        EXPECT_EQ(j, c);
      }
    }
  }
  return y;
}

// Error bound of one rotated f32 value against float64: cos / sin rounded to f32 (absolute
// <= 2^-24 each, |cos|, |sin| <= 1), the two products rounded (<= 2^-24 |a|, 2^-24 |b|) and
// the sum rounded (<= 2^-24 (|a| + |b|) (1 + 2^-23)): in all < 4 * 2^-24 (|a| + |b|).
double pair_bound(double a, double b) { return 4.0 * std::ldexp(std::fabs(a) + std::fabs(b), -24); }

TEST(Rope, ReferenceMatchesFloat64ComplexFormula) {
  struct Case {
    std::int64_t b, s, heads, dh;
    RopeGrid grid;
  };
  const Case cases[] = {{2, 32, 2, 128, {2, 3, 5}},  // 30 grid tokens, 2 padding
                        {1, 30, 3, 64, {2, 3, 5}},   // no padding
                        {2, 3, 1, 64, {1, 1, 1}},    // one token (angle 0), 2 padding
                        {1, 12, 2, 6, {3, 2, 2}}};   // one pair per group
  for (const Case& c : cases) {
    const std::string what = fmt::format("B={} S={} heads={} Dh={} grid=({},{},{})", c.b, c.s, c.heads, c.dh,
                                         c.grid.frames, c.grid.height, c.grid.width);
    SCOPED_TRACE(what);
    const std::int64_t n = c.b * c.s * c.heads * c.dh;
    const std::vector<float> x = data(n, 1);
    const std::vector<float> y = rope_3d(Tensor::from_vector<float>({c.b, c.s, c.heads * c.dh}, x), c.heads, c.grid)
                                     .to_f32_vector();
    const std::vector<double> want = wan_float64(x, c.b, c.s, c.heads, c.dh, c.grid, 10000.0);
    const std::int64_t grid_tokens = c.grid.frames * c.grid.height * c.grid.width;
    for (std::int64_t i = 0; i < n; i += 2) {
      const std::size_t k = static_cast<std::size_t>(i);
      const bool padding = (i / (c.heads * c.dh)) % c.s >= grid_tokens;
      if (padding) {
        ASSERT_EQ(y[k], x[k]) << i;  // copied unchanged
        ASSERT_EQ(y[k + 1], x[k + 1]) << i;
        continue;
      }
      const double bound = pair_bound(x[k], x[k + 1]);
      ASSERT_LE(std::fabs(y[k] - want[k]), bound) << "re of pair at " << i;
      ASSERT_LE(std::fabs(y[k + 1] - want[k + 1]), bound) << "im of pair at " << i;
    }
  }
}

// The group split is Wan's: frames get d - 4*(d//6) dims, height and width 2*(d//6) each.
TEST(Rope, TableSplitsPairsAsWan) {
  for (std::int64_t dh : {2, 4, 6, 8, 64, 96, 128}) {
    const ops::RopeTable t = ops::rope_table(dh, RopeGrid{2, 3, 4}, 10000.0);
    EXPECT_EQ(2 * t.n_f, dh - 4 * (dh / 6)) << dh;
    EXPECT_EQ(2 * t.n_h, 2 * (dh / 6)) << dh;
    EXPECT_EQ(t.n_w, t.n_h) << dh;
    EXPECT_EQ(t.size(), 2 * t.n_f + 3 * t.n_h + 4 * t.n_w) << dh;
    EXPECT_EQ(t.off_h, 2 * t.n_f);
    EXPECT_EQ(t.off_w, 2 * t.n_f + 3 * t.n_h);
  }
  // Dh 128: 22 / 21 / 21 pairs; position 0 is the identity; frame 1, pair 0 is angle 1.
  const RopeGrid g{2, 3, 5};
  const ops::RopeTable t = ops::rope_table(128, g, 10000.0);
  EXPECT_EQ(t.n_f, 22);
  EXPECT_EQ(t.n_h, 21);
  for (std::int64_t j = 0; j < 64; ++j) {
    EXPECT_EQ(t.cos[static_cast<std::size_t>(t.entry(g, 0, j))], 1.0f);
    EXPECT_EQ(t.sin[static_cast<std::size_t>(t.entry(g, 0, j))], 0.0f);
  }
  const std::int64_t token = 1 * 15 + 2 * 5 + 4;  // f = 1, h = 2, w = 4
  EXPECT_EQ(t.cos[static_cast<std::size_t>(t.entry(g, token, 0))], static_cast<float>(std::cos(1.0)));
  EXPECT_EQ(t.sin[static_cast<std::size_t>(t.entry(g, token, 22))], static_cast<float>(std::sin(2.0)));  // h pair 0
  EXPECT_EQ(t.sin[static_cast<std::size_t>(t.entry(g, token, 43))], static_cast<float>(std::sin(4.0)));  // w pair 0
  const double inv = 1.0 / std::pow(10000.0, 2.0 / 42.0);  // the width group's pair 1: dim 42
  EXPECT_EQ(t.cos[static_cast<std::size_t>(t.entry(g, token, 44))], static_cast<float>(std::cos(4.0 * inv)));
}

// The order of one rotation, by hand: re = (a*c) - (b*s), im = (a*s) + (b*c), each rounded.
TEST(Rope, RotationOrderAndOutputRounding) {
  const RopeGrid g{2, 1, 1};
  const std::vector<float> x = {1.1f, -2.3f, 0.7f, 3.9f,   // token 0 (angle 0)
                                1.1f, -2.3f, 0.7f, 3.9f};  // token 1: frame 1
  const Tensor in = Tensor::from_vector<float>({1, 2, 4}, x);
  const std::vector<float> y = rope_3d(in, 1, g).to_f32_vector();
  const ops::RopeTable t = ops::rope_table(4, g, 10000.0);  // 2 frame pairs
  for (int j = 0; j < 2; ++j) {
    const std::size_t k = static_cast<std::size_t>(t.entry(g, 1, j));
    const float a = x[4 + 2 * j], b = x[5 + 2 * j], c = t.cos[k], s = t.sin[k];
    const float ac = a * c, bs = b * s, as = a * s, bc = b * c;
    EXPECT_EQ(y[4 + 2 * j], ac - bs) << j;
    EXPECT_EQ(y[5 + 2 * j], as + bc) << j;
    EXPECT_EQ(y[2 * j], x[2 * j]);  // angle 0: cos 1, sin 0
  }
  // bf16 in, bf16 out = the f32 result rounded once (the rotation itself stays f32).
  const Tensor xb = Tensor::from_vector<float>({2, 7, 12}, data(2 * 7 * 12, 3), DType::kBF16);
  const Tensor y32 = rope_3d(xb, 2, RopeGrid{1, 2, 3}, DType::kF32);
  EXPECT_EQ(y32.dtype(), DType::kF32);
  const Tensor yb = rope_3d(xb, 2, RopeGrid{1, 2, 3});
  EXPECT_EQ(yb.dtype(), DType::kBF16);
  EXPECT_TRUE(test::same_bits(yb, y32.to_dtype(DType::kBF16)));
  EXPECT_TRUE(test::same_bits(rope_3d(xb, 2, RopeGrid{1, 2, 3}, DType::kF16), y32.to_dtype(DType::kF16)));
}

TEST(Rope, ViewsAreReadAsTheirValues) {
  const Tensor wide = Tensor::from_vector<float>({2, 5, 32}, data(2 * 5 * 32, 7), DType::kF16);
  const Tensor view = wide.narrow(2, 16, 16);  // [2, 5, 16], row stride 32
  ASSERT_FALSE(view.is_contiguous());
  EXPECT_TRUE(test::same_bits(rope_3d(view, 2, RopeGrid{1, 2, 2}), rope_3d(view.contiguous(), 2, RopeGrid{1, 2, 2})));
}

TEST(Rope, ErrorsBeforeAnyWork) {
  const Tensor x = Tensor::zeros({2, 6, 8}, DType::kBF16);
  const RopeGrid g{1, 2, 3};
  test::expect_error([&] { rope_3d(Tensor(), 1, g); }, {"undefined"});
  test::expect_error_mentions([&] { rope_3d(x, 3, g); }, "rope_3d");  // the op is named
  test::expect_error([&] { rope_3d(Tensor::zeros({6, 8}, DType::kBF16), 1, g); }, {"[B, S, heads*head_dim]", "[6, 8]"});
  test::expect_error([&] { rope_3d(Tensor::zeros({2, 6, 8}, DType::kI8), 1, g); }, {"f32, f16 or bf16", "int8"});
  test::expect_error([&] { rope_3d(x, 1, g, DType::kI8); }, {"output dtype", "int8"});
  test::expect_error([&] { rope_3d(x, 3, g); }, {"heads 3", "width 8"});
  test::expect_error([&] { rope_3d(x, 0, g); }, {"heads 0"});
  test::expect_error([&] { rope_3d(Tensor::zeros({2, 6, 6}, DType::kBF16), 2, g); }, {"head_dim 3", "even"});
  test::expect_error([&] { rope_3d(x, 1, RopeGrid{2, 2, 2}); }, {"more tokens", "S=6"});
  test::expect_error([&] { rope_3d(x, 1, RopeGrid{0, 2, 3}); }, {"grid sizes", "frames=0"});
  test::expect_error([&] { rope_3d(x, 1, g, std::nullopt, std::nan("")); }, {"theta"});
  test::expect_error([&] { rope_3d(x, 1, g, std::nullopt, -1.0); }, {"theta -1"});
}

// On a GPU the kernel gives the reference's bits (no approximate function is involved).
TEST(RopeCuda, BitIdenticalToReference) {
  QJIT_SKIP_WITHOUT_CUDA();
  for (DType d : {DType::kF32, DType::kBF16, DType::kF16}) {
    const Tensor x = Tensor::from_vector<float>({2, 33, 256}, data(2 * 33 * 256, 5), d);
    const Tensor want = rope_3d(x, 2, RopeGrid{2, 3, 5});
    const Tensor got = rope_3d(x.to(Device::cuda(0)), 2, RopeGrid{2, 3, 5});
    EXPECT_EQ(got.device(), Device::cuda(0));
    EXPECT_TRUE(test::same_bits(got, want)) << dtype_name(d);
  }
}

}  // namespace
}  // namespace qjit
