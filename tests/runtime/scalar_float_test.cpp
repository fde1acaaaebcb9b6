// Known-answer tests of the float arithmetic, min/max, sign operations, testp, setp and
// slct, written from the PTX ISA, plus sweeps of every rounding mode against the host's
// IEEE operations under fesetround.

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
std::uint64_t h(float x) { return f32_to_f16(x); }
std::uint64_t b16(float x) { return f32_to_bf16(x); }
std::uint64_t pack(std::uint64_t lo, std::uint64_t hi) { return lo | (hi << 16); }

CvtMods mods(std::initializer_list<std::string_view> m) { return parse_cvt_mods(m); }

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kDenorm = std::numeric_limits<float>::denorm_min();

// --- add / sub / mul / fma: known answers ----------------------------------------------

TEST(ScalarFloatArith, AddRoundsTiesInEveryMode) {
  const float tie = 0x1p-24f;  // 1 + 2^-24 lies halfway between 1 and 1 + 2^-23
  EXPECT_EQ(fadd(T::kF32, mods({"rn"}), fb(1.0f), fb(tie)), fb(1.0f));
  EXPECT_EQ(fadd(T::kF32, mods({"rz"}), fb(1.0f), fb(tie)), fb(1.0f));
  EXPECT_EQ(fadd(T::kF32, mods({"rm"}), fb(1.0f), fb(tie)), fb(1.0f));
  EXPECT_EQ(fadd(T::kF32, mods({"rp"}), fb(1.0f), fb(tie)), 0x3f800001u);
  EXPECT_EQ(fadd(T::kF32, mods({"rm"}), fb(-1.0f), fb(-tie)), 0xbf800001u);
  EXPECT_EQ(fadd(T::kF32, mods({"rp"}), fb(-1.0f), fb(-tie)), fb(-1.0f));
  EXPECT_EQ(fadd(T::kF32, {}, fb(1.0f), fb(3 * tie)), 0x3f800002u);  // odd tie goes up; kNone = rn
  // Near tie: 2^-24 + 2^-47 above 1 rounds up; the sticky part sits 23 bits below the tie.
  EXPECT_EQ(fadd(T::kF32, mods({"rn"}), fb(1.0f), fb(0x1.000002p-24f)), 0x3f800001u);
  EXPECT_EQ(fadd(T::kF32, mods({"rz"}), fb(1.0f), fb(0x1.000002p-24f)), fb(1.0f));
  // A tiny addend far below the last place still decides directed rounding.
  EXPECT_EQ(fadd(T::kF32, mods({"rp"}), fb(1.0f), fb(kDenorm)), 0x3f800001u);
  EXPECT_EQ(fadd(T::kF32, mods({"rz"}), fb(1.0f), fb(-kDenorm)), 0x3f7fffffu);
  EXPECT_EQ(fadd(T::kF32, mods({"rn"}), fb(1.0f), fb(-kDenorm)), fb(1.0f));
}

TEST(ScalarFloatArith, ExactZeroSigns) {
  EXPECT_EQ(fadd(T::kF32, mods({"rn"}), fb(1.0f), fb(-1.0f)), 0u);
  EXPECT_EQ(fadd(T::kF32, mods({"rm"}), fb(1.0f), fb(-1.0f)), 0x80000000u);
  EXPECT_EQ(fadd(T::kF32, mods({"rn"}), fb(-0.0f), fb(-0.0f)), 0x80000000u);
  EXPECT_EQ(fadd(T::kF32, mods({"rn"}), fb(0.0f), fb(-0.0f)), 0u);
  EXPECT_EQ(fadd(T::kF32, mods({"rm"}), fb(0.0f), fb(-0.0f)), 0x80000000u);
  EXPECT_EQ(fsub(T::kF32, mods({"rn"}), fb(2.5f), fb(2.5f)), 0u);
  EXPECT_EQ(fmul(T::kF32, mods({"rn"}), fb(-0.0f), fb(3.0f)), 0x80000000u);
  EXPECT_EQ(ffma(T::kF32, mods({"rn"}), fb(2.0f), fb(3.0f), fb(-6.0f)), 0u);
  EXPECT_EQ(ffma(T::kF32, mods({"rm"}), fb(2.0f), fb(3.0f), fb(-6.0f)), 0x80000000u);
  EXPECT_EQ(ffma(T::kF32, mods({"rn"}), fb(-0.0f), fb(3.0f), fb(-0.0f)), 0x80000000u);
  EXPECT_EQ(fadd(T::kF64, mods({"rm"}), db(1.0), db(-1.0)), 0x8000000000000000ull);
}

