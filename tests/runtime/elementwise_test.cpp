// The elementwise ops on the cpu (runtime/ops/elementwise.hpp -> elementwise_reference.hpp):
// SiLU against float64 within a bound derived from the order of operations, its special
// values; the gated residual's and add's exact order (one rounding per operation) and
// broadcasts; views; every error before any work; and the cuda device (skipped with the
// driver's reason when no GPU answers), where SiLU's ex2.approx is held to a derived NMSE
// bound and the others to the reference's bits.

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include <fmt/format.h>

#include "runtime/driver/cuda_driver.hpp"
#include "runtime/ops/elementwise.hpp"
#include "runtime/ops/elementwise_reference.hpp"
#include "tests/support/checks.hpp"
#include "tests/support/wave_data.hpp"
#include "tests/support/cuda_required.hpp"

namespace qjit {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

std::vector<float> data(std::int64_t n, float amp, unsigned seed) { return test::wave(n, seed, 0.917f, amp); }

// Relative error of the output rounding (half an ulp of a normal value: 24, 11 and 8
// significant bits) and the absolute error below the normal range (half the smallest
// subnormal).
double unit_roundoff(DType t) { return t == DType::kF32 ? 0x1p-24 : t == DType::kF16 ? 0x1p-11 : 0x1p-8; }
double subnormal_floor(DType t) { return t == DType::kF32 ? 0x1p-150 : t == DType::kF16 ? 0x1p-25 : 0x1p-134; }

// The error of SiLU against float64 silu(x) = x / (1 + exp(-x)), per element, derived from
// the reference's order (elementwise_reference.hpp):
//   t = x * fl(-log2 e): two roundings, t = t_exact (1 + h), |h| <= 2^-23 (+ 2^-48);
//   2^t = 2^t_exact * 2^(t_exact h): relative ln2 |t_exact| |h| = |x| |h|, plus the f32
//     rounding of exp2 (2^-24; libm's double error is far below);
//   1 + e and x / d: one rounding each (2^-24), the relative error of e shrinking in 1 + e.
// In all |x| 2^-23 + 3 * 2^-24, which (|x| + 2) 2^-23 covers with the second-order terms.
// A GPU's ex2.approx.f32 is within 2 ulp of the correctly rounded 2^t (PTX ISA; the sim
// tests hold it, scalar_approx_test.cpp): 2 * 2^-23 more. Then the output rounding.
double silu_bound(double x, double exact, DType out, bool gpu) {
  const double rel = (std::fabs(x) + (gpu ? 4.0 : 2.0)) * 0x1p-23;
  return (rel + unit_roundoff(out) * (1 + rel)) * std::fabs(exact) + subnormal_floor(out);
}

double silu_f64(double x) { return x / (1.0 + std::exp(-x)); }

// sum (y - r)^2 / sum r^2, and the same with each element's error at its bound: an NMSE
// bound derived from the per-element bound.
struct Nmse {
  double got = 0, bound = 0;
};
Nmse silu_nmse(const std::vector<float>& x, const std::vector<float>& y, DType out, bool gpu) {
  double err = 0, lim = 0, ref = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double r = silu_f64(x[i]), b = silu_bound(x[i], r, out, gpu);
    err += (y[i] - r) * (y[i] - r);
    lim += b * b;
    ref += r * r;
  }
  return {err / ref, lim / ref};
}

TEST(Elementwise, SiluWithinDerivedBoundOfFloat64) {
  std::vector<float> x = data(4001, 16.0f, 1);  // |x| <= 16
  for (float v : {0.0f, -0.0f, 1e-30f, -1e-30f, 1e-6f, 0.5f, -0.5f, 16.0f, -16.0f}) x.push_back(v);
  for (DType in : {DType::kF32, DType::kBF16, DType::kF16}) {
    const Tensor xt = Tensor::from_vector<float>({static_cast<std::int64_t>(x.size())}, x, in);
    const std::vector<float> xs = xt.to_f32_vector();  // the values the op sees
    for (DType out : {DType::kF32, DType::kBF16, DType::kF16}) {
      const std::string what = fmt::format("{} -> {}", dtype_name(in), dtype_name(out));
      SCOPED_TRACE(what);
      const std::vector<float> y = silu(xt, out).to_f32_vector();
      for (std::size_t i = 0; i < xs.size(); ++i) {
        const double r = silu_f64(xs[i]);
        ASSERT_LE(std::fabs(y[i] - r), silu_bound(xs[i], r, out, false)) << "x = " << xs[i];
      }
      const Nmse n = silu_nmse(xs, y, out, false);
      EXPECT_LE(n.got, n.bound);
    }
  }
}

