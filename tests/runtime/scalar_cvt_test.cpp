// Known-answer tests of cvt, written from the PTX ISA's cvt section: integer rounding on
// ties and near-ties, saturation bounds, NaN handling, packed order, ftz; plus cross-checks
// of every rounding mode against the host's IEEE conversions.

#include <gtest/gtest.h>

#include <bit>
#include <cfenv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>

#include "common/error.hpp"
#include "runtime/float_convert.hpp"
#include "sim/scalar_ops.hpp"

namespace qjit::sim {
namespace {

using T = ScalarType;

std::uint64_t fb(float x) { return std::bit_cast<std::uint32_t>(x); }
std::uint64_t db(double x) { return std::bit_cast<std::uint64_t>(x); }
float bf(std::uint64_t v) { return std::bit_cast<float>(static_cast<std::uint32_t>(v)); }

CvtMods mods(std::initializer_list<std::string_view> m) { return parse_cvt_mods(m); }

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

// --- int <-> int ------------------------------------------------------------------------

TEST(CvtIntToInt, ExtensionFollowsTheSourceType) {
  EXPECT_EQ(cvt(T::kS32, T::kS8, {}, 0x80), 0xffffff80u);
  EXPECT_EQ(cvt(T::kU32, T::kS8, {}, 0xff), 0xffffffffu);  // sext: the source is signed
  EXPECT_EQ(cvt(T::kS32, T::kU8, {}, 0xff), 0xffu);        // zext: the source is unsigned
  EXPECT_EQ(cvt(T::kS64, T::kS32, {}, 0x80000000u), 0xffffffff80000000ull);
  EXPECT_EQ(cvt(T::kU64, T::kU32, {}, 0x80000000u), 0x80000000ull);
  EXPECT_EQ(cvt(T::kS16, T::kS8, {}, 0x1ff), 0xffffu);  // only the low 8 source bits count
}

TEST(CvtIntToInt, NarrowingChopsWithoutSat) {
  EXPECT_EQ(cvt(T::kU8, T::kU32, {}, 0x1234), 0x34u);
  EXPECT_EQ(cvt(T::kS8, T::kS32, {}, 0xffffff7fu), 0x7fu);
  EXPECT_EQ(cvt(T::kU32, T::kS64, {}, 0xfedcba9876543210ull), 0x76543210u);
}

TEST(CvtIntToInt, SatClampsToTheDestinationRange) {
  const CvtMods sat = mods({"sat"});
  EXPECT_EQ(cvt(T::kU8, T::kS32, sat, static_cast<std::uint32_t>(-5)), 0u);
  EXPECT_EQ(cvt(T::kU8, T::kS32, sat, 300), 255u);
  EXPECT_EQ(cvt(T::kS8, T::kS32, sat, 200), 127u);
  EXPECT_EQ(cvt(T::kS8, T::kS32, sat, static_cast<std::uint32_t>(-200)), 0x80u);
  EXPECT_EQ(cvt(T::kS32, T::kU32, sat, 0xffffffffu), 0x7fffffffu);
  EXPECT_EQ(cvt(T::kU32, T::kS64, sat, static_cast<std::uint64_t>(-1)), 0u);
  EXPECT_EQ(cvt(T::kS16, T::kU64, sat, ~std::uint64_t{0}), 0x7fffu);
  EXPECT_EQ(cvt(T::kS64, T::kU64, sat, ~std::uint64_t{0}), 0x7fffffffffffffffull);
  EXPECT_EQ(cvt(T::kU64, T::kS64, sat, 0x8000000000000000ull), 0u);
  EXPECT_EQ(cvt(T::kS8, T::kS32, sat, 100), 100u);
}

// --- float -> int -----------------------------------------------------------------------

std::int64_t f2i(T dst, std::string_view rnd, float x, T src = T::kF32) {
  std::uint64_t bits = fb(x);
  if (src == T::kF16) bits = f32_to_f16(x);
  if (src == T::kBF16) bits = f32_to_bf16(x);
  if (src == T::kF64) bits = db(x);
  const std::uint64_t r = cvt(dst, src, mods({rnd}), bits);
  const int n = type_bits(dst);
  if (is_signed_int(dst) && n < 64) return static_cast<std::int64_t>(r << (64 - n)) >> (64 - n);
  return static_cast<std::int64_t>(r);
}

TEST(CvtFloatToInt, RniRoundsTiesToEven) {
  EXPECT_EQ(f2i(T::kS32, "rni", 0.5f), 0);
  EXPECT_EQ(f2i(T::kS32, "rni", 1.5f), 2);
  EXPECT_EQ(f2i(T::kS32, "rni", 2.5f), 2);
  EXPECT_EQ(f2i(T::kS32, "rni", -0.5f), 0);
  EXPECT_EQ(f2i(T::kS32, "rni", -1.5f), -2);
  EXPECT_EQ(f2i(T::kS32, "rni", -2.5f), -2);
  // Near ties: one f32 ulp either side of 2.5.
  EXPECT_EQ(f2i(T::kS32, "rni", std::nextafter(2.5f, 3.0f)), 3);
  EXPECT_EQ(f2i(T::kS32, "rni", std::nextafter(2.5f, 2.0f)), 2);
  EXPECT_EQ(f2i(T::kS32, "rni", std::nextafter(-2.5f, -3.0f)), -3);
  // The largest f32 below 0.5 and 2^23 + 0.5 ties are exercised by exact values.
  EXPECT_EQ(f2i(T::kS32, "rni", std::nextafter(0.5f, 0.0f)), 0);
  EXPECT_EQ(f2i(T::kS32, "rni", 8388607.5f), 8388608);
}

TEST(CvtFloatToInt, DirectedIntegerRounding) {
  EXPECT_EQ(f2i(T::kS32, "rzi", 2.7f), 2);
  EXPECT_EQ(f2i(T::kS32, "rzi", -2.7f), -2);
  EXPECT_EQ(f2i(T::kS32, "rmi", 2.9f), 2);
  EXPECT_EQ(f2i(T::kS32, "rmi", -2.1f), -3);
  EXPECT_EQ(f2i(T::kS32, "rpi", 2.1f), 3);
  EXPECT_EQ(f2i(T::kS32, "rpi", -2.9f), -2);
  EXPECT_EQ(f2i(T::kS32, "rpi", 2.0f), 2);
  EXPECT_EQ(f2i(T::kS32, "rmi", -2.0f), -2);
}

TEST(CvtFloatToInt, SaturatesByDefault) {
  EXPECT_EQ(f2i(T::kS8, "rni", 300.0f), 127);
  EXPECT_EQ(f2i(T::kS8, "rni", -300.0f), -128);
  EXPECT_EQ(f2i(T::kS8, "rni", kInf), 127);
  EXPECT_EQ(f2i(T::kS8, "rni", -kInf), -128);
  EXPECT_EQ(f2i(T::kS8, "rni", 127.4f), 127);
  EXPECT_EQ(f2i(T::kS8, "rni", 127.5f), 127);  // rounds to 128, then clamps
  EXPECT_EQ(f2i(T::kS8, "rni", -128.5f), -128);
  EXPECT_EQ(f2i(T::kU8, "rni", -0.6f), 0);
  EXPECT_EQ(f2i(T::kU8, "rni", 255.5f), 255);
  EXPECT_EQ(f2i(T::kS32, "rzi", 3e9f), INT32_MAX);
  EXPECT_EQ(f2i(T::kS32, "rzi", -3e9f), INT32_MIN);
  EXPECT_EQ(f2i(T::kU32, "rzi", -1.0f), 0);
  EXPECT_EQ(f2i(T::kU32, "rzi", 5e9f), 0xffffffffll);
  EXPECT_EQ(f2i(T::kS64, "rzi", 1e19f), INT64_MAX);
  EXPECT_EQ(f2i(T::kS64, "rzi", -1e19f), INT64_MIN);
  EXPECT_EQ(static_cast<std::uint64_t>(f2i(T::kU64, "rzi", 1e20f)), ~std::uint64_t{0});
  EXPECT_EQ(static_cast<std::uint64_t>(f2i(T::kU64, "rzi", 0x1p63f)), 0x8000000000000000ull);
  EXPECT_EQ(f2i(T::kS64, "rzi", -0x1p63f), INT64_MIN);
  EXPECT_EQ(f2i(T::kS16, "rni", 40000.0f, T::kF64), 32767);
  EXPECT_EQ(f2i(T::kU16, "rni", 65504.0f, T::kF16), 65504);
  EXPECT_EQ(f2i(T::kS16, "rni", kInf, T::kF16), 32767);
  EXPECT_EQ(f2i(T::kS32, "rni", 3e38f, T::kBF16), INT32_MAX);
}

TEST(CvtFloatToInt, NaNGivesZeroOr64BitMinimum) {
  for (const T dst : {T::kS8, T::kU8, T::kS16, T::kU16, T::kS32, T::kU32}) {
    EXPECT_EQ(cvt(dst, T::kF32, mods({"rni"}), fb(kNaN)), 0u) << scalar_type_name(dst);
    EXPECT_EQ(cvt(dst, T::kF32, mods({"rzi"}), fb(-kNaN)), 0u) << scalar_type_name(dst);
  }
  EXPECT_EQ(cvt(T::kS64, T::kF32, mods({"rni"}), fb(kNaN)), kNaNToInt64);
  EXPECT_EQ(cvt(T::kU64, T::kF64, mods({"rzi"}), db(std::nan(""))), kNaNToInt64);
  EXPECT_EQ(cvt(T::kS32, T::kF16, mods({"rni"}), 0x7e00), 0u);
  EXPECT_EQ(cvt(T::kS32, T::kBF16, mods({"rni"}), 0xffc0), 0u);
}

TEST(CvtFloatToInt, FtzFlushesSubnormalInputs) {
  const float tiny = std::numeric_limits<float>::denorm_min();
  EXPECT_EQ(cvt(T::kS32, T::kF32, mods({"rpi"}), fb(tiny)), 1u);
  EXPECT_EQ(cvt(T::kS32, T::kF32, mods({"rpi", "ftz"}), fb(tiny)), 0u);
  EXPECT_EQ(cvt(T::kS32, T::kF32, mods({"rmi"}), fb(-tiny)), 0xffffffffu);
  EXPECT_EQ(cvt(T::kS32, T::kF32, mods({"rmi", "ftz"}), fb(-tiny)), 0u);
}

TEST(CvtFloatToInt, DesignSectionFiveInt8Rule) {
  // cvt.rni.sat.s8.f32 as DESIGN.md section 5 uses it: NaN -> 0, half to even, saturation.
  const CvtMods m = mods({"rni", "sat"});
  EXPECT_EQ(cvt(T::kS8, T::kF32, m, fb(kNaN)), 0u);
  EXPECT_EQ(cvt(T::kS8, T::kF32, m, fb(126.5f)), 126u);
  EXPECT_EQ(cvt(T::kS8, T::kF32, m, fb(-126.5f)), 0x82u);
  EXPECT_EQ(cvt(T::kS8, T::kF32, m, fb(kInf)), 0x7fu);
}

// --- int -> float -----------------------------------------------------------------------

TEST(CvtIntToFloat, EveryRoundingModeOnTiesAndNearTies) {
  const auto f = [](std::string_view rnd, std::int64_t v, T src = T::kS32) {
    return bf(cvt(T::kF32, src, mods({rnd}), static_cast<std::uint64_t>(v)));
  };
  // 2^24 + 1 is a tie between 2^24 and 2^24 + 2: even is 2^24.
  EXPECT_EQ(f("rn", 16777217), 16777216.0f);
  EXPECT_EQ(f("rn", 16777219), 16777220.0f);  // tie, even mantissa above
  EXPECT_EQ(f("rz", 16777219), 16777218.0f);
  EXPECT_EQ(f("rm", 16777219), 16777218.0f);
  EXPECT_EQ(f("rp", 16777217), 16777218.0f);
  EXPECT_EQ(f("rm", -16777217), -16777218.0f);
  EXPECT_EQ(f("rp", -16777217), -16777216.0f);
  EXPECT_EQ(f("rz", -16777217), -16777216.0f);
  // Near tie: 2^26 + 5 lies 1 above the midpoint 2^26 + 4 of 2^26 and 2^26 + 8.
  EXPECT_EQ(f("rn", 67108869), 67108872.0f);
  EXPECT_EQ(f("rn", 67108867), 67108864.0f);
  EXPECT_EQ(f("rn", -1), -1.0f);
  EXPECT_EQ(f("rn", 0), 0.0f);
  EXPECT_FALSE(std::signbit(f("rm", 0)));
}

TEST(CvtIntToFloat, SixtyFourBitSources) {
  const std::uint64_t umax = ~std::uint64_t{0};
  EXPECT_EQ(cvt(T::kF32, T::kU64, mods({"rn"}), umax), 0x5f800000u);  // 2^64
  EXPECT_EQ(cvt(T::kF32, T::kU64, mods({"rz"}), umax), 0x5f7fffffu);
  EXPECT_EQ(cvt(T::kF64, T::kU64, mods({"rn"}), umax), db(0x1p64));
  EXPECT_EQ(cvt(T::kF64, T::kU64, mods({"rz"}), umax), 0x43efffffffffffffull);
  EXPECT_EQ(cvt(T::kF64, T::kS64, mods({"rn"}), 0x8000000000000000ull), db(-0x1p63));
  EXPECT_EQ(cvt(T::kF64, T::kS64, mods({"rm"}), static_cast<std::uint64_t>(-((1ll << 53) + 1))),
            db(-0x1p53 - 2));
  EXPECT_EQ(cvt(T::kF64, T::kS64, mods({"rn"}), (1ull << 53) + 1), db(0x1p53));
}

TEST(CvtIntToFloat, HalfAndBfloatDestinations) {
  EXPECT_EQ(cvt(T::kF16, T::kS32, mods({"rn"}), 2049), 0x6800u);  // tie -> 2048
  EXPECT_EQ(cvt(T::kF16, T::kS32, mods({"rn"}), 2051), 0x6802u);  // tie -> 2052
  EXPECT_EQ(cvt(T::kF16, T::kS32, mods({"rn"}), 65520), 0x7c00u);  // tie with 2^16: Inf
  EXPECT_EQ(cvt(T::kF16, T::kS32, mods({"rz"}), 65520), 0x7bffu);
  EXPECT_EQ(cvt(T::kF16, T::kS32, mods({"rn", "satfinite"}), 100000), 0x7bffu);
  EXPECT_EQ(cvt(T::kBF16, T::kS32, mods({"rn"}), 257), 0x4380u);  // tie -> 256
  EXPECT_EQ(cvt(T::kBF16, T::kS32, mods({"rn"}), 259), 0x4382u);  // tie -> 260
  EXPECT_EQ(cvt(T::kBF16, T::kU16, mods({"rp"}), 257), 0x4381u);
}

// --- float <-> float --------------------------------------------------------------------

std::uint64_t f2h(std::string_view rnd, float x, std::initializer_list<std::string_view> more = {}) {
  CvtMods m = mods(more);
  apply_cvt_mod(m, rnd);
  return cvt(T::kF16, T::kF32, m, fb(x));
}

TEST(CvtFloatToFloat, F32ToF16EveryModeOnTies) {
  const float tie = 1.0f + 0x1p-11f;  // halfway between 1 and 1 + 2^-10
  EXPECT_EQ(f2h("rn", tie), 0x3c00u);
  EXPECT_EQ(f2h("rz", tie), 0x3c00u);
  EXPECT_EQ(f2h("rm", tie), 0x3c00u);
  EXPECT_EQ(f2h("rp", tie), 0x3c01u);
  EXPECT_EQ(f2h("rn", -tie), 0xbc00u);
  EXPECT_EQ(f2h("rm", -tie), 0xbc01u);
  EXPECT_EQ(f2h("rp", -tie), 0xbc00u);
  const float odd_tie = 1.0f + 3 * 0x1p-11f;  // halfway between 1 + 2^-10 and 1 + 2^-9
  EXPECT_EQ(f2h("rn", odd_tie), 0x3c02u);
  EXPECT_EQ(f2h("rz", odd_tie), 0x3c01u);
  // Near ties: one f32 ulp either side.
  EXPECT_EQ(f2h("rn", std::nextafter(tie, 2.0f)), 0x3c01u);
  EXPECT_EQ(f2h("rn", std::nextafter(odd_tie, 0.0f)), 0x3c01u);
  EXPECT_EQ(f2h("rz", std::nextafter(odd_tie, 2.0f)), 0x3c01u);
  EXPECT_EQ(f2h("rp", 1.0f), 0x3c00u);  // exact values stay in every mode
}

TEST(CvtFloatToFloat, F32ToF16OverflowAndSubnormals) {
  EXPECT_EQ(f2h("rn", 65520.0f), 0x7c00u);
  EXPECT_EQ(f2h("rn", std::nextafter(65520.0f, 0.0f)), 0x7bffu);
  EXPECT_EQ(f2h("rz", 65520.0f), 0x7bffu);
  EXPECT_EQ(f2h("rz", kInf), 0x7c00u);  // Inf stays Inf in every mode
  EXPECT_EQ(f2h("rp", 65520.0f), 0x7c00u);
  EXPECT_EQ(f2h("rm", 65520.0f), 0x7bffu);
  EXPECT_EQ(f2h("rm", -65520.0f), 0xfc00u);
  EXPECT_EQ(f2h("rp", -65520.0f), 0xfbffu);
  EXPECT_EQ(f2h("rn", 0x1p-25f), 0x0000u);  // tie between 0 and the smallest subnormal
  EXPECT_EQ(f2h("rp", 0x1p-25f), 0x0001u);
  EXPECT_EQ(f2h("rn", 0x1.8p-25f), 0x0001u);
  EXPECT_EQ(f2h("rn", 0x1.8p-24f), 0x0002u);  // tie between 1 and 2 subnormal units
  EXPECT_EQ(f2h("rm", -0x1p-30f), 0x8001u);
  EXPECT_EQ(f2h("rz", -0x1p-30f), 0x8000u);
  EXPECT_EQ(f2h("rn", 0x1.ffcp-15f), 0x0400u);  // rounds up into the smallest normal
}

TEST(CvtFloatToFloat, SatfiniteAndReluOnNarrowDestinations) {
  EXPECT_EQ(f2h("rn", 1e6f, {"satfinite"}), 0x7bffu);
  EXPECT_EQ(f2h("rn", -kInf, {"satfinite"}), 0xfbffu);
  EXPECT_EQ(f2h("rn", kNaN, {"satfinite"}), kCanonicalNaNF16);
  EXPECT_EQ(f2h("rn", -1.0f, {"relu"}), 0u);
  EXPECT_EQ(f2h("rn", -0.0f, {"relu"}), 0u);
  EXPECT_EQ(f2h("rn", 2.0f, {"relu"}), 0x4000u);
  EXPECT_EQ(f2h("rn", -kNaN, {"relu"}), kCanonicalNaNF16);
  EXPECT_EQ(cvt(T::kBF16, T::kF32, mods({"rz", "satfinite"}), fb(kInf)), 0x7f7fu);
  EXPECT_EQ(cvt(T::kBF16, T::kF32, mods({"rn", "relu", "satfinite"}), fb(-3.0f)), 0u);
}

TEST(CvtFloatToFloat, F32ToBf16AndF64ToF32) {
  const float tie = 1.0f + 0x1p-8f;
  EXPECT_EQ(cvt(T::kBF16, T::kF32, mods({"rn"}), fb(tie)), 0x3f80u);
  EXPECT_EQ(cvt(T::kBF16, T::kF32, mods({"rp"}), fb(tie)), 0x3f81u);
  EXPECT_EQ(cvt(T::kBF16, T::kF32, mods({"rz"}), fb(std::nextafter(tie, 2.0f))), 0x3f80u);
  EXPECT_EQ(cvt(T::kBF16, T::kF32, mods({"rn"}), fb(std::nextafter(tie, 2.0f))), 0x3f81u);

  EXPECT_EQ(cvt(T::kF32, T::kF64, mods({"rn"}), db(1.0 + 0x1p-24)), fb(1.0f));
  EXPECT_EQ(cvt(T::kF32, T::kF64, mods({"rp"}), db(1.0 + 0x1p-24)), 0x3f800001u);
  EXPECT_EQ(cvt(T::kF32, T::kF64, mods({"rn"}), db(1.0 + 0x1p-24 + 0x1p-50)), 0x3f800001u);
  EXPECT_EQ(cvt(T::kF32, T::kF64, mods({"rn"}), db(1.0 + 3 * 0x1p-24)), 0x3f800002u);
  EXPECT_EQ(cvt(T::kF32, T::kF64, mods({"rn"}), db(3.5e38)), fb(kInf));
  EXPECT_EQ(cvt(T::kF32, T::kF64, mods({"rz"}), db(3.5e38)), fb(std::numeric_limits<float>::max()));
  EXPECT_EQ(cvt(T::kF32, T::kF64, mods({"rn"}), db(-1e-40)), fb(-1e-40f));
  EXPECT_EQ(cvt(T::kF32, T::kF64, mods({"rn", "ftz"}), db(-1e-40)), 0x80000000u);
  EXPECT_EQ(cvt(T::kF16, T::kF64, mods({"rn"}), db(1.0 + 0x1p-11 + 0x1p-40)), 0x3c01u);
  EXPECT_EQ(cvt(T::kF16, T::kBF16, mods({"rz"}), 0x4780), 0x7bffu);  // bf16 65536 -> f16 max under rz
}

TEST(CvtFloatToFloat, WideningIsExactAndNaNIsCanonical) {
  EXPECT_EQ(cvt(T::kF32, T::kF16, {}, 0x0001), fb(0x1p-24f));
  EXPECT_EQ(cvt(T::kF32, T::kF16, {}, 0xfbff), fb(-65504.0f));
  EXPECT_EQ(cvt(T::kF32, T::kBF16, {}, 0x3f81), fb(1.0078125f));
  EXPECT_EQ(cvt(T::kF64, T::kF16, {}, 0x8001), db(-0x1p-24));
  EXPECT_EQ(cvt(T::kF64, T::kF32, {}, fb(0x1p-149f)), db(0x1p-149));
  EXPECT_EQ(cvt(T::kF32, T::kF16, {}, 0xfe01), kCanonicalNaNF32);
  EXPECT_EQ(cvt(T::kF32, T::kBF16, {}, 0xffc1), kCanonicalNaNF32);
  EXPECT_EQ(cvt(T::kF64, T::kF32, {}, fb(-kNaN)), kCanonicalNaNF64);
  EXPECT_EQ(cvt(T::kF32, T::kF64, mods({"rn"}), db(-std::nan(""))), kCanonicalNaNF32);
  EXPECT_EQ(cvt(T::kF32, T::kF16, {}, 0x7c00), fb(kInf));
}

TEST(CvtFloatToFloat, SameTypeIntegerRoundingSatAndFtz) {
  const auto r = [](std::initializer_list<std::string_view> m, float x) { return bf(cvt(T::kF32, T::kF32, mods(m), fb(x))); };
  EXPECT_EQ(r({"rni"}, 2.5f), 2.0f);
  EXPECT_EQ(r({"rni"}, 3.5f), 4.0f);
  EXPECT_EQ(r({"rni"}, std::nextafter(2.5f, 3.0f)), 3.0f);
  EXPECT_TRUE(std::signbit(r({"rni"}, -0.5f)));
  EXPECT_EQ(r({"rzi"}, -2.7f), -2.0f);
  EXPECT_EQ(r({"rmi"}, -2.1f), -3.0f);
  EXPECT_EQ(r({"rpi"}, 2.1f), 3.0f);
  EXPECT_TRUE(std::signbit(r({"rpi"}, -0.5f)));
  EXPECT_EQ(r({"rni"}, 1e30f), 1e30f);
  EXPECT_EQ(r({"sat"}, 1.5f), 1.0f);
  EXPECT_EQ(r({"sat"}, 0.25f), 0.25f);
  EXPECT_EQ(fb(r({"sat"}, -0.5f)), 0u);
  EXPECT_EQ(fb(r({"sat"}, kNaN)), 0u);  // NaN results are flushed to +0
  EXPECT_EQ(fb(r({"ftz"}, -1e-40f)), 0x80000000u);
  EXPECT_EQ(fb(r({}, -1e-40f)), fb(-1e-40f));
  EXPECT_EQ(cvt(T::kF16, T::kF16, mods({"rni"}), 0x3e00), 0x4000u);  // f16 1.5 -> 2
  EXPECT_EQ(cvt(T::kF64, T::kF64, mods({"rmi"}), db(-0.25)), db(-1.0));
}

// The generic rounding (f64 sources) agrees with float_convert's exact RNE conversions (f32
// sources) on a sweep of f32 values: every f64 of an f32 value is exact, so both are one
// rounding of the same value.
TEST(CvtFloatToFloat, GenericRoundingMatchesFloatConvert) {
  std::mt19937 rng(7);
  for (int i = 0; i < 50000; ++i) {
    const std::uint32_t bits = rng();
    const float x = std::bit_cast<float>(bits);
    if (std::isnan(x)) continue;
    ASSERT_EQ(cvt(T::kF16, T::kF64, mods({"rn"}), db(x)), f32_to_f16(x)) << std::hex << bits;
    ASSERT_EQ(cvt(T::kBF16, T::kF64, mods({"rn"}), db(x)), f32_to_bf16(x)) << std::hex << bits;
  }
}

// Directed f64 -> f32 rounding agrees with the host's conversion under fesetround.
TEST(CvtFloatToFloat, DirectedModesMatchTheHost) {
  struct Mode {
    const char* name;
    int host;
  };
  std::mt19937_64 rng(11);
  for (const Mode mode : {Mode{"rn", FE_TONEAREST}, Mode{"rz", FE_TOWARDZERO}, Mode{"rm", FE_DOWNWARD},
                          Mode{"rp", FE_UPWARD}}) {
    for (int i = 0; i < 20000; ++i) {
      // Doubles around the f32 range, subnormals and overflow included, with random low bits.
      const int e = static_cast<int>(rng() % 300) - 160;
      const double x = std::ldexp(1.0 + static_cast<double>(rng() >> 12) * 0x1p-52, e) * ((rng() & 1) ? -1 : 1);
      std::fesetround(mode.host);
      volatile double vx = x;
      volatile float host = static_cast<float>(vx);
      std::fesetround(FE_TONEAREST);
      ASSERT_EQ(cvt(T::kF32, T::kF64, mods({mode.name}), db(x)), fb(host)) << mode.name << " " << x;
    }
  }
}

// --- packed -----------------------------------------------------------------------------

TEST(CvtPacked, F16x2AndBf16x2PutAInTheUpperHalf) {
  EXPECT_EQ(cvt2(T::kF16x2, T::kF32, mods({"rn"}), fb(1.0f), fb(2.0f)), 0x3c004000u);
  EXPECT_EQ(cvt2(T::kBF16x2, T::kF32, mods({"rn"}), fb(1.0f), fb(-2.0f)), 0x3f80c000u);
  EXPECT_EQ(cvt2(T::kF16x2, T::kF32, mods({"rz"}), fb(1.0f + 0x1p-11f), fb(65520.0f)), 0x3c007bffu);
  EXPECT_EQ(cvt2(T::kF16x2, T::kF32, mods({"rn", "relu", "satfinite"}), fb(-1.0f), fb(1e9f)), 0x00007bffu);
  EXPECT_EQ(cvt2(T::kBF16x2, T::kF32, mods({"rn"}), fb(kNaN), fb(0.0f)), 0x7fff0000u);
}

TEST(CvtPacked, Fp8PairsFromF32) {
  const CvtMods m = mods({"rn", "satfinite"});
  EXPECT_EQ(cvt2(T::kE4M3x2, T::kF32, m, fb(1.0f), fb(-2.0f)), 0x38c0u);  // a -> bits [15:8]
  EXPECT_EQ(cvt2(T::kE4M3x2, T::kF32, m, fb(1000.0f), fb(-kInf)), 0x7efeu);
  EXPECT_EQ(cvt2(T::kE4M3x2, T::kF32, m, fb(kNaN), fb(-kNaN)), 0x7f7fu);  // canonical NaN, sign dropped
  EXPECT_EQ(cvt2(T::kE4M3x2, T::kF32, m, fb(1.0625f), fb(1.1875f)), 0x383au);  // ties to even
  EXPECT_EQ(cvt2(T::kE4M3x2, T::kF32, m, fb(448.0f), fb(464.0f)), 0x7e7eu);    // 464 rounds to 448 or sat
  EXPECT_EQ(cvt2(T::kE5M2x2, T::kF32, m, fb(1.0f), fb(1e6f)), 0x3c7bu);
  EXPECT_EQ(cvt2(T::kE5M2x2, T::kF32, m, fb(-kNaN), fb(-kInf)), 0x7ffbu);
  const CvtMods relu = mods({"rn", "satfinite", "relu"});
  EXPECT_EQ(cvt2(T::kE4M3x2, T::kF32, relu, fb(-1.0f), fb(2.0f)), 0x0040u);
  EXPECT_EQ(cvt2(T::kE5M2x2, T::kF32, relu, fb(kNaN), fb(-0.0f)), 0x7f00u);
}

TEST(CvtPacked, F16x2FromFp8PairsAndBack) {
  const CvtMods rn = mods({"rn"});
  EXPECT_EQ(cvt(T::kF16x2, T::kE4M3x2, rn, 0x38c0), 0x3c00c000u);  // upper byte -> upper half
  EXPECT_EQ(cvt(T::kF16x2, T::kE4M3x2, rn, 0x7eff), 0x5f007fffu);  // 448, NaN -> canonical
  EXPECT_EQ(cvt(T::kF16x2, T::kE4M3x2, rn, 0x0001), 0x00001800u);  // smallest subnormal 2^-9
  EXPECT_EQ(cvt(T::kF16x2, T::kE5M2x2, rn, 0x7cfc), 0x7c00fc00u);  // +-Inf
  EXPECT_EQ(cvt(T::kF16x2, T::kE5M2x2, rn, 0x7b01), 0x7b000100u);  // 57344, 2^-16
  EXPECT_EQ(cvt(T::kF16x2, T::kE4M3x2, mods({"rn", "relu"}), 0xc038), 0x00003c00u);

  const CvtMods sf = mods({"rn", "satfinite"});
  EXPECT_EQ(cvt(T::kE4M3x2, T::kF16x2, sf, 0x3c00c000u), 0x38c0u);
  EXPECT_EQ(cvt(T::kE4M3x2, T::kF16x2, sf, 0x7c007e00u), 0x7e7fu);  // Inf -> 448, NaN -> 0x7f
  EXPECT_EQ(cvt(T::kE5M2x2, T::kF16x2, sf, 0x3c00fc00u), 0x3cfbu);
  EXPECT_EQ(cvt(T::kE4M3x2, T::kF16x2, mods({"rn", "satfinite", "relu"}), 0xbc003c00u), 0x0038u);
}

TEST(CvtChecks, MissingOrWrongModifiersFailAtLoadTime) {
  EXPECT_THROW(check_cvt(T::kS32, T::kF32, {}, 1), Error);
  EXPECT_THROW(check_cvt(T::kS32, T::kF32, mods({"rn"}), 1), Error);
  EXPECT_THROW(check_cvt(T::kF16, T::kF32, {}, 1), Error);
  EXPECT_THROW(check_cvt(T::kF32, T::kS32, {}, 1), Error);
  EXPECT_THROW(check_cvt(T::kF16, T::kF32, mods({"rni"}), 1), Error);
  EXPECT_THROW(check_cvt(T::kE4M3x2, T::kF32, mods({"rz", "satfinite"}), 2), Error);
  EXPECT_THROW(check_cvt(T::kF16x2, T::kF16, mods({"rn"}), 2), Error);
  EXPECT_THROW(check_cvt(T::kPred, T::kF32, mods({"rn"}), 1), Error);
  EXPECT_NO_THROW(check_cvt(T::kS32, T::kF32, mods({"rni", "sat"}), 1));
  EXPECT_NO_THROW(check_cvt(T::kF32, T::kF16, {}, 1));
  EXPECT_NO_THROW(check_cvt(T::kE4M3x2, T::kF32, mods({"rn", "satfinite"}), 2));
  EXPECT_NO_THROW(check_cvt(T::kF16x2, T::kE5M2x2, mods({"rn", "relu"}), 1));
  EXPECT_NO_THROW(check_cvt(T::kU8, T::kS32, mods({"sat"}), 1));
}

}  // namespace
}  // namespace qjit::sim
