// The section-5 formulas on single values, with hand-computed answers. inv = 1 (or a power
// of two) makes x * inv exact, so each expected byte below follows from the formats alone.

#include "quant_ops/reference/quantize_value.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "common/error.hpp"

namespace qjit::reference {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

TEST(AmaxStep, PropagatesNaNFromEitherSide) {
  EXPECT_EQ(amax_step(0.0f, -5.0f), 5.0f);
  EXPECT_EQ(amax_step(5.0f, 3.0f), 5.0f);
  EXPECT_EQ(amax_step(0.0f, -kInf), kInf);
  EXPECT_TRUE(std::isnan(amax_step(1.0f, kNaN)));
  EXPECT_TRUE(std::isnan(amax_step(kNaN, 1.0f)));
  EXPECT_TRUE(std::isnan(amax_step(kNaN, kInf)));
}

TEST(DynamicScale, KnownAnswers) {
  GroupScale g = dynamic_scale(QType::kInt8, 4.0f);
  EXPECT_TRUE(g.finite);
  EXPECT_EQ(g.inv, 31.75f);  // 127 / 4, exact
  EXPECT_EQ(g.scale, 4.0f / 127.0f);
  g = dynamic_scale(QType::kE4M3, 224.0f);
  EXPECT_EQ(g.inv, 2.0f);
  EXPECT_EQ(g.scale, 0.5f);
  g = dynamic_scale(QType::kE5M2, 57344.0f * 4);
  EXPECT_EQ(g.inv, 0.25f);
  EXPECT_EQ(g.scale, 4.0f);
}

TEST(DynamicScale, ZeroAndTinyAmaxClampTo1em30) {
  for (float amax : {0.0f, 1e-31f, 1e-40f /* subnormal */, 1e-30f}) {
    const GroupScale g = dynamic_scale(QType::kInt8, amax);
    EXPECT_TRUE(g.finite);
    EXPECT_EQ(g.scale, 1e-30f / 127.0f) << amax;
    EXPECT_EQ(g.inv, 127.0f / 1e-30f) << amax;
  }
  EXPECT_EQ(dynamic_scale(QType::kE4M3, 0.0f).scale, 1e-30f / 448.0f);
  EXPECT_EQ(dynamic_scale(QType::kE5M2, 0.0f).scale, 1e-30f / 57344.0f);
}

TEST(DynamicScale, NaNOrInfAmaxGivesNaNScale) {
  for (QType q : {QType::kInt8, QType::kE4M3, QType::kE5M2}) {
    for (float amax : {kNaN, kInf}) {
      const GroupScale g = dynamic_scale(q, amax);
      EXPECT_FALSE(g.finite);
      EXPECT_TRUE(std::isnan(g.scale));
      EXPECT_EQ(quantize_in_group(q, 1.0f, g), 0);
      EXPECT_EQ(quantize_in_group(q, kNaN, g), 0);
    }
  }
}

TEST(StaticScale, InverseIsOneDivision) {
  const GroupScale g = static_scale(0.5f);
  EXPECT_TRUE(g.finite);
  EXPECT_EQ(g.scale, 0.5f);
  EXPECT_EQ(g.inv, 2.0f);
  EXPECT_EQ(static_scale(3.0f).inv, 1.0f / 3.0f);
}

TEST(StaticScale, RejectsNonPositiveNonFiniteAndOverflowingScales) {
  for (float s : {0.0f, -0.0f, -1.0f, kNaN, kInf, -kInf, 1e-40f /* 1/s overflows */}) {
    EXPECT_THROW(static_scale(s), Error) << s;
  }
  try {
    static_scale(-2.0f);
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("finite and > 0"), std::string::npos) << e.message();
  }
}

TEST(QuantizeInt8, RoundsHalfToEven) {
  // x * 1 is exactly k + 0.5: even k stays, odd k goes up in magnitude.
  EXPECT_EQ(quantize_int8(0.5f, 1.0f), 0);
  EXPECT_EQ(quantize_int8(1.5f, 1.0f), 2);
  EXPECT_EQ(quantize_int8(2.5f, 1.0f), 2);
  EXPECT_EQ(quantize_int8(3.5f, 1.0f), 4);
  EXPECT_EQ(quantize_int8(-0.5f, 1.0f), 0);
  EXPECT_EQ(quantize_int8(-2.5f, 1.0f), -2);
  EXPECT_EQ(quantize_int8(-3.5f, 1.0f), -4);
  EXPECT_EQ(quantize_int8(125.5f, 1.0f), 126);
  EXPECT_EQ(quantize_int8(126.5f, 1.0f), 126);
  // Ties reached through the multiply: 1.25 * 2 = 2.5, 0.875 * 4 = 3.5.
  EXPECT_EQ(quantize_int8(1.25f, 2.0f), 2);
  EXPECT_EQ(quantize_int8(0.875f, 4.0f), 4);
  // Just off a tie.
  EXPECT_EQ(quantize_int8(std::nextafter(2.5f, 3.0f), 1.0f), 3);
  EXPECT_EQ(quantize_int8(std::nextafter(3.5f, 3.0f), 1.0f), 3);
}

TEST(QuantizeInt8, SaturatesSymmetricallyAndMapsNaNToZero) {
  EXPECT_EQ(quantize_int8(127.0f, 1.0f), 127);
  EXPECT_EQ(quantize_int8(127.4f, 1.0f), 127);
  EXPECT_EQ(quantize_int8(127.5f, 1.0f), 127);   // rint gives 128
  EXPECT_EQ(quantize_int8(-127.5f, 1.0f), -127);  // rint gives -128: never produced
  EXPECT_EQ(quantize_int8(-128.0f, 1.0f), -127);
  EXPECT_EQ(quantize_int8(1e20f, 1.0f), 127);
  EXPECT_EQ(quantize_int8(-1e20f, 1.0f), -127);
  EXPECT_EQ(quantize_int8(kInf, 1.0f), 127);
  EXPECT_EQ(quantize_int8(-kInf, 1.0f), -127);
  EXPECT_EQ(quantize_int8(kNaN, 1.0f), 0);
  EXPECT_EQ(quantize_int8(1e30f, 1e30f), 127);  // the product overflows to Inf
}

