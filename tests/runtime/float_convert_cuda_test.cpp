// Cross-check of runtime/float_convert.hpp against the CUDA toolkit's host conversions
// (cuda_fp8.h, cuda_fp16.h, cuda_bf16.h compiled for the host; no GPU involved).
//
// Documented differences, which the comparisons allow for:
// - NaN: the toolkit returns a canonical NaN (positive, all payload bits set: 0x7f for fp8,
//   0x7fff for f16/bf16); ours keeps the sign and the leading payload bits. Only
//   "both are NaN" is compared.
// - Under satfinite the toolkit, like us, maps ±Inf to ±max finite (DESIGN.md section 10).
// Everything else must agree bit for bit.

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "runtime/float_convert.hpp"

namespace qjit {
namespace {

std::uint32_t bits(float x) { return std::bit_cast<std::uint32_t>(x); }

bool f16_is_nan(std::uint32_t c) { return (c & 0x7fff) > 0x7c00; }
bool bf16_is_nan(std::uint32_t c) { return (c & 0x7fff) > 0x7f80; }
bool e4m3_is_nan(std::uint32_t c) { return (c & 0x7f) == 0x7f; }
bool e5m2_is_nan(std::uint32_t c) { return (c & 0x7f) > 0x7c; }

std::uint32_t cuda_f16(float x) { return static_cast<__half_raw>(__float2half_rn(x)).x; }
std::uint32_t cuda_bf16(float x) { return static_cast<__nv_bfloat16_raw>(__float2bfloat16_rn(x)).x; }
std::uint32_t cuda_fp8(float x, __nv_saturation_t sat, __nv_fp8_interpretation_t kind) {
  return __nv_cvt_float_to_fp8(x, sat, kind);
}

// Counts disagreements over many inputs and reports the first few, so one bug does not
// print millions of lines (and the loop does not pay for an EXPECT per value).
class Comparison {
 public:
  explicit Comparison(std::string name, bool (*is_nan)(std::uint32_t))
      : name_(std::move(name)), is_nan_(is_nan) {}

  // `input`: the bits of what was converted, for the message.
  void check(std::uint32_t input, std::uint32_t ours, std::uint32_t theirs) {
    ++checked_;
    const bool same = is_nan_(theirs) ? is_nan_(ours) : ours == theirs;
    if (same) return;
    if (++mismatches_ <= 8) {
      ADD_FAILURE() << name_ << ": input 0x" << std::hex << input << " -> ours 0x" << ours << ", toolkit 0x"
                    << theirs;
    }
  }
  ~Comparison() {
    EXPECT_EQ(mismatches_, 0u) << name_ << ": " << mismatches_ << " of " << checked_ << " values differ";
  }

 private:
  std::string name_;
  bool (*is_nan_)(std::uint32_t);
  std::uint64_t checked_ = 0;
  std::uint64_t mismatches_ = 0;
};

struct AllNarrowings {
  Comparison f16{"f16", f16_is_nan};
  Comparison bf16{"bf16", bf16_is_nan};
  Comparison e4m3{"e4m3", e4m3_is_nan};
  Comparison e4m3_sat{"e4m3 satfinite", e4m3_is_nan};
  Comparison e5m2{"e5m2", e5m2_is_nan};
  Comparison e5m2_sat{"e5m2 satfinite", e5m2_is_nan};

