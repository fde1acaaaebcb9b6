// The .approx instructions against the PTX ISA's stated error bounds, over dense sweeps,
// with a long double reference; and their special-case tables. The bounds are the ISA's,
// not sim's (which is far tighter), so a bit-faithful emulation of the hardware's
// approximations must also pass.
//
// ISA bounds used (PTX ISA 9.x, "Floating Point Instructions" / "Half Precision ..."):
//   ex2.approx.f32      2 ulp from the correctly rounded result, full range
//   ex2.approx.f16      relative 2^-9.9;  ex2.approx.ftz.bf16  relative 2^-7
//   lg2.approx.f32      absolute 2^-22 on (0.5, 2), else relative 2^-22
//   rsqrt.approx.f32    relative 2^-22.9 over the positive finite range
//   sqrt.approx.f32     relative 2^-23 over the positive finite range
//   rcp.approx.f32      1 ulp, full range
//   sin/cos.approx.f32  absolute 2^-20.5 on [-2pi, 2pi], 2^-14.7 on [-100pi, 100pi]
//   tanh.approx.f32     relative 2^-11 over the full range
//   tanh.approx.f16     absolute 2^-10.987;  tanh.approx.bf16  absolute 2^-8
//   div.approx.f32      2 ulp for |b| in [2^-126, 2^126];  div.full.f32  2 ulp, full range

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "common/error.hpp"
#include "runtime/float_convert.hpp"
#include "sim/scalar_ops.hpp"