TEST(ScalarFloatArith, NaNAndInfinity) {
  EXPECT_EQ(fadd(T::kF32, mods({"rn"}), fb(kInf), fb(-kInf)), kCanonicalNaNF32);
  EXPECT_EQ(fadd(T::kF32, mods({"rn"}), fb(-kNaN), fb(1.0f)), kCanonicalNaNF32);
  EXPECT_EQ(fmul(T::kF32, mods({"rn"}), fb(kInf), fb(0.0f)), kCanonicalNaNF32);
  EXPECT_EQ(ffma(T::kF32, mods({"rn"}), fb(kInf), fb(0.0f), fb(1.0f)), kCanonicalNaNF32);
  EXPECT_EQ(ffma(T::kF32, mods({"rn"}), fb(kInf), fb(1.0f), fb(-kInf)), kCanonicalNaNF32);
  EXPECT_EQ(fadd(T::kF32, mods({"rz"}), fb(kInf), fb(1.0f)), fb(kInf));  // Inf operands stay Inf
  EXPECT_EQ(fmul(T::kF32, mods({"rz"}), fb(3e38f), fb(10.0f)), fb(std::numeric_limits<float>::max()));
  EXPECT_EQ(fmul(T::kF32, mods({"rn"}), fb(3e38f), fb(10.0f)), fb(kInf));
  EXPECT_EQ(fmul(T::kF32, mods({"rm"}), fb(-3e38f), fb(10.0f)), fb(-kInf));
  EXPECT_EQ(fadd(T::kF64, mods({"rn"}), db(std::nan("")), db(1.0)), kCanonicalNaNF64);
  EXPECT_EQ(fadd(T::kF16, mods({"rn"}), 0x7c00, 0xfc00), kCanonicalNaNF16);
  EXPECT_EQ(fmul(T::kBF16, mods({"rn"}), 0xffc1, b16(1.0f)), kCanonicalNaNBF16);
}

TEST(ScalarFloatArith, FtzFlushesInputsAndResults) {
  EXPECT_EQ(fadd(T::kF32, mods({"rn", "ftz"}), fb(1e-40f), fb(0.0f)), 0u);
  EXPECT_EQ(fadd(T::kF32, mods({"rn", "ftz"}), fb(-1e-40f), fb(-0.0f)), 0x80000000u);
  EXPECT_EQ(fadd(T::kF32, mods({"rn"}), fb(1e-40f), fb(0.0f)), fb(1e-40f));
  EXPECT_EQ(fmul(T::kF32, mods({"rn", "ftz"}), fb(1e-20f), fb(-1e-20f)), 0x80000000u);  // subnormal result
  EXPECT_EQ(fmul(T::kF32, mods({"rn"}), fb(1e-20f), fb(1e-20f)), fb(1e-20f * 1e-20f));
  EXPECT_EQ(fmul(T::kF32, mods({"rn", "ftz"}), fb(0x1p-63f), fb(0x1p-63f)), fb(0x1p-126f));  // min normal stays
  EXPECT_EQ(ffma(T::kF32, mods({"rn", "ftz"}), fb(1e-40f), fb(1e30f), fb(1.0f)), fb(1.0f));
  EXPECT_EQ(fadd(T::kF16, mods({"rn", "ftz"}), 0x0001, 0x0000), 0u);
  EXPECT_EQ(fadd(T::kF16, mods({"rn"}), 0x0001, 0x0001), 0x0002u);
  EXPECT_EQ(fadd(T::kBF16, mods({"rn", "ftz"}), 0x0001, 0x0001), 0x0002u);  // bf16 has no ftz
}

TEST(ScalarFloatArith, SatAndRelu) {
  EXPECT_EQ(fadd(T::kF32, mods({"rn", "sat"}), fb(0.75f), fb(0.5f)), fb(1.0f));
  EXPECT_EQ(fadd(T::kF32, mods({"rn", "sat"}), fb(-0.75f), fb(-0.5f)), 0u);
  EXPECT_EQ(fadd(T::kF32, mods({"rn", "sat"}), fb(0.25f), fb(0.5f)), fb(0.75f));
  EXPECT_EQ(fmul(T::kF32, mods({"rn", "sat"}), fb(kNaN), fb(1.0f)), 0u);  // NaN -> +0
  EXPECT_EQ(ffma(T::kF16, mods({"rn", "relu"}), h(-1.0f), h(2.0f), h(1.0f)), 0u);
  EXPECT_EQ(ffma(T::kF16, mods({"rn", "relu"}), h(1.0f), h(2.0f), h(1.0f)), h(3.0f));
  EXPECT_EQ(ffma(T::kBF16, mods({"rn", "relu"}), 0xffc0, b16(2.0f), b16(1.0f)), kCanonicalNaNBF16);
  EXPECT_EQ(ffma(T::kF16, mods({"rn", "sat"}), h(1.0f), h(2.0f), h(1.0f)), h(1.0f));
}