  void check(float x) {
    const std::uint32_t b = bits(x);
    f16.check(b, f32_to_f16(x), cuda_f16(x));
    bf16.check(b, f32_to_bf16(x), cuda_bf16(x));
    e4m3.check(b, f32_to_e4m3(x, false), cuda_fp8(x, __NV_NOSAT, __NV_E4M3));
    e4m3_sat.check(b, f32_to_e4m3(x, true), cuda_fp8(x, __NV_SATFINITE, __NV_E4M3));
    e5m2.check(b, f32_to_e5m2(x, false), cuda_fp8(x, __NV_NOSAT, __NV_E5M2));
    e5m2_sat.check(b, f32_to_e5m2(x, true), cuda_fp8(x, __NV_SATFINITE, __NV_E5M2));
  }
};

// Every f32 exponent (zero/subnormal, all normals, Inf/NaN) and both signs, with the top 10
// mantissa bits exhaustive and the low 13 bits from patterns that sit on and around every
// rounding position of the narrow formats: the round bit of f16 is bit 12 (patterns
// 0x0fff/0x1000/0x1001), those of bf16 and fp8 lie in the exhaustive high bits (pattern 0
// makes exact ties there, 0x1fff and 1 their neighbours). About 3.7 million values.
TEST(FloatConvertCuda, NarrowingMatchesToolkitOnDenseSweep) {
  AllNarrowings all;
  std::mt19937 rng(12345);
  for (std::uint32_t sign = 0; sign < 2; ++sign) {
    for (std::uint32_t exp = 0; exp < 256; ++exp) {
      for (std::uint32_t hi = 0; hi < 1024; ++hi) {
        const std::uint32_t low_patterns[] = {
            0x0000, 0x0001, 0x0fff, 0x1000, 0x1001, 0x1fff, static_cast<std::uint32_t>(rng() & 0x1fff)};
        for (std::uint32_t lo : low_patterns) {
          all.check(std::bit_cast<float>((sign << 31) | (exp << 23) | (hi << 13) | lo));
        }
      }
    }
  }
}

TEST(FloatConvertCuda, NarrowingMatchesToolkitOnRandomBits) {
  AllNarrowings all;
  std::mt19937 rng(2024);
  for (int i = 0; i < 1'000'000; ++i) all.check(std::bit_cast<float>(static_cast<std::uint32_t>(rng())));
}

TEST(FloatConvertCuda, WideningMatchesToolkitForEveryEncoding) {
  Comparison f16("f16 -> f32", [](std::uint32_t b) { return (b & 0x7fffffff) > 0x7f800000; });
  Comparison bf16("bf16 -> f32", [](std::uint32_t b) { return (b & 0x7fffffff) > 0x7f800000; });
  for (std::uint32_t h = 0; h < 0x10000; ++h) {
    __half_raw hr;
    hr.x = static_cast<unsigned short>(h);
    f16.check(h, bits(f16_to_f32(static_cast<std::uint16_t>(h))), bits(__half2float(__half(hr))));
    __nv_bfloat16_raw br;
    br.x = static_cast<unsigned short>(h);
    bf16.check(h, bits(bf16_to_f32(static_cast<std::uint16_t>(h))),
               bits(__bfloat162float(__nv_bfloat16(br))));
  }
  // The toolkit widens fp8 to f16 (exact: every fp8 value is an f16 value); compare in f16.
  Comparison e4m3("e4m3 -> f16", f16_is_nan);
  Comparison e5m2("e5m2 -> f16", f16_is_nan);
  for (std::uint32_t v = 0; v < 0x100; ++v) {
    const auto c = static_cast<__nv_fp8_storage_t>(v);
    e4m3.check(v, f32_to_f16(e4m3_to_f32(c)), __nv_cvt_fp8_to_halfraw(c, __NV_E4M3).x);
    e5m2.check(v, f32_to_f16(e5m2_to_f32(c)), __nv_cvt_fp8_to_halfraw(c, __NV_E5M2).x);
  }
}

// The NaN difference, pinned down so a toolkit change shows up here rather than as noise.
TEST(FloatConvertCuda, DocumentedNaNDifference) {
  const float neg_nan = -std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(cuda_fp8(neg_nan, __NV_SATFINITE, __NV_E4M3), 0x7fu);  // toolkit: canonical
  EXPECT_EQ(f32_to_e4m3(neg_nan, true), 0xffu);                    // ours: sign kept
  EXPECT_EQ(cuda_f16(neg_nan), 0x7fffu);
  EXPECT_EQ(f32_to_f16(neg_nan), 0xfe00u);
  // Inf under satfinite agrees.
  EXPECT_EQ(cuda_fp8(std::numeric_limits<float>::infinity(), __NV_SATFINITE, __NV_E4M3), 0x7eu);
  EXPECT_EQ(f32_to_e4m3(std::numeric_limits<float>::infinity(), true), 0x7eu);
}

}  // namespace
}  // namespace qjit
