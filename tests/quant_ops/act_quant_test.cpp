// Reference activation quantization against hand-computed answers. Rows are chosen so that
// inv = qmax / amax is exact (a power of two or 127 / 4 = 31.75) and every x * inv is exact:
// the expected bytes then follow from rounding and the formats alone.

#include "quant_ops/reference/act_quant.hpp"

#include <gtest/gtest.h>

#include <cfenv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "common/error.hpp"
#include "quant_ops/reference/quantize_value.hpp"

namespace qjit::reference {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr QType kAllQTypes[] = {QType::kInt8, QType::kE4M3, QType::kE5M2};

std::vector<std::uint8_t> bytes(std::initializer_list<int> v) {
  std::vector<std::uint8_t> out;
  for (int b : v) out.push_back(static_cast<std::uint8_t>(b));
  return out;
}

// The largest encoding, +qmax and -qmax, of each qtype.
std::uint8_t max_code(QType q) { return q == QType::kInt8 ? 0x7F : q == QType::kE4M3 ? 0x7E : 0x7B; }
std::uint8_t min_code(QType q) { return q == QType::kInt8 ? 0x81 : q == QType::kE4M3 ? 0xFE : 0xFB; }

TEST(ActQuantPerToken, Int8KnownAnswer) {
  // Row 0: amax 4, inv 31.75: 31.75 -> 32, -63.5 -> -64 (tie, even), 15.875 -> 16, 127.
  // Row 1: amax 254, inv 0.5: -127, 63.5 -> 64 (tie, even), 31.75 -> 32, 0.
  const std::vector<float> x = {1.0f, -2.0f, 0.5f, 4.0f, -254.0f, 127.0f, 63.5f, 0.0f};
  const QuantizedActs r = quantize_dynamic(x, 2, 4, QType::kInt8, Granularity::kPerToken);
  EXPECT_EQ(r.q_int8(), (std::vector<std::int8_t>{32, -64, 16, 127, -127, 64, 32, 0}));
  EXPECT_EQ(r.scales, (std::vector<float>{4.0f / 127.0f, 2.0f}));
  EXPECT_EQ(r.rows, 2);
  EXPECT_EQ(r.cols, 4);
}

TEST(ActQuantPerToken, E4M3KnownAnswer) {
  // Row 0: amax 448, inv 1, scale 1: 448 -> 0x7E, -1.0625 -> 0xB8 (tie, even),
  //   432 -> 0x7E (tie between 416 and 448, even), 1.1875 -> 0x3A (tie, even).
  // Row 1: amax 224, inv 2, scale 0.5: 448 -> 0x7E, 1.0625 -> 0x38, -1.1875 -> 0xBA,
  //   2^-7 (subnormal, 4 * 2^-9) -> 0x04.
  const std::vector<float> x = {448.0f, -1.0625f, 432.0f, 1.1875f, 224.0f, 0.53125f, -0.59375f, 0x1p-8f};
  const QuantizedActs r = quantize_dynamic(x, 2, 4, QType::kE4M3, Granularity::kPerToken);
  EXPECT_EQ(r.q, bytes({0x7E, 0xB8, 0x7E, 0x3A, 0x7E, 0x38, 0xBA, 0x04}));
  EXPECT_EQ(r.scales, (std::vector<float>{1.0f, 0.5f}));
}

TEST(ActQuantPerToken, E5M2KnownAnswer) {
  // amax 57344, inv 1: 0x7B, 1.125 -> 0x3C (tie, even), -1.375 -> 0xBE (tie, even), 0.
  const std::vector<float> x = {57344.0f, 1.125f, -1.375f, 0.0f};
  const QuantizedActs r = quantize_dynamic(x, 1, 4, QType::kE5M2, Granularity::kPerToken);
  EXPECT_EQ(r.q, bytes({0x7B, 0x3C, 0xBE, 0x00}));
  EXPECT_EQ(r.scales, (std::vector<float>{1.0f}));
}

TEST(ActQuantPerToken, ZeroRowsGetTheClampedScale) {
  for (QType q : kAllQTypes) {
    const std::vector<float> x(3 * 5, 0.0f);
    const QuantizedActs r = quantize_dynamic(x, 3, 5, q, Granularity::kPerToken);
    EXPECT_EQ(r.q, std::vector<std::uint8_t>(15, 0)) << qtype_name(q);
    EXPECT_EQ(r.scales, std::vector<float>(3, 1e-30f / qtype_max(q))) << qtype_name(q);
    for (float v : dequantize(r)) EXPECT_EQ(v, 0.0f);
  }
}

TEST(ActQuantPerToken, NegativeZeroStaysZero) {
  // -0 * inv = -0: int8 0; fp8 the negative-zero code, which decodes to 0.
  const std::vector<float> x = {-0.0f, 0.0f};
  EXPECT_EQ(quantize_dynamic(x, 1, 2, QType::kInt8, Granularity::kPerToken).q, bytes({0, 0}));
  for (QType q : {QType::kE4M3, QType::kE5M2}) {
    const QuantizedActs r = quantize_dynamic(x, 1, 2, q, Granularity::kPerToken);
    EXPECT_EQ(decode_value(q, r.q[0]), 0.0f);
    EXPECT_TRUE(std::signbit(decode_value(q, r.q[0])));
    EXPECT_EQ(r.q[1], 0);
  }
}

TEST(ActQuantPerToken, TinyRowsUseAmaxClampedTo1em30) {
  // amax 4e-31 < 1e-30: a = 1e-30, inv = 1.27e32: 4e-31 -> 50.8 -> 51, -1e-31 -> -12.7 -> -13,
  // 1e-40 (subnormal) -> 1.27e-8 -> 0.
  const std::vector<float> x = {4e-31f, -1e-31f, 1e-40f, 0.0f};
  const QuantizedActs r = quantize_dynamic(x, 1, 4, QType::kInt8, Granularity::kPerToken);
  EXPECT_EQ(r.q_int8(), (std::vector<std::int8_t>{51, -13, 0, 0}));
  EXPECT_EQ(r.scales[0], 1e-30f / 127.0f);
}

TEST(ActQuantPerToken, NaNAndInfRowsGiveNaNScaleAndZeroQ) {
  // Row 0 is finite and must not be touched by its neighbours.
  const std::vector<float> x = {1.0f, -2.0f, 0.5f, 4.0f,    //
                                1.0f, kNaN, 2.0f, 3.0f,     //
                                kInf, 1.0f, 2.0f, 3.0f,     //
                                1.0f, 2.0f, 3.0f, -kInf};
  for (QType q : kAllQTypes) {
    const QuantizedActs r = quantize_dynamic(x, 4, 4, q, Granularity::kPerToken);
    EXPECT_EQ(r.scales[0], 4.0f / qtype_max(q));
    for (int row = 1; row < 4; ++row) {
      EXPECT_TRUE(std::isnan(r.scales[row])) << qtype_name(q) << " row " << row;
      for (int c = 0; c < 4; ++c) EXPECT_EQ(r.q[row * 4 + c], 0) << qtype_name(q);
    }
    const std::vector<float> y = dequantize(r);
    for (int i = 4; i < 16; ++i) EXPECT_TRUE(std::isnan(y[i]));  // the rows' outputs are NaN
    EXPECT_EQ(r.q[3], max_code(q));
  }
}

TEST(ActQuantPerToken, ExactAmaxSaturatesToQmax) {
  // x = ±amax gives ±qmax even where a * RN(qmax / a) rounds above qmax (int8: rint then the
  // clamp; fp8: satfinite).
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> mag(-30.0f, 30.0f);
  for (QType q : kAllQTypes) {
    for (int i = 0; i < 500; ++i) {
      const float a = std::ldexp(1.0f + static_cast<float>(i) / 500.0f, static_cast<int>(mag(rng)));
      const std::vector<float> x = {a, -a, a * 0.25f};
      const QuantizedActs r = quantize_dynamic(x, 1, 3, q, Granularity::kPerToken);
      ASSERT_EQ(r.q[0], max_code(q)) << qtype_name(q) << " amax " << a;
      ASSERT_EQ(r.q[1], min_code(q)) << qtype_name(q) << " amax " << a;
    }
  }
}

TEST(ActQuantPerToken, StridedRowsIgnoreThePadding) {
  // Row stride 5: the fifth element of each row is padding (NaN) and must not be read.
  const std::vector<float> x = {1.0f, -2.0f, 0.5f, 4.0f, kNaN, -254.0f, 127.0f, 63.5f, 0.0f, kNaN};
  const ActView v{x.data(), DType::kF32, 2, 4, 5};
  const QuantizedActs r = quantize_dynamic(v, QType::kInt8, Granularity::kPerToken);
  EXPECT_EQ(r.q_int8(), (std::vector<std::int8_t>{32, -64, 16, 127, -127, 64, 32, 0}));
  EXPECT_EQ(r.scales, (std::vector<float>{4.0f / 127.0f, 2.0f}));
}

TEST(ActQuantPerToken, F16AndBF16Inputs) {
  // The row {1, -2, 0.5, 4} of Int8KnownAnswer in both 16-bit formats.
  const std::vector<std::uint16_t> f16 = {0x3C00, 0xC000, 0x3800, 0x4400};
  const std::vector<std::uint16_t> bf16 = {0x3F80, 0xC000, 0x3F00, 0x4080};
  for (auto [bits, dtype] : {std::pair{f16, DType::kF16}, std::pair{bf16, DType::kBF16}}) {
    const QuantizedActs r = quantize_dynamic(bits, dtype, 1, 4, QType::kInt8, Granularity::kPerToken);
    EXPECT_EQ(r.q_int8(), (std::vector<std::int8_t>{32, -64, 16, 127})) << dtype_name(dtype);
    EXPECT_EQ(r.scales[0], 4.0f / 127.0f);
    const QuantizedActs s = quantize_static(bits, dtype, 1, 4, QType::kE4M3, 0.5f);
    EXPECT_EQ(s.q, bytes({0x40, 0xC8, 0x38, 0x50})) << dtype_name(dtype);  // 2, -4, 1, 8
  }
  // f16 smallest subnormal 2^-24: amax 2^-24, inv = 127 * 2^24 exact, q = 127.
  const QuantizedActs sub = quantize_dynamic(std::vector<std::uint16_t>{0x0001, 0x0000}, DType::kF16, 1, 2,
                                             QType::kInt8, Granularity::kPerToken);
  EXPECT_EQ(sub.q_int8(), (std::vector<std::int8_t>{127, 0}));
  EXPECT_EQ(sub.scales[0], 0x1p-24f / 127.0f);
  // f16 Inf (0x7C00), f16 NaN (0x7E00), bf16 NaN (0x7FC0), bf16 -Inf (0xFF80).
  for (auto [bits, dtype] : {std::pair{std::vector<std::uint16_t>{0x3C00, 0x7C00}, DType::kF16},
                             std::pair{std::vector<std::uint16_t>{0x7E00, 0x3C00}, DType::kF16},
                             std::pair{std::vector<std::uint16_t>{0x7FC0, 0x3F80}, DType::kBF16},
                             std::pair{std::vector<std::uint16_t>{0x3F80, 0xFF80}, DType::kBF16}}) {
    const QuantizedActs r = quantize_dynamic(bits, dtype, 1, 2, QType::kE4M3, Granularity::kPerToken);
    EXPECT_TRUE(std::isnan(r.scales[0]));
    EXPECT_EQ(r.q, bytes({0, 0}));
  }
}

TEST(ActQuantPerTensor, KnownAnswer) {
  // amax 8, inv 127 / 8 = 15.875: 15.875 -> 16, -31.75 -> -32, 47.625 -> 48, -127,
  // 7.9375 -> 8, 31.75 -> 32.
  const std::vector<float> x = {1.0f, -2.0f, 3.0f, -8.0f, 0.5f, 2.0f};
  const QuantizedActs r = quantize_dynamic(x, 2, 3, QType::kInt8, Granularity::kPerTensor);
  EXPECT_EQ(r.q_int8(), (std::vector<std::int8_t>{16, -32, 48, -127, 8, 32}));
  EXPECT_EQ(r.scales, (std::vector<float>{8.0f / 127.0f}));
  EXPECT_EQ(r.scale_at(1, 2), 8.0f / 127.0f);
}

TEST(ActQuantPerTensor, OneNaNAnywhereMakesTheScaleNaN) {
  for (QType q : kAllQTypes) {
    std::vector<float> x(3 * 5, 1.0f);
    x[2 * 5 + 3] = kNaN;
    const QuantizedActs r = quantize_dynamic(x, 3, 5, q, Granularity::kPerTensor);
    ASSERT_EQ(r.scales.size(), 1u);
    EXPECT_TRUE(std::isnan(r.scales[0])) << qtype_name(q);
    EXPECT_EQ(r.q, std::vector<std::uint8_t>(15, 0)) << qtype_name(q);
    for (float v : dequantize(r)) EXPECT_TRUE(std::isnan(v));
    x[2 * 5 + 3] = -kInf;
    EXPECT_TRUE(std::isnan(quantize_dynamic(x, 3, 5, q, Granularity::kPerTensor).scales[0]));
  }
}

TEST(ActQuantGroup128, PartialLastGroupWithK300) {
  // K = 300: groups [0, 128), [128, 256), [256, 300). Row 0's groups have amax 127, 254 and
  // 63.5 (inv 1, 0.5, 2); row 1 is row 0 with a NaN in group 1 only.
  constexpr int kK = 300;
  std::vector<float> x(2 * kK);
  std::vector<std::int8_t> want(2 * kK);
  for (int c = 0; c < kK; ++c) {
    float v;
    std::int8_t q;
    if (c < 128) {  // integers -127..127: q = v
      v = static_cast<float>(c * 2 - 127);
      q = static_cast<std::int8_t>(v);
    } else if (c < 256) {  // even integers: q = v / 2, exact
      v = static_cast<float>((c - 128) * 4 - 254);
      q = static_cast<std::int8_t>(v / 2);
    } else {  // multiples of 0.5 up to 63.5: q = 2 v
      v = static_cast<float>(c - 256) * 1.5f - 1.0f;
      if (c == 299) v = -63.5f;
      q = static_cast<std::int8_t>(v * 2);
    }
    x[c] = x[kK + c] = v;
    want[c] = want[kK + c] = q;
  }
  // Ties inside group 1 (inv 0.5): 3 -> 1.5 -> 2, 5 -> 2.5 -> 2, -7 -> -3.5 -> -4.
  x[130] = x[kK + 130] = 3.0f;
  want[130] = want[kK + 130] = 2;
  x[131] = x[kK + 131] = 5.0f;
  want[131] = want[kK + 131] = 2;
  x[132] = x[kK + 132] = -7.0f;
  want[132] = want[kK + 132] = -4;
  x[kK + 200] = kNaN;
  for (int c = 128; c < 256; ++c) want[kK + c] = 0;

  EXPECT_EQ(act_scale_count(2, kK, Granularity::kGroup128), 6);
  const QuantizedActs r = quantize_dynamic(x, 2, kK, QType::kInt8, Granularity::kGroup128);
  EXPECT_EQ(r.q_int8(), want);
  ASSERT_EQ(r.scales.size(), 6u);
  EXPECT_EQ(r.scales[0], 1.0f);
  EXPECT_EQ(r.scales[1], 2.0f);
  EXPECT_EQ(r.scales[2], 0.5f);
  EXPECT_EQ(r.scales[3], 1.0f);
  EXPECT_TRUE(std::isnan(r.scales[4]));
  EXPECT_EQ(r.scales[5], 0.5f);
  EXPECT_EQ(r.scale_at(1, 299), 0.5f);
}

TEST(ActQuantGroup128, E4M3GroupsAreIndependent) {
  // Groups of 1 x 128 with amax 448, 224, 896: inv 1, 2, 0.5; K = 257 leaves one element in
  // the last group (amax 896).
  std::vector<float> x(257, 0.0f);
  x[0] = 448.0f;
  x[1] = 1.0625f;     // -> 0x38 (tie)
  x[128] = -224.0f;   // -> -448
  x[129] = 0.59375f;  // 1.1875 -> 0x3A (tie)
  x[256] = 896.0f;    // -> 448
  const QuantizedActs r = quantize_dynamic(x, 1, 257, QType::kE4M3, Granularity::kGroup128);
  EXPECT_EQ(r.scales, (std::vector<float>{1.0f, 0.5f, 2.0f}));
  EXPECT_EQ(r.q[0], 0x7E);
  EXPECT_EQ(r.q[1], 0x38);
  EXPECT_EQ(r.q[128], 0xFE);
  EXPECT_EQ(r.q[129], 0x3A);
  EXPECT_EQ(r.q[256], 0x7E);
  EXPECT_EQ(act_scale_count(3, 256, Granularity::kGroup128), 6);
}

TEST(ActQuantStatic, Int8MapsNaNToZeroAndInfToQmax) {
  // s = 0.5, inv 2: 2, -2.5 -> -2, 127, 128 -> 127, -200 -> -127, NaN -> 0, ±Inf -> ±127,
  // 1.5 -> 2, 2.5 -> 2.
  const std::vector<float> x = {1.0f, -1.25f, 63.5f, 64.0f, -100.0f, kNaN, kInf, -kInf, 0.75f, 1.25f};
  const QuantizedActs r = quantize_static(x, 2, 5, QType::kInt8, 0.5f);
  EXPECT_EQ(r.q_int8(), (std::vector<std::int8_t>{2, -2, 127, 127, -127, 0, 127, -127, 2, 2}));
  EXPECT_EQ(r.scales, (std::vector<float>{0.5f}));
  EXPECT_EQ(r.granularity, Granularity::kPerTensor);
}

TEST(ActQuantStatic, Fp8KeepsNaNAndSaturatesInf) {
  // e4m3, s = 2, inv 0.5: 1 -> 0x38, 1.0625 -> 0x38 (tie), 448 -> 0x7E, 500 -> 0x7E,
  // -5e29 -> 0xFE, NaN, +Inf -> 0x7E, -Inf -> 0xFE.
  const std::vector<float> x = {2.0f, 2.125f, 896.0f, 1000.0f, -1e30f, kNaN, kInf, -kInf};
  const QuantizedActs r = quantize_static(x, 1, 8, QType::kE4M3, 2.0f);
  EXPECT_EQ(r.q[0], 0x38);
  EXPECT_EQ(r.q[1], 0x38);
  EXPECT_EQ(r.q[2], 0x7E);
  EXPECT_EQ(r.q[3], 0x7E);
  EXPECT_EQ(r.q[4], 0xFE);
  EXPECT_TRUE(std::isnan(decode_value(QType::kE4M3, r.q[5])));
  EXPECT_EQ(r.q[6], 0x7E);
  EXPECT_EQ(r.q[7], 0xFE);
  const std::vector<float> y = dequantize(r);
  EXPECT_EQ(y[2], 896.0f);
  EXPECT_TRUE(std::isnan(y[5]));

  const std::vector<float> e = {57344.0f, 60000.0f, kInf, -kInf, kNaN, 1.125f};
  const QuantizedActs s = quantize_static(e, 1, 6, QType::kE5M2, 1.0f);
  EXPECT_EQ(s.q[0], 0x7B);
  EXPECT_EQ(s.q[1], 0x7B);
  EXPECT_EQ(s.q[2], 0x7B);
  EXPECT_EQ(s.q[3], 0xFB);
  EXPECT_TRUE(std::isnan(decode_value(QType::kE5M2, s.q[4])));
  EXPECT_EQ(s.q[5], 0x3C);
}

TEST(ActQuantStatic, RejectsBadScales) {
  const std::vector<float> x = {1.0f, 2.0f};
  for (float s : {0.0f, -1.0f, kNaN, kInf, 1e-40f}) {
    EXPECT_THROW(quantize_static(x, 1, 2, QType::kInt8, s), Error) << s;
  }
}

TEST(ActQuant, DequantizeIsWithinHalfAStep) {
  // int8: |x * inv - q| <= 0.5, so |x - q * scale| <= 0.5 * scale up to a few ulps of the
  // products (relative 2^-22 covers inv, scale and the two products).
  // e4m3: 3 mantissa bits, so a normal value is off by at most 2^-4 relative; a subnormal
  // (below 2^-6 after scaling) by half a step, 2^-10 * scale.
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-3.0f, 3.0f);
  std::vector<float> x(7 * 300);
  for (float& v : x) v = dist(rng);
  for (Granularity g : {Granularity::kPerToken, Granularity::kPerTensor, Granularity::kGroup128}) {
    const QuantizedActs i8 = quantize_dynamic(x, 7, 300, QType::kInt8, g);
    const QuantizedActs f8 = quantize_dynamic(x, 7, 300, QType::kE4M3, g);
    const std::vector<float> yi = dequantize(i8);
    const std::vector<float> yf = dequantize(f8);
    for (int r = 0; r < 7; ++r) {
      for (int c = 0; c < 300; ++c) {
        const int i = r * 300 + c;
        const float si = i8.scale_at(r, c);
        const float sf = f8.scale_at(r, c);
        ASSERT_LE(std::fabs(x[i] - yi[i]), 0.5f * si * (1.0f + 0x1p-22f) + 0x1p-22f * std::fabs(x[i]));
        ASSERT_LE(std::fabs(x[i] - yf[i]),
                  std::fmax(std::fabs(x[i]) * 0x1p-4f, 0x1p-10f * sf) * (1.0f + 0x1p-20f));
      }
    }
  }
}