TEST(ScalarFloatArith, HalfPrecisionAndPackedForms) {
  // f16: 1 + 2^-11 is a tie between 1 and 1 + 2^-10.
  EXPECT_EQ(fadd(T::kF16, mods({"rn"}), h(1.0f), h(0x1p-11f)), h(1.0f));
  EXPECT_EQ(fadd(T::kF16, mods({"rn"}), h(1.0f), h(0x1.8p-10f)), 0x3c02u);
  EXPECT_EQ(fmul(T::kF16, mods({"rn"}), h(300.0f), h(300.0f)), 0x7c00u);  // overflow
  // Fused: (1 + 2^-6)^2 - 1 = 2^-5 + 2^-12; a separately rounded square would lose the 2^-12.
  EXPECT_EQ(ffma(T::kF16, mods({"rn"}), h(1.0f + 0x1p-6f), h(1.0f + 0x1p-6f), h(-1.0f)), h(0x1p-5f + 0x1p-12f));
  EXPECT_EQ(fadd(T::kBF16, mods({"rn"}), b16(1.0f), b16(0x1p-8f)), b16(1.0f));
  EXPECT_EQ(fmul(T::kBF16, mods({"rn"}), b16(3.0f), b16(1.0f / 3.0f)), 0x3f80u);
  // Packed: element 0 in bits [15:0].
  EXPECT_EQ(fadd(T::kF16x2, mods({"rn"}), pack(h(1.0f), h(2.0f)), pack(h(3.0f), h(4.0f))), pack(h(4.0f), h(6.0f)));
  EXPECT_EQ(fsub(T::kF16x2, mods({"rn"}), pack(h(1.0f), h(2.0f)), pack(h(3.0f), h(-4.0f))), pack(h(-2.0f), h(6.0f)));
  EXPECT_EQ(fmul(T::kBF16x2, mods({"rn"}), pack(b16(2.0f), b16(-3.0f)), pack(b16(0.5f), b16(2.0f))),
            pack(b16(1.0f), b16(-6.0f)));
  EXPECT_EQ(ffma(T::kBF16x2, mods({"rn", "relu"}), pack(b16(2.0f), b16(-3.0f)), pack(b16(0.5f), b16(2.0f)),
                 pack(b16(1.0f), b16(1.0f))),
            pack(b16(2.0f), 0));
  EXPECT_EQ(ffma(T::kF16x2, mods({"rn"}), pack(h(1.0f), 0x7e00), pack(h(2.0f), h(1.0f)), pack(h(1.0f), h(1.0f))),
            pack(h(3.0f), kCanonicalNaNF16));
}

TEST(ScalarFloatArith, FmaRoundsOnce) {
  // (1 + 2^-12)^2 - 1 = 2^-11 + 2^-24: separately rounded, the square loses 2^-24.
  const float a = 1.0f + 0x1p-12f;
  EXPECT_EQ(bf(ffma(T::kF32, mods({"rn"}), fb(a), fb(a), fb(-1.0f))), 0x1p-11f + 0x1p-24f);
  // a*b + c with a huge cancellation and a sticky product tail.
  const float x = 1.0f + 0x1p-23f;
  // x^2 - 1 = 2^-22 + 2^-46 needs 25 significant bits: rz drops the tail, rp keeps a unit.
  EXPECT_EQ(ffma(T::kF32, mods({"rz"}), fb(x), fb(x), fb(-1.0f)), fb(0x1p-22f));
  EXPECT_EQ(ffma(T::kF32, mods({"rp"}), fb(x), fb(x), fb(-1.0f)), fb(0x1p-22f + 0x1p-45f));
  // (1 + 2^-23) + (1 + 2^-23)(1 - 2^-23) 2^-24 = 1 + 2^-23 + 2^-24 - 2^-70: its double is the
  // f32 midpoint 1 + 2^-23 + 2^-24 (which ties to even, upwards), but the exact value lies
  // below it, so round-to-nearest goes down.
  EXPECT_EQ(ffma(T::kF32, mods({"rn"}), fb(x), fb(0x1.fffffcp-25f), fb(x)), fb(x));
  EXPECT_EQ(ffma(T::kF32, mods({"rn"}), fb(-x), fb(0x1.fffffcp-25f), fb(-x)), fb(-x));
  EXPECT_EQ(ffma(T::kF32, mods({"rn"}), fb(x), fb(0x1p-24f), fb(x)), 0x3f800002u);  // just above the tie: up
  EXPECT_EQ(ffma(T::kF32, mods({"rp"}), fb(x), fb(-x), fb(1e30f)), fb(1e30f));
  EXPECT_EQ(ffma(T::kF32, mods({"rm"}), fb(x), fb(-x), fb(1e30f)), fb(std::nextafter(1e30f, 0.0f)));
}