namespace qjit::sim {
namespace {

using T = ScalarType;
using LD = long double;

std::uint64_t fb(float x) { return std::bit_cast<std::uint32_t>(x); }
float bf(std::uint64_t v) { return std::bit_cast<float>(static_cast<std::uint32_t>(v)); }

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

// Distance in units in the last place between two f32 values of the same sign region
// (ordered over the integers, so it counts representable values between them).
std::int64_t ulp_distance(float a, float b) {
  const auto ordered = [](float x) {
    const std::int64_t i = std::bit_cast<std::int32_t>(x);
    return i < 0 ? -(i & 0x7fffffff) : i;
  };
  return std::llabs(ordered(a) - ordered(b));
}

// Positive f32 values spread over every binade from the smallest subnormal to the largest.
std::vector<float> positive_sweep(int n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<float> v;
  v.reserve(n);
  for (int i = 0; i < n; ++i) v.push_back(std::bit_cast<float>(static_cast<std::uint32_t>(rng() % 0x7f7fffffu) + 1));
  return v;
}

TEST(ScalarApprox, Ex2F32WithinTwoUlp) {
  std::mt19937 rng(1);
  std::int64_t worst = 0;
  for (int i = 0; i < 60000; ++i) {
    const float x = -152.0f + 282.0f * static_cast<float>(i) / 60000.0f + static_cast<float>(rng() % 1024) * 0x1p-20f;
    const float r = bf(fex2_approx(T::kF32, false, fb(x)));
    const float cr = static_cast<float>(std::exp2(static_cast<LD>(x)));
    worst = std::max(worst, ulp_distance(r, cr));
  }
  EXPECT_LE(worst, 2);
}

TEST(ScalarApprox, Ex2SpecialCasesAndFtz) {
  EXPECT_EQ(fex2_approx(T::kF32, false, fb(-kInf)), 0u);
  EXPECT_EQ(fex2_approx(T::kF32, false, fb(-0.0f)), fb(1.0f));
  EXPECT_EQ(fex2_approx(T::kF32, false, fb(0.0f)), fb(1.0f));
  EXPECT_EQ(fex2_approx(T::kF32, false, fb(kInf)), fb(kInf));
  EXPECT_EQ(fex2_approx(T::kF32, false, fb(kNaN)), kCanonicalNaNF32);
  EXPECT_EQ(fex2_approx(T::kF32, true, fb(-1e-40f)), fb(1.0f));
  EXPECT_EQ(fex2_approx(T::kF32, false, fb(-140.0f)), fb(0x1p-140f));  // subnormal result kept
  EXPECT_EQ(fex2_approx(T::kF32, true, fb(-140.0f)), 0u);               // and flushed with .ftz
  EXPECT_EQ(fex2_approx(T::kF32, false, fb(128.0f)), fb(kInf));
  EXPECT_EQ(fex2_approx(T::kF32, false, fb(3.0f)), fb(8.0f));
}

// Every f16 / bf16 input whose exact result is a normal finite value of the format.
TEST(ScalarApprox, Ex2HalfAndBfloatWithinRelativeBound) {
  double worst_f16 = 0;
  double worst_bf16 = 0;
  for (std::uint32_t v = 0; v < 0x10000; ++v) {
    const LD x16 = f16_to_f32(static_cast<std::uint16_t>(v));
    const LD ref16 = std::exp2(x16);
    if (!std::isnan(x16) && ref16 >= 0x1p-14L && ref16 <= 65504.0L) {
      const LD r = f16_to_f32(static_cast<std::uint16_t>(fex2_approx(T::kF16, false, v)));
      worst_f16 = std::max(worst_f16, static_cast<double>(std::fabs(r - ref16) / ref16));
    }
    const LD xb = bf16_to_f32(static_cast<std::uint16_t>(v));
    const LD refb = std::exp2(xb);
    if (!std::isnan(xb) && refb >= 0x1p-126L && refb <= 3.38e38L) {
      const LD r = bf16_to_f32(static_cast<std::uint16_t>(fex2_approx(T::kBF16, true, v)));
      worst_bf16 = std::max(worst_bf16, static_cast<double>(std::fabs(r - refb) / refb));
    }
  }
  EXPECT_LE(worst_f16, std::exp2(-9.9));
  EXPECT_LE(worst_bf16, std::exp2(-7.0));
  // Packed: element 0 in bits [15:0]; bf16 .ftz flushes a subnormal input to 2^0.
  EXPECT_EQ(fex2_approx(T::kF16x2, false, 0x40003c00u), 0x44004000u);  // (1, 2) -> (2, 4)
  EXPECT_EQ(fex2_approx(T::kBF16x2, true, 0x80013f80u), 0x3f804000u);  // (1, -subnormal) -> (2, 1)
  EXPECT_EQ(fex2_approx(T::kF16, false, 0xfc00), 0u);
  EXPECT_EQ(fex2_approx(T::kF16, false, 0x7e00), kCanonicalNaNF16);
}

TEST(ScalarApprox, Lg2WithinAbsoluteAndRelativeBounds) {
  double worst_abs = 0;
  double worst_rel = 0;
  for (const float x : positive_sweep(40000, 2)) {
    const LD r = bf(flg2_approx(false, fb(x)));
    const LD ref = std::log2(static_cast<LD>(x));
    if (x > 0.5f && x < 2.0f) worst_abs = std::max(worst_abs, static_cast<double>(std::fabs(r - ref)));
    else worst_rel = std::max(worst_rel, static_cast<double>(std::fabs((r - ref) / ref)));
  }
  for (int i = 1; i < 20000; ++i) {  // dense on (0.5, 2), where the absolute bound applies
    const float x = 0.5f + 1.5f * static_cast<float>(i) / 20000.0f;
    const LD r = bf(flg2_approx(false, fb(x)));
    worst_abs = std::max(worst_abs, static_cast<double>(std::fabs(r - std::log2(static_cast<LD>(x)))));
  }
  EXPECT_LE(worst_abs, std::exp2(-22.0));
  EXPECT_LE(worst_rel, std::exp2(-22.0));
  EXPECT_EQ(flg2_approx(false, fb(-kInf)), kCanonicalNaNF32);
  EXPECT_EQ(flg2_approx(false, fb(-2.0f)), kCanonicalNaNF32);
  EXPECT_EQ(flg2_approx(false, fb(-0.0f)), fb(-kInf));
  EXPECT_EQ(flg2_approx(false, fb(0.0f)), fb(-kInf));
  EXPECT_EQ(flg2_approx(false, fb(kInf)), fb(kInf));
  EXPECT_EQ(flg2_approx(false, fb(kNaN)), kCanonicalNaNF32);
  EXPECT_EQ(flg2_approx(true, fb(1e-40f)), fb(-kInf));  // flushed to +0
  EXPECT_EQ(bf(flg2_approx(false, fb(0x1p-149f))), -149.0f);
}

TEST(ScalarApprox, RsqrtSqrtAndRcpWithinBounds) {
  double worst_rsqrt = 0;
  double worst_sqrt = 0;
  std::int64_t worst_rcp = 0;
  for (const float x : positive_sweep(40000, 3)) {
    const LD rs = bf(frsqrt_approx(T::kF32, false, fb(x)));
    const LD rs_ref = 1.0L / std::sqrt(static_cast<LD>(x));
    worst_rsqrt = std::max(worst_rsqrt, static_cast<double>(std::fabs((rs - rs_ref) / rs_ref)));
    const LD s = bf(fsqrt_approx(false, fb(x)));
    const LD s_ref = std::sqrt(static_cast<LD>(x));
    worst_sqrt = std::max(worst_sqrt, static_cast<double>(std::fabs((s - s_ref) / s_ref)));
    for (const float y : {x, -x}) {
      const float cr = static_cast<float>(1.0L / static_cast<LD>(y));
      worst_rcp = std::max(worst_rcp, ulp_distance(bf(frcp_approx(T::kF32, false, fb(y))), cr));
    }
  }
  EXPECT_LE(worst_rsqrt, std::exp2(-22.9));
  EXPECT_LE(worst_sqrt, std::exp2(-23.0));
  EXPECT_LE(worst_rcp, 1);
}

TEST(ScalarApprox, RsqrtSqrtRcpSpecialCases) {
  EXPECT_EQ(frsqrt_approx(T::kF32, false, fb(-kInf)), kCanonicalNaNF32);
  EXPECT_EQ(frsqrt_approx(T::kF32, false, fb(-1.0f)), kCanonicalNaNF32);
  EXPECT_EQ(frsqrt_approx(T::kF32, false, fb(-0.0f)), fb(-kInf));
  EXPECT_EQ(frsqrt_approx(T::kF32, false, fb(0.0f)), fb(kInf));
  EXPECT_EQ(frsqrt_approx(T::kF32, false, fb(kInf)), 0u);
  EXPECT_EQ(frsqrt_approx(T::kF32, true, fb(1e-40f)), fb(kInf));
  EXPECT_EQ(frsqrt_approx(T::kF32, false, fb(4.0f)), fb(0.5f));
  EXPECT_EQ(frsqrt_approx(T::kF64, false, std::bit_cast<std::uint64_t>(0.25)), std::bit_cast<std::uint64_t>(2.0));
  EXPECT_EQ(fsqrt_approx(false, fb(-1.0f)), kCanonicalNaNF32);
  EXPECT_EQ(fsqrt_approx(false, fb(-0.0f)), 0x80000000u);
  EXPECT_EQ(fsqrt_approx(false, fb(kInf)), fb(kInf));
  EXPECT_EQ(fsqrt_approx(true, fb(1e-40f)), 0u);
  EXPECT_EQ(frcp_approx(T::kF32, false, fb(-0.0f)), fb(-kInf));
  EXPECT_EQ(frcp_approx(T::kF32, false, fb(kInf)), 0u);
  EXPECT_EQ(frcp_approx(T::kF32, true, fb(-1e-40f)), fb(-kInf));
  EXPECT_EQ(frcp_approx(T::kF32, true, fb(0x1p127f)), 0u);  // 2^-127 is subnormal: flushed
  EXPECT_EQ(frcp_approx(T::kF64, false, std::bit_cast<std::uint64_t>(4.0)), std::bit_cast<std::uint64_t>(0.25));
  EXPECT_THROW(frcp_approx(T::kF16, false, 0), Error);
}

TEST(ScalarApprox, SinCosWithinAbsoluteBounds) {
  const double pi = 3.14159265358979323846;
  const auto worst_on = [&](double range, int n) {
    double worst = 0;
    for (int i = 0; i <= n; ++i) {
      const auto x = static_cast<float>(-range + 2 * range * i / n);
      const LD s = bf(fsin_approx(false, fb(x)));
      const LD c = bf(fcos_approx(false, fb(x)));
      worst = std::max(worst, static_cast<double>(std::fabs(s - std::sin(static_cast<LD>(x)))));
      worst = std::max(worst, static_cast<double>(std::fabs(c - std::cos(static_cast<LD>(x)))));
    }
    return worst;
  };
  EXPECT_LE(worst_on(2 * pi, 40000), std::exp2(-20.5));
  EXPECT_LE(worst_on(100 * pi, 40000), std::exp2(-14.7));
  EXPECT_EQ(fsin_approx(false, fb(-kInf)), kCanonicalNaNF32);
  EXPECT_EQ(fsin_approx(false, fb(-0.0f)), 0x80000000u);
  EXPECT_EQ(fsin_approx(false, fb(0.0f)), 0u);
  EXPECT_EQ(fsin_approx(false, fb(kInf)), kCanonicalNaNF32);
  EXPECT_EQ(fsin_approx(false, fb(kNaN)), kCanonicalNaNF32);
  EXPECT_EQ(fsin_approx(true, fb(-1e-40f)), 0x80000000u);
  EXPECT_EQ(fsin_approx(false, fb(-1e-40f)), fb(-1e-40f));
  EXPECT_EQ(fcos_approx(false, fb(-0.0f)), fb(1.0f));
  EXPECT_EQ(fcos_approx(false, fb(kInf)), kCanonicalNaNF32);
}

TEST(ScalarApprox, TanhF32WithinRelativeBound) {
  double worst = 0;
  const auto check = [&](float x) {
    const LD r = bf(ftanh_approx(T::kF32, fb(x)));
    const LD ref = std::tanh(static_cast<LD>(x));
    if (ref != 0) worst = std::max(worst, static_cast<double>(std::fabs((r - ref) / ref)));
  };
  for (const float x : positive_sweep(30000, 4)) {
    check(x);
    check(-x);
  }
  for (int i = 0; i <= 40000; ++i) check(-10.0f + 20.0f * static_cast<float>(i) / 40000.0f);
  EXPECT_LE(worst, std::exp2(-11.0));
  EXPECT_EQ(ftanh_approx(T::kF32, fb(-kInf)), fb(-1.0f));
  EXPECT_EQ(ftanh_approx(T::kF32, fb(-0.0f)), 0x80000000u);
  EXPECT_EQ(ftanh_approx(T::kF32, fb(0.0f)), 0u);
  EXPECT_EQ(ftanh_approx(T::kF32, fb(kInf)), fb(1.0f));
  EXPECT_EQ(ftanh_approx(T::kF32, fb(kNaN)), kCanonicalNaNF32);
  EXPECT_EQ(ftanh_approx(T::kF32, fb(-1e-40f)), fb(-1e-40f));  // subnormals pass through
}

TEST(ScalarApprox, TanhHalfAndBfloatWithinAbsoluteBound) {
  double worst_f16 = 0;
  double worst_bf16 = 0;
  for (std::uint32_t v = 0; v < 0x10000; ++v) {
    const LD x16 = f16_to_f32(static_cast<std::uint16_t>(v));
    if (!std::isnan(x16)) {
      const LD r = f16_to_f32(static_cast<std::uint16_t>(ftanh_approx(T::kF16, v)));
      worst_f16 = std::max(worst_f16, static_cast<double>(std::fabs(r - std::tanh(x16))));
    }
    const LD xb = bf16_to_f32(static_cast<std::uint16_t>(v));
    if (!std::isnan(xb)) {
      const LD r = bf16_to_f32(static_cast<std::uint16_t>(ftanh_approx(T::kBF16, v)));
      worst_bf16 = std::max(worst_bf16, static_cast<double>(std::fabs(r - std::tanh(xb))));
    }
  }
  EXPECT_LE(worst_f16, std::exp2(-10.987));
  EXPECT_LE(worst_bf16, std::exp2(-8.0));
  EXPECT_EQ(ftanh_approx(T::kF16x2, 0xfc007c00u), 0xbc003c00u);  // (+Inf, -Inf) -> (1, -1)
  EXPECT_EQ(ftanh_approx(T::kBF16x2, 0x7fc00000u), 0x7fff0000u);  // (0, NaN) -> (0, NaN)
}

TEST(ScalarApprox, DivApproxAndFullWithinTwoUlp) {
  std::mt19937 rng(5);
  std::int64_t worst_approx = 0;
  std::int64_t worst_full = 0;
  for (int i = 0; i < 40000; ++i) {
    const float a = std::bit_cast<float>(static_cast<std::uint32_t>((rng() % 0x7f800000u) | ((rng() & 1) << 31)));
    const float b = std::bit_cast<float>(static_cast<std::uint32_t>((rng() % 0x7f800000u) | ((rng() & 1) << 31)));
    const float cr = static_cast<float>(static_cast<LD>(a) / static_cast<LD>(b));
    worst_full = std::max(worst_full, ulp_distance(bf(fdiv_full(false, fb(a), fb(b))), cr));
    if (std::fabs(b) >= 0x1p-126f && std::fabs(b) <= 0x1p126f) {
      worst_approx = std::max(worst_approx, ulp_distance(bf(fdiv_approx(false, fb(a), fb(b))), cr));
    }
  }
  EXPECT_LE(worst_approx, 2);
  EXPECT_LE(worst_full, 2);
}

}  // namespace
}  // namespace qjit::sim