TEST(Elementwise, SiluOrderAndSpecialValues) {
  for (float x : {0.3f, -2.7f, 11.0f, -40.0f}) {
    const float t = x * ops::kNegLog2e;
    EXPECT_EQ(ops::silu_value(x), x / (1.0f + static_cast<float>(std::exp2(static_cast<double>(t))))) << x;
  }
  EXPECT_EQ(ops::exp2_f32(3.0f), 8.0f);
  EXPECT_EQ(ops::exp2_f32(128.0f), kInf);          // overflows as ex2 does
  EXPECT_EQ(ops::exp2_f32(-140.0f), 0x1p-140f);    // subnormal kept (no .ftz)
  EXPECT_EQ(ops::silu_value(kInf), kInf);          // inf / (1 + 0)
  EXPECT_TRUE(std::isnan(ops::silu_value(-kInf)));  // -inf / inf
  EXPECT_TRUE(std::isnan(ops::silu_value(kNaN)));
  const float tiny = ops::silu_value(-100.0f);     // 2^144 overflows: -100 / inf
  EXPECT_EQ(tiny, 0.0f);
  EXPECT_TRUE(std::signbit(tiny));
  EXPECT_EQ(ops::silu_value(0.0f), 0.0f);
  // Any shape, x's dtype by default.
  const Tensor x = Tensor::from_vector<float>({2, 3, 1}, {1, 2, 3, -1, -2, -3}, DType::kBF16);
  const Tensor y = silu(x);
  EXPECT_EQ(y.dtype(), DType::kBF16);
  EXPECT_EQ(y.shape(), x.shape());
  EXPECT_EQ(y.item_f32(1, 0, 0), Tensor::from_vector<float>({1}, {ops::silu_value(-1.0f)}, DType::kBF16).item_f32(0));
}

// x + y * gate rounds the product, then the sum: (1 + 2^-12)^2 = 1 + 2^-11 + 2^-24 rounds
// (tie to even) to 1 + 2^-11, so -1 + that is 2^-11, where one fused rounding gives
// 2^-11 + 2^-24.
TEST(Elementwise, GatedResidualRoundsProductThenSum) {
  const float v = 1.0f + 0x1p-12f;
  EXPECT_EQ(ops::gated_residual_value(-1.0f, v, v), 0x1p-11f);
  EXPECT_NE(std::fma(v, v, -1.0f), 0x1p-11f);
  const Tensor x = Tensor::from_vector<float>({1, 1, 1}, {-1.0f});
  const Tensor y = Tensor::from_vector<float>({1, 1, 1}, {v});
  EXPECT_EQ(gated_residual(x, y, Tensor::from_vector<float>({1}, {v})).item_f32(0, 0, 0), 0x1p-11f);
}

TEST(Elementwise, GatedResidualBroadcastsGateOverTokens) {
  const std::int64_t b = 2, s = 3, d = 5;
  const std::vector<float> xv = data(b * s * d, 3.0f, 2), yv = data(b * s * d, 2.0f, 3), gv = data(b * d, 1.5f, 4);
  const Tensor x = Tensor::from_vector<float>({b, s, d}, xv);
  const Tensor y = Tensor::from_vector<float>({b, s, d}, yv, DType::kBF16);
  const Tensor y32 = y.to_dtype(DType::kF32);
  const std::vector<float> ys = y.to_f32_vector();
  for (const auto& gshape : {std::vector<std::int64_t>{b, d}, std::vector<std::int64_t>{b, 1, d}}) {
    const std::vector<float> got = gated_residual(x, y, Tensor::from_vector<float>(gshape, gv)).to_f32_vector();
    EXPECT_EQ(gated_residual(x, y, Tensor::from_vector<float>(gshape, gv)).dtype(), DType::kF32);  // x's dtype
    for (std::int64_t i = 0; i < b * s * d; ++i) {
      const float g = gv[static_cast<std::size_t>((i / (s * d)) * d + i % d)];
      ASSERT_EQ(got[static_cast<std::size_t>(i)], xv[i] + ys[i] * g) << i;
    }
  }
  const std::vector<float> g0(gv.begin(), gv.begin() + d);
  const std::vector<float> shared = gated_residual(x, y, Tensor::from_vector<float>({d}, g0)).to_f32_vector();
  for (std::int64_t i = 0; i < b * s * d; ++i) ASSERT_EQ(shared[i], xv[i] + ys[i] * gv[i % d]) << i;
  // bf16 out: the f32 result rounded once.
  const Tensor gate = Tensor::from_vector<float>({b, d}, gv);
  EXPECT_TRUE(test::same_bits(gated_residual(x, y, gate, DType::kBF16),
                              gated_residual(x, y32, gate).to_dtype(DType::kBF16)));
}

TEST(Elementwise, AddBroadcastsASuffix) {
  const std::int64_t b = 2, six = 6, d = 4;
  const std::vector<float> av = data(b * six * d, 2.0f, 5), bv = data(six * d, 1.0f, 6);
  const Tensor a = Tensor::from_vector<float>({b, six, d}, av, DType::kBF16);
  const std::vector<float> as = a.to_f32_vector();
  for (const auto& bshape : {std::vector<std::int64_t>{six, d}, std::vector<std::int64_t>{1, six, d}}) {
    const Tensor r = add(a, Tensor::from_vector<float>(bshape, bv), DType::kF32);
    const std::vector<float> got = r.to_f32_vector();
    for (std::int64_t i = 0; i < b * six * d; ++i) ASSERT_EQ(got[i], as[i] + bv[i % (six * d)]) << i;
  }
  const Tensor rowwise = add(a, Tensor::from_vector<float>({d}, {1, 2, 3, 4}));
  EXPECT_EQ(rowwise.dtype(), DType::kBF16);  // a's dtype
  EXPECT_EQ(rowwise.item_f32(1, 5, 3), Tensor::from_vector<float>({1}, {as[47] + 4}, DType::kBF16).item_f32(0));
  const std::vector<float> same = add(a, a, DType::kF32).to_f32_vector();
  for (std::size_t i = 0; i < same.size(); ++i) ASSERT_EQ(same[i], as[i] + as[i]);
}