// --- every rounding mode against the host --------------------------------------------------

struct HostMode {
  const char* name;
  int host;
};
constexpr HostMode kModes[] = {{"rn", FE_TONEAREST}, {"rz", FE_TOWARDZERO}, {"rm", FE_DOWNWARD}, {"rp", FE_UPWARD}};

float host_f32(int mode, char op, float a, float b, float c) {
  std::fesetround(mode);
  volatile float va = a, vb = b, vc = c;
  float r = 0;
  switch (op) {
    case '+': r = va + vb; break;
    case '-': r = va - vb; break;
    case '*': r = va * vb; break;
    case '/': r = va / vb; break;
    case 's': r = std::sqrt(static_cast<float>(va)); break;
    default: r = std::fmaf(va, vb, vc); break;
  }
  volatile float vr = r;
  std::fesetround(FE_TONEAREST);
  return vr;
}

// Random f32 operands: raw bit patterns (every class, subnormals included) and values built
// to cancel or to sit near ties.
float random_f32(std::mt19937& rng) {
  switch (rng() % 4) {
    case 0: return std::bit_cast<float>(static_cast<std::uint32_t>(rng()));
    case 1: return std::ldexp(1.0f + static_cast<float>(rng() % 64) * 0x1p-23f, static_cast<int>(rng() % 40) - 20);
    case 2: return std::bit_cast<float>(static_cast<std::uint32_t>((rng() % 0x01000000u) | ((rng() & 1) << 31)));
    default: return static_cast<float>(static_cast<int>(rng() % 2001) - 1000) * 0.125f;
  }
}

void expect_same_f32(std::uint64_t ours, float host, const char* what) {
  if (std::isnan(host)) {
    ASSERT_EQ(ours, kCanonicalNaNF32) << what;
  } else {
    ASSERT_EQ(ours, fb(host)) << what << " host " << host << " ours " << bf(ours);
  }
}

TEST(ScalarFloatArith, F32EveryModeMatchesTheHost) {
  std::mt19937 rng(1234);
  for (const HostMode& mode : kModes) {
    const CvtMods m = mods({mode.name});
    for (int i = 0; i < 12000; ++i) {
      const float a = random_f32(rng);
      float b = random_f32(rng);
      if (i % 5 == 0) b = -a * (1.0f + static_cast<float>(rng() % 8) * 0x1p-23f);  // cancellation
      const float c = (i % 3 == 0) ? -a * b : random_f32(rng);
      const std::string what = std::string(mode.name) + " a=" + std::to_string(a) + " b=" + std::to_string(b);
      expect_same_f32(fadd(T::kF32, m, fb(a), fb(b)), host_f32(mode.host, '+', a, b, 0), ("add " + what).c_str());
      expect_same_f32(fsub(T::kF32, m, fb(a), fb(b)), host_f32(mode.host, '-', a, b, 0), ("sub " + what).c_str());
      expect_same_f32(fmul(T::kF32, m, fb(a), fb(b)), host_f32(mode.host, '*', a, b, 0), ("mul " + what).c_str());
      expect_same_f32(fdiv(T::kF32, m, fb(a), fb(b)), host_f32(mode.host, '/', a, b, 0), ("div " + what).c_str());
      expect_same_f32(frcp(T::kF32, m, fb(b)), host_f32(mode.host, '/', 1.0f, b, 0), ("rcp " + what).c_str());
      expect_same_f32(fsqrt(T::kF32, m, fb(a)), host_f32(mode.host, 's', a, 0, 0), ("sqrt " + what).c_str());
      expect_same_f32(ffma(T::kF32, m, fb(a), fb(b), fb(c)), host_f32(mode.host, 'f', a, b, c), ("fma " + what).c_str());
    }
  }
  EXPECT_EQ(std::fegetround(), FE_TONEAREST);
}