TEST(ActQuant, EmptyShapes) {
  const QuantizedActs r = quantize_dynamic(std::vector<float>{}, 0, 16, QType::kInt8, Granularity::kPerToken);
  EXPECT_TRUE(r.q.empty());
  EXPECT_TRUE(r.scales.empty());
}

TEST(ActQuant, Errors) {
  const std::vector<float> x(8, 1.0f);
  auto throws_with = [](auto fn, const std::string& needle) {
    try {
      fn();
      ADD_FAILURE() << "no error; expected one mentioning '" << needle << "'";
    } catch (const Error& e) {
      EXPECT_NE(e.message().find(needle), std::string::npos) << e.message();
    }
  };
  throws_with([&] { quantize_dynamic(x, 3, 4, QType::kInt8, Granularity::kPerToken); }, "needs 12");
  throws_with([&] { quantize_dynamic(x, -1, 4, QType::kInt8, Granularity::kPerToken); }, "negative");
  throws_with([&] { quantize_static(x, 2, -4, QType::kInt8, 1.0f); }, "negative");
  throws_with([&] { quantize_dynamic(x, 2, 4, QType::kNone, Granularity::kPerToken); }, "'none'");
  throws_with([&] { quantize_static(x, 2, 4, QType::kNone, 1.0f); }, "'none'");
  throws_with([&] { quantize_dynamic(x, 2, 4, QType::kInt8, Granularity::kPerChannel); }, "per_channel");
  throws_with([&] { quantize_dynamic(x, 2, 4, QType::kInt8, Granularity::kBlock128); }, "block128");
  throws_with([&] { quantize_static(x, 2, 4, QType::kInt8, 0.0f); }, "finite and > 0");
  throws_with([&] { quantize_static(x, 2, 4, QType::kE4M3, kNaN); }, "finite and > 0");
  throws_with([&] { quantize_static(x, 2, 4, QType::kE4M3, 1e-40f); }, "overflows");
  throws_with([&] { quantize_dynamic(ActView{x.data(), DType::kF32, 2, 4, 3}, QType::kInt8,
                                     Granularity::kPerToken); }, "row stride 3");
  throws_with([&] { quantize_dynamic(ActView{nullptr, DType::kF32, 2, 4, 4}, QType::kInt8,
                                     Granularity::kPerToken); }, "no data");
  throws_with([&] { quantize_dynamic(ActView{x.data(), DType::kI8, 2, 4, 4}, QType::kInt8,
                                     Granularity::kPerToken); }, "got int8");
  throws_with([&] { quantize_dynamic(std::vector<std::uint16_t>(8), DType::kF32, 2, 4, QType::kInt8,
                                     Granularity::kPerToken); }, "got f32");
  throws_with([&] { quantize_dynamic(x, 2, 4, QType::kE4M3, Granularity::kPerToken).q_int8(); }, "q_int8");
}

TEST(ActQuant, RequiresTheDefaultRoundingMode) {
  const std::vector<float> x = {1.0f};
  ASSERT_EQ(std::fesetround(FE_UPWARD), 0);
  EXPECT_THROW(quantize_dynamic(x, 1, 1, QType::kInt8, Granularity::kPerToken), Error);
  std::fesetround(FE_TONEAREST);
  EXPECT_NO_THROW(quantize_dynamic(x, 1, 1, QType::kInt8, Granularity::kPerToken));
}

}  // namespace
}  // namespace qjit::reference