TEST(Elementwise, ViewsAreReadAsTheirValues) {
  const Tensor m = Tensor::from_vector<float>({4, 6}, data(24, 5.0f, 7), DType::kF16);
  const Tensor t = m.transpose(0, 1);  // [6, 4], not contiguous
  ASSERT_FALSE(t.is_contiguous());
  EXPECT_TRUE(test::same_bits(silu(t), silu(t.contiguous())));
  EXPECT_TRUE(test::same_bits(add(t, t.select(0, 2)), add(t.contiguous(), t.select(0, 2).contiguous())));
  const Tensor x3 = t.reshape({2, 3, 4});
  const Tensor y3 = Tensor::from_vector<float>({2, 3, 8}, data(48, 1.0f, 8)).narrow(2, 2, 4);
  EXPECT_TRUE(test::same_bits(gated_residual(x3, y3, t.select(0, 1)),
                              gated_residual(x3, y3.contiguous(), t.select(0, 1).contiguous())));
}

TEST(Elementwise, ErrorsBeforeAnyWork) {
  const Tensor x = Tensor::zeros({2, 3, 4}, DType::kF32);
  test::expect_error([&] { silu(Tensor()); }, {"x is an undefined tensor"});
  test::expect_error([&] { silu(Tensor::zeros({3}, DType::kI8)); }, {"x must be f32, f16 or bf16", "int8"});
  test::expect_error([&] { silu(x, DType::kI32); }, {"output dtype", "int32"});
  test::expect_error_mentions([&] { silu(x, DType::kI32); }, "silu");
  test::expect_error([&] { gated_residual(Tensor::zeros({3, 4}, DType::kF32), x, x); }, {"x must be [B, S, D]"});
  test::expect_error([&] { gated_residual(x, Tensor::zeros({2, 4, 4}, DType::kF32), x); },
                     {"y Tensor(shape=[2, 4, 4]", "x's shape"});
  test::expect_error([&] { gated_residual(x, x, Tensor::zeros({3, 4}, DType::kF32)); },
                     {"gate must be [B, D] = [2, 4], [B, 1, D] or [D] = [4]", "[3, 4]"});
  test::expect_error([&] { gated_residual(x, x, Tensor::zeros({4}, DType::kE4M3)); }, {"gate must be f32", "fp8_e4m3"});
  test::expect_error([&] { gated_residual(x, Tensor::zeros({2, 3, 4}, DType::kI32), Tensor::zeros({4}, DType::kF32)); },
                     {"y must be f32, f16 or bf16"});
  test::expect_error([&] { add(x, Tensor::zeros({3, 5}, DType::kF32)); }, {"suffix", "[3, 5]", "[2, 3, 4]"});
  test::expect_error([&] { add(x, Tensor::zeros({2, 2, 3, 4}, DType::kF32)); }, {"suffix"});
  test::expect_error([&] { add(x, Tensor()); }, {"b is an undefined tensor"});
  test::expect_error([&] { add(x, x, DType::kI8); }, {"output dtype", "int8"});
}

// On a GPU: SiLU within the NMSE bound derived above for ex2.approx; the others bit for bit.
TEST(ElementwiseCuda, MatchesReference) {
  QJIT_SKIP_WITHOUT_CUDA();
  const Device gpu = Device::cuda(0);
  const std::vector<float> xv = data(2 * 33 * 257, 16.0f, 9);
  for (DType d : {DType::kF32, DType::kBF16, DType::kF16}) {
    SCOPED_TRACE(dtype_name(d));
    const Tensor x = Tensor::from_vector<float>({2, 33, 257}, xv, d);
    const std::vector<float> xs = x.to_f32_vector();
    const Nmse n = silu_nmse(xs, silu(x.to(gpu), DType::kF32).to_f32_vector(), DType::kF32, true);
    EXPECT_LE(n.got, n.bound);
    const Tensor y = Tensor::from_vector<float>({2, 33, 257}, data(2 * 33 * 257, 1.0f, 10), d);
    const Tensor gate = Tensor::from_vector<float>({2, 257}, data(2 * 257, 1.0f, 11));
    EXPECT_TRUE(test::same_bits(gated_residual(x.to(gpu), y.to(gpu), gate.to(gpu)), gated_residual(x, y, gate)));
    const Tensor bias = Tensor::from_vector<float>({33, 257}, data(33 * 257, 1.0f, 12), d);
    EXPECT_TRUE(test::same_bits(add(x.to(gpu), bias.to(gpu)), add(x, bias)));
  }
}

}  // namespace
}  // namespace qjit