TEST(ScalarFloatArith, F64DirectedModesRestoreTheHostMode) {
  const double tiny = 0x1p-60;
  EXPECT_EQ(fadd(T::kF64, mods({"rn"}), db(1.0), db(tiny)), db(1.0));
  EXPECT_EQ(fadd(T::kF64, mods({"rp"}), db(1.0), db(tiny)), db(std::nextafter(1.0, 2.0)));
  EXPECT_EQ(fadd(T::kF64, mods({"rm"}), db(1.0), db(-tiny)), db(std::nextafter(1.0, 0.0)));
  EXPECT_EQ(fadd(T::kF64, mods({"rz"}), db(-1.0), db(-tiny)), db(-1.0));
  EXPECT_EQ(fmul(T::kF64, mods({"rz"}), db(1.0 / 3.0), db(3.0)), db(std::nextafter(1.0, 0.0)));
  EXPECT_EQ(fdiv(T::kF64, mods({"rp"}), db(1.0), db(3.0)), db(std::nextafter(1.0 / 3.0, 1.0)));
  EXPECT_EQ(fdiv(T::kF64, mods({"rz"}), db(1.0), db(3.0)), db(1.0 / 3.0));
  // RN(sqrt 2) lies above sqrt 2, so rp keeps it and rz takes the double below.
  EXPECT_EQ(fsqrt(T::kF64, mods({"rp"}), db(2.0)), db(std::sqrt(2.0)));
  EXPECT_EQ(fsqrt(T::kF64, mods({"rz"}), db(2.0)), db(std::nextafter(std::sqrt(2.0), 0.0)));
  EXPECT_EQ(ffma(T::kF64, mods({"rm"}), db(1.0 + 0x1p-52), db(1.0 - 0x1p-53), db(-1.0)), db(0x1p-53 - 0x1p-105));
  EXPECT_EQ(frcp(T::kF64, mods({"rn"}), db(4.0)), db(0.25));
  EXPECT_EQ(std::fegetround(), FE_TONEAREST);
}

// --- div, rcp, sqrt: known answers ------------------------------------------------------

TEST(ScalarFloatDiv, IeeeDivisionRcpAndSqrt) {
  EXPECT_EQ(fdiv(T::kF32, mods({"rn"}), fb(1.0f), fb(3.0f)), 0x3eaaaaabu);
  EXPECT_EQ(fdiv(T::kF32, mods({"rz"}), fb(1.0f), fb(3.0f)), 0x3eaaaaaau);
  EXPECT_EQ(fdiv(T::kF32, mods({"rm"}), fb(-1.0f), fb(3.0f)), 0xbeaaaaabu);
  EXPECT_EQ(frcp(T::kF32, mods({"rn"}), fb(3.0f)), 0x3eaaaaabu);
  EXPECT_EQ(frcp(T::kF32, mods({"rz"}), fb(3.0f)), 0x3eaaaaaau);
  EXPECT_EQ(fdiv(T::kF32, mods({"rn"}), fb(1.0f), fb(0.0f)), fb(kInf));
  EXPECT_EQ(fdiv(T::kF32, mods({"rn"}), fb(-1.0f), fb(0.0f)), fb(-kInf));
  EXPECT_EQ(fdiv(T::kF32, mods({"rn"}), fb(0.0f), fb(0.0f)), kCanonicalNaNF32);
  EXPECT_EQ(fdiv(T::kF32, mods({"rn"}), fb(kInf), fb(kInf)), kCanonicalNaNF32);
  EXPECT_EQ(fdiv(T::kF32, mods({"rn"}), fb(1.0f), fb(-kInf)), 0x80000000u);
  EXPECT_EQ(fdiv(T::kF32, mods({"rn", "ftz"}), fb(1.0f), fb(1e-40f)), fb(kInf));  // flushed divisor
  EXPECT_EQ(fdiv(T::kF32, mods({"rn", "ftz"}), fb(1e-30f), fb(1e10f)), 0u);      // flushed result
  EXPECT_EQ(fsqrt(T::kF32, mods({"rn"}), fb(2.0f)), 0x3fb504f3u);
  EXPECT_EQ(fsqrt(T::kF32, mods({"rp"}), fb(2.0f)), 0x3fb504f4u);
  EXPECT_EQ(fsqrt(T::kF32, mods({"rz"}), fb(2.0f)), 0x3fb504f3u);
  EXPECT_EQ(fsqrt(T::kF32, mods({"rn"}), fb(-1.0f)), kCanonicalNaNF32);
  EXPECT_EQ(fsqrt(T::kF32, mods({"rn"}), fb(-0.0f)), 0x80000000u);
  EXPECT_EQ(fsqrt(T::kF32, mods({"rn"}), fb(kInf)), fb(kInf));
  EXPECT_EQ(fsqrt(T::kF32, mods({"rn", "ftz"}), fb(-1e-40f)), 0x80000000u);
  EXPECT_THROW(fdiv(T::kF16, mods({"rn"}), 0, 0), Error);
}

