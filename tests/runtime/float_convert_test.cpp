// Exact host float conversions (runtime/float_convert.hpp): every 8- and 16-bit encoding,
// every rounding tie between adjacent representable values, and the boundary values.

#include "runtime/float_convert.hpp"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>

namespace qjit {
namespace {

std::uint32_t bits(float x) { return std::bit_cast<std::uint32_t>(x); }
float from_bits(std::uint32_t b) { return std::bit_cast<float>(b); }

constexpr float kInf = std::numeric_limits<float>::infinity();
const float kNaN = std::numeric_limits<float>::quiet_NaN();

// The value of a finite IEEE-like encoding from its fields, in double (exact for all of
// these formats), independent of the code under test.
double field_value(std::uint32_t exp, std::uint32_t frac, int mant_bits, int bias) {
  if (exp == 0) return std::ldexp(static_cast<double>(frac), 1 - bias - mant_bits);
  return std::ldexp(static_cast<double>(frac + (1u << mant_bits)), static_cast<int>(exp) - bias - mant_bits);
}

// Expects `x` to be `expected` bit for bit (so -0 differs from +0).
void expect_same_f32(float x, double expected, std::uint32_t code) {
  EXPECT_EQ(bits(x), bits(static_cast<float>(expected))) << "code 0x" << std::hex << code;
}

// --- every encoding: exact widening, then narrowing back to the same encoding -------------

TEST(FloatConvert, F16EveryEncodingWidensExactlyAndRoundTrips) {
  for (std::uint32_t h = 0; h < 0x10000; ++h) {
    const std::uint32_t exp = (h >> 10) & 0x1f;
    const std::uint32_t frac = h & 0x3ff;
    const bool neg = (h & 0x8000) != 0;
    const float x = f16_to_f32(static_cast<std::uint16_t>(h));
    EXPECT_EQ(std::signbit(x), neg) << std::hex << h;
    if (exp == 0x1f && frac != 0) {
      ASSERT_TRUE(std::isnan(x)) << std::hex << h;
      // Narrowing quiets a signaling NaN and keeps sign and payload.
      EXPECT_EQ(f32_to_f16(x), h | 0x0200) << std::hex << h;
      continue;
    }
    const double v = exp == 0x1f ? static_cast<double>(kInf) : field_value(exp, frac, 10, 15);
    expect_same_f32(x, neg ? -v : v, h);
    EXPECT_EQ(f32_to_f16(x), h) << std::hex << h;
  }
}

TEST(FloatConvert, BF16EveryEncodingWidensExactlyAndRoundTrips) {
  for (std::uint32_t h = 0; h < 0x10000; ++h) {
    const float x = bf16_to_f32(static_cast<std::uint16_t>(h));
    if ((h & 0x7fff) > 0x7f80) {
      ASSERT_TRUE(std::isnan(x)) << std::hex << h;
      EXPECT_EQ(bits(x), (h << 16) | 0x00400000u) << std::hex << h;
      EXPECT_EQ(f32_to_bf16(x), h | 0x0040) << std::hex << h;
      continue;
    }
    // bf16 is the top half of f32.
    EXPECT_EQ(bits(x), h << 16) << std::hex << h;
    EXPECT_EQ(f32_to_bf16(x), h) << std::hex << h;
  }
}

TEST(FloatConvert, E4M3EveryEncodingWidensExactlyAndRoundTrips) {
  for (std::uint32_t v = 0; v < 0x100; ++v) {
    const float x = e4m3_to_f32(static_cast<std::uint8_t>(v));
    const bool neg = (v & 0x80) != 0;
    EXPECT_EQ(std::signbit(x), neg) << std::hex << v;
    if ((v & 0x7f) == 0x7f) {  // the only NaN; e4m3fn has no Inf
      ASSERT_TRUE(std::isnan(x)) << std::hex << v;
    } else {
      const double d = field_value((v >> 3) & 0xf, v & 7, 3, 7);
      expect_same_f32(x, neg ? -d : d, v);
    }
    EXPECT_EQ(f32_to_e4m3(x, false), v) << std::hex << v;
    EXPECT_EQ(f32_to_e4m3(x, true), v) << std::hex << v;
  }
  EXPECT_EQ(e4m3_to_f32(0x7e), 448.0f);
  EXPECT_EQ(e4m3_to_f32(0xfe), -448.0f);
  EXPECT_EQ(e4m3_to_f32(0x38), 1.0f);
  EXPECT_EQ(e4m3_to_f32(0x08), 0x1p-6f);    // smallest normal
  EXPECT_EQ(e4m3_to_f32(0x01), 0x1p-9f);    // smallest subnormal
  EXPECT_EQ(e4m3_to_f32(0x07), 0x1.cp-7f);  // largest subnormal
}

TEST(FloatConvert, E5M2EveryEncodingWidensExactlyAndRoundTrips) {
  for (std::uint32_t v = 0; v < 0x100; ++v) {
    const float x = e5m2_to_f32(static_cast<std::uint8_t>(v));
    const std::uint32_t exp = (v >> 2) & 0x1f;
    const std::uint32_t frac = v & 3;
    const bool neg = (v & 0x80) != 0;
    EXPECT_EQ(std::signbit(x), neg) << std::hex << v;
    if (exp == 0x1f && frac != 0) {
      ASSERT_TRUE(std::isnan(x)) << std::hex << v;
      // A signaling NaN (0x7d) comes back quieted; quiet ones unchanged.
      EXPECT_EQ(f32_to_e5m2(x, false), v | 0x02) << std::hex << v;
      EXPECT_EQ(f32_to_e5m2(x, true), v | 0x02) << std::hex << v;
      continue;
    }
    if (exp == 0x1f) {
      EXPECT_TRUE(std::isinf(x)) << std::hex << v;
      EXPECT_EQ(f32_to_e5m2(x, false), v) << std::hex << v;
      EXPECT_EQ(f32_to_e5m2(x, true), (v & 0x80) | 0x7b) << std::hex << v;  // satfinite: ±Inf -> ±max
      continue;
    }
    const double d = field_value(exp, frac, 2, 15);
    expect_same_f32(x, neg ? -d : d, v);
    EXPECT_EQ(f32_to_e5m2(x, false), v) << std::hex << v;
    EXPECT_EQ(f32_to_e5m2(x, true), v) << std::hex << v;
  }
  EXPECT_EQ(e5m2_to_f32(0x7b), 57344.0f);
  EXPECT_EQ(e5m2_to_f32(0x7c), kInf);
  EXPECT_EQ(e5m2_to_f32(0x3c), 1.0f);
  EXPECT_EQ(e5m2_to_f32(0x04), 0x1p-14f);  // smallest normal
  EXPECT_EQ(e5m2_to_f32(0x01), 0x1p-16f);  // smallest subnormal
}

// --- every tie: the midpoint of each pair of adjacent values rounds to the even one ------

struct Format {
  const char* name;
  std::uint32_t max_code;  // largest finite positive encoding
  std::uint32_t sign_bit;
  std::uint32_t overflow_code;  // what a positive value beyond the rounding range gives
  std::function<float(std::uint32_t)> widen;
  std::function<std::uint32_t(float)> narrow;
};

// Positive finite codes are ordered like their values in all these formats, and the last
// bit of a code is the last bit of its significand, so "even" is `code % 2 == 0`.
void check_every_tie(const Format& f) {
  SCOPED_TRACE(f.name);
  // a and b in double: the step above the largest bf16 lands on 2^128, beyond f32.
  auto check_pair = [&](std::uint32_t lo, double a, double b, std::uint32_t lo_code, std::uint32_t hi_code) {
    const double mid_d = (a + b) / 2;
    const auto mid = static_cast<float>(mid_d);
    ASSERT_EQ(static_cast<double>(mid), mid_d)
        << "midpoint above 0x" << std::hex << lo << " not exact in f32";
    const std::uint32_t even = (lo_code % 2 == 0) ? lo_code : hi_code;
    EXPECT_EQ(f.narrow(mid), even) << "tie above 0x" << std::hex << lo;
    EXPECT_EQ(f.narrow(-mid), even | f.sign_bit) << "negative tie above 0x" << std::hex << lo;
    EXPECT_EQ(f.narrow(std::nextafter(mid, 0.0f)), lo_code)
        << "just below the tie above 0x" << std::hex << lo;
    EXPECT_EQ(f.narrow(std::nextafter(mid, kInf)), hi_code)
        << "just above the tie above 0x" << std::hex << lo;
    EXPECT_EQ(f.narrow(-std::nextafter(mid, kInf)), hi_code | f.sign_bit) << std::hex << lo;
  };
  for (std::uint32_t lo = 0; lo < f.max_code; ++lo) {
    check_pair(lo, f.widen(lo), f.widen(lo + 1), lo, lo + 1);
  }
  // Above the largest finite value: the midpoint to the next (unrepresentable) step decides
  // overflow, after rounding.
  const double max = f.widen(f.max_code);
  const double step = max - f.widen(f.max_code - 1);
  check_pair(f.max_code, max, max + step, f.max_code, f.overflow_code);
}

TEST(FloatConvert, F16EveryTieRoundsToEven) {
  check_every_tie({"f16", 0x7bff, 0x8000, 0x7c00,
                   [](std::uint32_t c) { return f16_to_f32(static_cast<std::uint16_t>(c)); },
                   [](float x) -> std::uint32_t { return f32_to_f16(x); }});
}

TEST(FloatConvert, BF16EveryTieRoundsToEven) {
  check_every_tie({"bf16", 0x7f7f, 0x8000, 0x7f80,
                   [](std::uint32_t c) { return bf16_to_f32(static_cast<std::uint16_t>(c)); },
                   [](float x) -> std::uint32_t { return f32_to_bf16(x); }});
}

TEST(FloatConvert, Fp8EveryTieRoundsToEven) {
  auto e4m3 = [](std::uint32_t c) { return e4m3_to_f32(static_cast<std::uint8_t>(c)); };
  auto e5m2 = [](std::uint32_t c) { return e5m2_to_f32(static_cast<std::uint8_t>(c)); };
  check_every_tie(
      {"e4m3", 0x7e, 0x80, 0x7f, e4m3, [](float x) -> std::uint32_t { return f32_to_e4m3(x, false); }});
  check_every_tie({"e4m3 satfinite", 0x7e, 0x80, 0x7e, e4m3,
                   [](float x) -> std::uint32_t { return f32_to_e4m3(x, true); }});
  check_every_tie(
      {"e5m2", 0x7b, 0x80, 0x7c, e5m2, [](float x) -> std::uint32_t { return f32_to_e5m2(x, false); }});
  check_every_tie({"e5m2 satfinite", 0x7b, 0x80, 0x7b, e5m2,
                   [](float x) -> std::uint32_t { return f32_to_e5m2(x, true); }});
}

// --- boundary values, spelled out ---------------------------------------------------------

struct Case {
  float x;
  std::uint32_t expected;
};

void check_cases(const char* what, const std::function<std::uint32_t(float)>& narrow,
                 std::initializer_list<Case> cases) {
  for (const Case& c : cases) {
    EXPECT_EQ(narrow(c.x), c.expected)
        << what << " of " << c.x << " (bits 0x" << std::hex << bits(c.x) << ")";
  }
}

const float kF32Max = std::numeric_limits<float>::max();
const float kF32TrueMin = std::numeric_limits<float>::denorm_min();

TEST(FloatConvert, F16Boundaries) {
  check_cases("f16", [](float x) { return f32_to_f16(x); },
              {
                  {0.0f, 0x0000},
                  {-0.0f, 0x8000},
                  {1.0f, 0x3c00},
                  {-2.0f, 0xc000},
                  {65504.0f, 0x7bff},                        // max finite
                  {std::nextafter(65520.0f, 0.0f), 0x7bff},  // just below the overflow tie
                  {65520.0f, 0x7c00},                        // tie, max is odd: rounds up to Inf
                  {-65520.0f, 0xfc00},
                  {1e10f, 0x7c00},
                  {kF32Max, 0x7c00},
                  {-kF32Max, 0xfc00},
                  {kInf, 0x7c00},
                  {-kInf, 0xfc00},
                  {0x1p-14f, 0x0400},  // smallest normal
                  {0x1p-24f, 0x0001},  // smallest subnormal
                  {0x1p-25f, 0x0000},  // half of it: tie to even zero
                  {-0x1p-25f, 0x8000},
                  {std::nextafter(0x1p-25f, 1.0f), 0x0001},
                  {0x1.8p-24f, 0x0002},  // 1.5 units: tie to even 2
                  {0x1.4p-24f, 0x0001},
                  {0x1.cp-24f, 0x0002},
                  {std::nextafter(0x1p-14f, 0.0f), 0x0400},  // rounds up into the normals
                  {kF32TrueMin, 0x0000},
                  {-kF32TrueMin, 0x8000},
                  {1.0f + 0x1p-11f, 0x3c00},  // tie, even below
                  {1.0f + 0x3p-11f, 0x3c02},  // tie, even above
              });
  EXPECT_EQ(f32_to_f16(kNaN) & 0x7fff, 0x7e00);
  EXPECT_EQ(f32_to_f16(-kNaN), 0xfe00);
  EXPECT_EQ(f32_to_f16(from_bits(0x7f800001)), 0x7e00);  // payload only in the low bits: still NaN
  EXPECT_EQ(f32_to_f16(from_bits(0x7fa00000)), 0x7f00);  // signaling with payload: quieted, payload kept
}

TEST(FloatConvert, BF16Boundaries) {
  check_cases("bf16", [](float x) { return f32_to_bf16(x); },
              {
                  {0.0f, 0x0000},
                  {-0.0f, 0x8000},
                  {1.0f, 0x3f80},
                  {from_bits(0x7f7f0000), 0x7f7f},  // max finite
                  {from_bits(0x7f7f7fff), 0x7f7f},  // just below the overflow tie
                  {from_bits(0x7f7f8000), 0x7f80},  // tie, max is odd: Inf
                  {kF32Max, 0x7f80},
                  {-kF32Max, 0xff80},
                  {kInf, 0x7f80},
                  {-kInf, 0xff80},
                  {from_bits(0x00010000), 0x0001},  // smallest subnormal
                  {from_bits(0x00008000), 0x0000},  // half of it: tie to even zero
                  {from_bits(0x00008001), 0x0001},
                  {from_bits(0x00018000), 0x0002},  // 1.5 units: tie to even 2
                  {from_bits(0x807fffff), 0x8080},  // largest f32 subnormal rounds to -min normal
                  {kF32TrueMin, 0x0000},
                  {1.0f + 0x1p-8f, 0x3f80},
                  {1.0f + 0x3p-8f, 0x3f82},
              });
  EXPECT_EQ(f32_to_bf16(kNaN) & 0x7fff, 0x7fc0);
  EXPECT_EQ(f32_to_bf16(from_bits(0xff800001)), 0xffc0);
}

TEST(FloatConvert, E4M3Boundaries) {
  auto nosat = [](float x) -> std::uint32_t { return f32_to_e4m3(x, false); };
  auto sat = [](float x) -> std::uint32_t { return f32_to_e4m3(x, true); };
  // Shared by both modes: everything that does not overflow.
  for (const auto& narrow :
       {std::function<std::uint32_t(float)>(nosat), std::function<std::uint32_t(float)>(sat)}) {
    check_cases("e4m3", narrow,
                {
                    {0.0f, 0x00},
                    {-0.0f, 0x80},
                    {1.0f, 0x38},
                    {-1.0f, 0xb8},
                    {448.0f, 0x7e},
                    {-448.0f, 0xfe},
                    {464.0f, 0x7e},  // tie above max, max even: stays
                    {std::nextafter(464.0f, 0.0f), 0x7e},
                    {0x1p-9f, 0x01},  // smallest subnormal
                    {0x1p-10f, 0x00},
                    {-0x1p-10f, 0x80},  // half of it: tie to zero
                    {std::nextafter(0x1p-10f, 1.0f), 0x01},
                    {0x1.8p-9f, 0x02},  // 1.5 units: tie to even
                    {0x1.4p-8f, 0x02},  // 2.5 units: tie to even 2
                    {0x1.cp-8f, 0x04},  // 3.5 units: tie to even 4
                    {0x1p-6f, 0x08},    // smallest normal
                    {kF32TrueMin, 0x00},
                    {1.0625f, 0x38},
                    {1.1875f, 0x3a},  // ties in the normals
                    {kNaN, 0x7f},
                    {-kNaN, 0xff},
                });
  }
  check_cases("e4m3 no-sat", nosat,
              {{std::nextafter(464.0f, kInf), 0x7f},
               {480.0f, 0x7f},
               {-480.0f, 0xff},
               {1e30f, 0x7f},
               {kF32Max, 0x7f},
               {kInf, 0x7f},
               {-kInf, 0xff}});
  check_cases("e4m3 satfinite", sat,
              {{std::nextafter(464.0f, kInf), 0x7e},
               {480.0f, 0x7e},
               {-480.0f, 0xfe},
               {1e30f, 0x7e},
               {kF32Max, 0x7e},
               {kInf, 0x7e},
               {-kInf, 0xfe}});
}

TEST(FloatConvert, E5M2Boundaries) {
  auto nosat = [](float x) -> std::uint32_t { return f32_to_e5m2(x, false); };
  auto sat = [](float x) -> std::uint32_t { return f32_to_e5m2(x, true); };
  for (const auto& narrow :
       {std::function<std::uint32_t(float)>(nosat), std::function<std::uint32_t(float)>(sat)}) {
    check_cases("e5m2", narrow,
                {
                    {0.0f, 0x00},
                    {-0.0f, 0x80},
                    {1.0f, 0x3c},
                    {-1.0f, 0xbc},
                    {57344.0f, 0x7b},
                    {-57344.0f, 0xfb},
                    {std::nextafter(61440.0f, 0.0f), 0x7b},  // just below the overflow tie
                    {0x1p-16f, 0x01},                        // smallest subnormal
                    {0x1p-17f, 0x00},
                    {-0x1p-17f, 0x80},
                    {std::nextafter(0x1p-17f, 1.0f), 0x01},
                    {0x1.8p-16f, 0x02},
                    {0x1p-14f, 0x04},  // smallest normal
                    {1.125f, 0x3c},
                    {1.375f, 0x3e},  // ties in the normals
                });
    EXPECT_EQ(narrow(kNaN) & 0x7f, 0x7e);
    EXPECT_EQ(narrow(-kNaN), 0xfe);
  }
  check_cases("e5m2 no-sat", nosat,
              {{61440.0f, 0x7c},  // tie, max is odd: Inf
               {-61440.0f, 0xfc},
               {1e30f, 0x7c},
               {kF32Max, 0x7c},
               {kInf, 0x7c},
               {-kInf, 0xfc}});
  check_cases(
      "e5m2 satfinite", sat,
      {{61440.0f, 0x7b}, {-61440.0f, 0xfb}, {1e30f, 0x7b}, {kF32Max, 0x7b}, {kInf, 0x7b}, {-kInf, 0xfb}});
}

}  // namespace
}  // namespace qjit