// e4m3 (bias 7): 1.0 = 0x38, 1.125 = 0x39, 1.25 = 0x3A, 416 = 0x7D, 448 = 0x7E (max).
TEST(QuantizeFp8, E4M3RoundsHalfToEven) {
  EXPECT_EQ(quantize_fp8(QType::kE4M3, 1.0f, 1.0f), 0x38);
  EXPECT_EQ(quantize_fp8(QType::kE4M3, 1.0625f, 1.0f), 0x38);   // between 0x38 and 0x39: even
  EXPECT_EQ(quantize_fp8(QType::kE4M3, 1.1875f, 1.0f), 0x3A);   // between 0x39 and 0x3A: even
  EXPECT_EQ(quantize_fp8(QType::kE4M3, -1.0625f, 1.0f), 0xB8);
  EXPECT_EQ(quantize_fp8(QType::kE4M3, std::nextafter(1.0625f, 2.0f), 1.0f), 0x39);
  EXPECT_EQ(quantize_fp8(QType::kE4M3, 432.0f, 1.0f), 0x7E);    // between 416 (odd) and 448
  EXPECT_EQ(quantize_fp8(QType::kE4M3, 0.53125f, 2.0f), 0x38);  // 1.0625 after the multiply
  // Subnormals (step 2^-9): 2^-10 is between 0 and 0x01, 3 * 2^-10 between 0x01 and 0x02.
  EXPECT_EQ(quantize_fp8(QType::kE4M3, 0x1p-9f, 1.0f), 0x01);
  EXPECT_EQ(quantize_fp8(QType::kE4M3, 0x1p-10f, 1.0f), 0x00);
  EXPECT_EQ(quantize_fp8(QType::kE4M3, 0x3p-10f, 1.0f), 0x02);
}

TEST(QuantizeFp8, E4M3SaturatesFiniteAndKeepsNaN) {
  EXPECT_EQ(quantize_fp8(QType::kE4M3, 448.0f, 1.0f), 0x7E);
  EXPECT_EQ(quantize_fp8(QType::kE4M3, 464.0f, 1.0f), 0x7E);  // would round to 480: beyond max
  EXPECT_EQ(quantize_fp8(QType::kE4M3, 1e6f, 1.0f), 0x7E);
  EXPECT_EQ(quantize_fp8(QType::kE4M3, -1e6f, 1.0f), 0xFE);
  EXPECT_EQ(quantize_fp8(QType::kE4M3, kInf, 1.0f), 0x7E);
  EXPECT_EQ(quantize_fp8(QType::kE4M3, -kInf, 1.0f), 0xFE);
  EXPECT_TRUE(std::isnan(decode_value(QType::kE4M3, quantize_fp8(QType::kE4M3, kNaN, 1.0f))));
  EXPECT_EQ(quantize_fp8(QType::kE4M3, -kNaN, 1.0f), kCanonicalNaNFp8);  // sign dropped, as cvt does
}

// e5m2 (bias 15): 1.0 = 0x3C, 1.25 = 0x3D, 1.5 = 0x3E, 57344 = 0x7B (max finite).
TEST(QuantizeFp8, E5M2RoundsHalfToEvenAndSaturates) {
  EXPECT_EQ(quantize_fp8(QType::kE5M2, 1.125f, 1.0f), 0x3C);
  EXPECT_EQ(quantize_fp8(QType::kE5M2, 1.375f, 1.0f), 0x3E);
  EXPECT_EQ(quantize_fp8(QType::kE5M2, -1.375f, 1.0f), 0xBE);
  EXPECT_EQ(quantize_fp8(QType::kE5M2, 57344.0f, 1.0f), 0x7B);
  EXPECT_EQ(quantize_fp8(QType::kE5M2, 61440.0f, 1.0f), 0x7B);  // halfway to 65536: beyond max
  EXPECT_EQ(quantize_fp8(QType::kE5M2, kInf, 1.0f), 0x7B);
  EXPECT_EQ(quantize_fp8(QType::kE5M2, -kInf, 1.0f), 0xFB);
  EXPECT_TRUE(std::isnan(decode_value(QType::kE5M2, quantize_fp8(QType::kE5M2, kNaN, 1.0f))));
  EXPECT_EQ(quantize_fp8(QType::kE5M2, kNaN, 1.0f), kCanonicalNaNFp8);
}

TEST(QuantizeValue, BytesAndDecoding) {
  EXPECT_EQ(quantize_value(QType::kInt8, -127.0f, 1.0f), 0x81);  // two's complement
  EXPECT_EQ(decode_value(QType::kInt8, 0x81), -127.0f);
  EXPECT_EQ(dequantize_value(QType::kInt8, 0x81, 0.5f), -63.5f);
  EXPECT_EQ(decode_value(QType::kE4M3, 0x7E), 448.0f);
  EXPECT_EQ(decode_value(QType::kE5M2, 0x7B), 57344.0f);
  EXPECT_TRUE(std::isnan(dequantize_value(QType::kInt8, 0, kNaN)));
  EXPECT_THROW(quantize_fp8(QType::kInt8, 1.0f, 1.0f), Error);
  EXPECT_THROW(decode_value(QType::kNone, 0), Error);
}

}  // namespace
}  // namespace qjit::reference