TEST(ScalarFloatDiv, FullAndApproxForms) {
  EXPECT_EQ(fdiv_full(false, fb(1.0f), fb(3.0f)), 0x3eaaaaabu);
  EXPECT_EQ(fdiv_full(false, fb(1.0f), fb(0x1.8p127f)), fdiv(T::kF32, mods({"rn"}), fb(1.0f), fb(0x1.8p127f)));
  EXPECT_EQ(fdiv_full(true, fb(1e-30f), fb(1e10f)), 0u);
  EXPECT_EQ(fdiv_approx(false, fb(6.0f), fb(3.0f)), fb(2.0f));
  // 2^126 < |b| < 2^128: the ISA's documented zero (or NaN for an infinite a).
  EXPECT_EQ(fdiv_approx(false, fb(1.0f), fb(0x1p127f)), 0u);
  EXPECT_EQ(fdiv_approx(false, fb(-1.0f), fb(0x1p127f)), 0x80000000u);
  EXPECT_EQ(fdiv_approx(false, fb(1e30f), fb(-0x1.8p126f)), 0x80000000u);
  EXPECT_EQ(fdiv_approx(false, fb(kInf), fb(0x1p127f)), kCanonicalNaNF32);
  EXPECT_EQ(fdiv_approx(false, fb(1.0f), fb(0x1p126f)), fb(0x1p-126f));  // 2^126 itself is in range
}

// --- min / max ----------------------------------------------------------------------------

TEST(ScalarMinMax, NaNOperandsAndSignedZeros) {
  EXPECT_EQ(fmin(T::kF32, false, false, fb(kNaN), fb(1.0f)), fb(1.0f));
  EXPECT_EQ(fmin(T::kF32, false, false, fb(1.0f), fb(kNaN)), fb(1.0f));
  EXPECT_EQ(fmax(T::kF32, false, false, fb(-kNaN), fb(-2.0f)), fb(-2.0f));
  EXPECT_EQ(fmin(T::kF32, false, false, fb(kNaN), fb(-kNaN)), kCanonicalNaNF32);
  EXPECT_EQ(fmin(T::kF32, false, true, fb(kNaN), fb(1.0f)), kCanonicalNaNF32);   // .NaN
  EXPECT_EQ(fmax(T::kF32, false, true, fb(1.0f), fb(kNaN)), kCanonicalNaNF32);
  EXPECT_EQ(fmax(T::kF32, false, true, fb(1.0f), fb(2.0f)), fb(2.0f));
  EXPECT_EQ(fmin(T::kF32, false, false, fb(0.0f), fb(-0.0f)), 0x80000000u);  // -0 < +0
  EXPECT_EQ(fmin(T::kF32, false, false, fb(-0.0f), fb(0.0f)), 0x80000000u);
  EXPECT_EQ(fmax(T::kF32, false, false, fb(-0.0f), fb(0.0f)), 0u);
  EXPECT_EQ(fmax(T::kF32, false, false, fb(0.0f), fb(-0.0f)), 0u);
  EXPECT_EQ(fmin(T::kF32, false, false, fb(-kInf), fb(3.0f)), fb(-kInf));
  EXPECT_EQ(fmax(T::kF64, false, false, db(std::nan("")), db(-1.0)), db(-1.0));
  EXPECT_EQ(fmin(T::kF64, false, false, db(0.0), db(-0.0)), db(-0.0));
  // .ftz: subnormal inputs are sign-preserving zeros.
  EXPECT_EQ(fmax(T::kF32, true, false, fb(1e-40f), fb(0.0f)), 0u);
  EXPECT_EQ(fmax(T::kF32, false, false, fb(1e-40f), fb(0.0f)), fb(1e-40f));
  EXPECT_EQ(fmin(T::kF32, true, false, fb(-1e-40f), fb(0.0f)), 0x80000000u);
}

TEST(ScalarMinMax, HalfBfloatPackedAndXorsignAbs) {
  EXPECT_EQ(fmin(T::kF16, false, false, h(2.0f), 0x7e00), h(2.0f));
  EXPECT_EQ(fmin(T::kF16, false, true, h(2.0f), 0x7e00), kCanonicalNaNF16);
  EXPECT_EQ(fmax(T::kF16, false, false, 0x8000, 0x0000), 0u);
  EXPECT_EQ(fmin(T::kBF16, false, false, 0x8000, 0x0000), 0x8000u);
  EXPECT_EQ(fmax(T::kBF16x2, false, false, pack(b16(1.0f), 0xffc0), pack(b16(2.0f), b16(-5.0f))),
            pack(b16(2.0f), b16(-5.0f)));
  EXPECT_EQ(fmin(T::kF16x2, false, true, pack(h(1.0f), 0x7e00), pack(h(2.0f), h(-5.0f))),
            pack(h(1.0f), kCanonicalNaNF16));
  // .xorsign.abs: |min| / |max| of the magnitudes, sign = sign(a) ^ sign(b).
  EXPECT_EQ(fmin(T::kF32, false, false, fb(-3.0f), fb(2.0f), true), fb(-2.0f));
  EXPECT_EQ(fmax(T::kF32, false, false, fb(-3.0f), fb(2.0f), true), fb(-3.0f));
  EXPECT_EQ(fmax(T::kF32, false, false, fb(-3.0f), fb(-2.0f), true), fb(3.0f));
  EXPECT_EQ(fmin(T::kF16, false, false, h(-3.0f), h(-2.0f), true), h(2.0f));
  EXPECT_EQ(fmin(T::kF32, false, true, fb(-3.0f), fb(kNaN), true), kCanonicalNaNF32);
}

// --- abs, neg, copysign, testp --------------------------------------------------------------

TEST(ScalarFloatSign, AbsNegCopysign) {
  EXPECT_EQ(fabs(T::kF32, false, fb(-2.0f)), fb(2.0f));
  EXPECT_EQ(fabs(T::kF32, false, fb(-0.0f)), 0u);
  EXPECT_EQ(fabs(T::kF32, true, fb(-1e-40f)), 0u);
  EXPECT_EQ(fabs(T::kF32, false, fb(-1e-40f)), fb(1e-40f));
  EXPECT_EQ(fneg(T::kF32, false, fb(0.0f)), 0x80000000u);
  EXPECT_EQ(fneg(T::kF32, true, fb(1e-40f)), 0x80000000u);
  EXPECT_EQ(fneg(T::kF64, false, db(1.5)), db(-1.5));
  EXPECT_EQ(fneg(T::kF16x2, false, pack(h(1.0f), h(-2.0f))), pack(h(-1.0f), h(2.0f)));
  EXPECT_EQ(fabs(T::kBF16, false, 0xbf80), 0x3f80u);
  EXPECT_EQ(fabs(T::kF16, true, 0x8001), 0u);
  EXPECT_EQ(fabs(T::kBF16x2, false, 0x8001bf80), 0x00013f80u);
  // copysign takes the sign from a and the value from b.
  EXPECT_EQ(fcopysign(T::kF32, fb(-1.0f), fb(2.0f)), fb(-2.0f));
  EXPECT_EQ(fcopysign(T::kF32, fb(1.0f), fb(-2.0f)), fb(2.0f));
  EXPECT_EQ(fcopysign(T::kF64, db(-0.0), db(3.0)), db(-3.0));
}

TEST(ScalarFloatSign, Testp) {
  const float values[] = {0.0f, -0.0f, kDenorm, -1e-40f, 0x1p-126f, 1.0f, kInf, -kInf, kNaN};
  // finite infinite number notanumber normal subnormal, per value
  const bool expected[][6] = {
      {true, false, true, false, false, false}, {true, false, true, false, false, false},
      {true, false, true, false, false, true},  {true, false, true, false, false, true},
      {true, false, true, false, true, false},  {true, false, true, false, true, false},
      {false, true, true, false, false, false}, {false, true, true, false, false, false},
      {false, false, false, true, false, false},
  };
  const TestpOp ops[] = {TestpOp::kFinite, TestpOp::kInfinite, TestpOp::kNumber,
                         TestpOp::kNotANumber, TestpOp::kNormal, TestpOp::kSubnormal};
  for (int v = 0; v < 9; ++v) {
    for (int o = 0; o < 6; ++o) {
      EXPECT_EQ(testp(ops[o], T::kF32, fb(values[v])), expected[v][o]) << values[v] << " op " << o;
      EXPECT_EQ(testp(ops[o], T::kF64, db(values[v] == kDenorm ? 1e-310 : values[v] == -1e-40f ? -1e-310 : values[v]) ),
                expected[v][o])
          << values[v] << " op " << o << " (f64)";
    }
  }
  EXPECT_EQ(parse_testp_op(".notanumber"), TestpOp::kNotANumber);
  EXPECT_THROW(parse_testp_op("zero"), Error);
}

// --- setp and slct --------------------------------------------------------------------------

TEST(ScalarCompare, FloatOrderedAndUnordered) {
  const auto c = [](Cmp op, float a, float b, bool ftz = false) { return compare(op, T::kF32, ftz, fb(a), fb(b)); };
  EXPECT_TRUE(c(Cmp::kLt, 1.0f, 2.0f));
  EXPECT_FALSE(c(Cmp::kLt, kNaN, 2.0f));
  EXPECT_FALSE(c(Cmp::kEq, kNaN, kNaN));
  EXPECT_FALSE(c(Cmp::kNe, kNaN, 1.0f));  // ordered: false with a NaN
  EXPECT_TRUE(c(Cmp::kNe, 2.0f, 1.0f));
  EXPECT_TRUE(c(Cmp::kNeu, kNaN, 1.0f));
  EXPECT_TRUE(c(Cmp::kEqu, kNaN, kNaN));
  EXPECT_FALSE(c(Cmp::kEqu, 1.0f, 2.0f));
  EXPECT_TRUE(c(Cmp::kLtu, kNaN, 1.0f));
  EXPECT_TRUE(c(Cmp::kGeu, 1.0f, kNaN));
  EXPECT_FALSE(c(Cmp::kGtu, 1.0f, 2.0f));
  EXPECT_TRUE(c(Cmp::kLeu, 1.0f, 1.0f));
  EXPECT_TRUE(c(Cmp::kNum, 1.0f, kInf));
  EXPECT_FALSE(c(Cmp::kNum, 1.0f, kNaN));
  EXPECT_TRUE(c(Cmp::kNan, kNaN, 1.0f));
  EXPECT_FALSE(c(Cmp::kNan, 1.0f, 1.0f));
  EXPECT_TRUE(c(Cmp::kEq, 0.0f, -0.0f));
  EXPECT_FALSE(c(Cmp::kLt, -0.0f, 0.0f));
  EXPECT_TRUE(c(Cmp::kGe, kInf, 1e38f));
  EXPECT_FALSE(c(Cmp::kEq, 1e-40f, 0.0f));
  EXPECT_TRUE(c(Cmp::kEq, 1e-40f, 0.0f, true));  // .ftz
  EXPECT_TRUE(compare(Cmp::kLt, T::kF64, false, db(1.0), db(std::nextafter(1.0, 2.0))));
  EXPECT_TRUE(compare(Cmp::kGt, T::kF16, false, h(2.0f), h(1.0f)));
  EXPECT_TRUE(compare(Cmp::kNeu, T::kBF16, false, 0x7fc0, b16(1.0f)));
  EXPECT_THROW(compare(Cmp::kLo, T::kF32, false, 0, 0), Error);
}

TEST(ScalarCompare, PackedHalvesGiveTwoPredicates) {
  const PairPredicate p = compare_x2(Cmp::kLt, T::kF16x2, false, pack(h(1.0f), h(5.0f)), pack(h(2.0f), h(3.0f)));
  EXPECT_TRUE(p.lo);
  EXPECT_FALSE(p.hi);
  const PairPredicate q = compare_x2(Cmp::kEqu, T::kBF16x2, false, pack(0x7fc0, b16(1.0f)), pack(b16(1.0f), b16(1.0f)));
  EXPECT_TRUE(q.lo);
  EXPECT_TRUE(q.hi);
}

TEST(ScalarCompare, IntegerSignedUnsignedAndWidths) {
  EXPECT_TRUE(compare(Cmp::kLt, T::kS32, false, 0xffffffffu, 0));
  EXPECT_FALSE(compare(Cmp::kLt, T::kU32, false, 0xffffffffu, 0));
  EXPECT_FALSE(compare(Cmp::kLo, T::kU32, false, 0xffffffffu, 0));
  EXPECT_TRUE(compare(Cmp::kHi, T::kU32, false, 0xffffffffu, 0));
  EXPECT_TRUE(compare(Cmp::kHs, T::kU32, false, 7, 7));
  EXPECT_TRUE(compare(Cmp::kLs, T::kU64, false, 7, 8));
  EXPECT_TRUE(compare(Cmp::kLt, T::kS16, false, 0x8000, 0x7fff));
  EXPECT_TRUE(compare(Cmp::kGe, T::kS64, false, 0, 0x8000000000000000ull));
  EXPECT_TRUE(compare(Cmp::kEq, T::kB32, false, 0x1'0000'0005ull, 5));  // bits above the type ignored
  EXPECT_TRUE(compare(Cmp::kNe, T::kB16, false, 1, 2));
  EXPECT_TRUE(compare(Cmp::kLe, T::kS8, false, 0x80, 0x80));
  EXPECT_THROW(compare(Cmp::kNan, T::kS32, false, 0, 0), Error);
}

TEST(ScalarCompare, SelpAndSlct) {
  EXPECT_EQ(selp(1, 2, true), 1u);
  EXPECT_EQ(selp(1, 2, false), 2u);
  EXPECT_EQ(slct(T::kS32, false, 1, 2, 0), 1u);
  EXPECT_EQ(slct(T::kS32, false, 1, 2, 0xffffffffu), 2u);
  EXPECT_EQ(slct(T::kF32, false, 1, 2, fb(-0.0f)), 1u);  // -0.0 >= 0
  EXPECT_EQ(slct(T::kF32, false, 1, 2, fb(kNaN)), 2u);
  EXPECT_EQ(slct(T::kF32, false, 1, 2, fb(-1e-40f)), 2u);
  EXPECT_EQ(slct(T::kF32, true, 1, 2, fb(-1e-40f)), 1u);  // flushed to -0
  EXPECT_THROW(slct(T::kU32, false, 1, 2, 0), Error);
}

}  // namespace
}  // namespace qjit::sim
