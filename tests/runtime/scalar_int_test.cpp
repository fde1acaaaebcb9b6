// Known-answer tests of the integer instructions, written from the PTX ISA: division edge
// cases, shifts past the width, bfe/bfi clamping, prmt's selector tables, lop3 against
// boolean formulas, carries, dp4a/dp2a, mul24, bfind.

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>

#include "common/error.hpp"
#include "sim/scalar_ops.hpp"

namespace qjit::sim {
namespace {

using T = ScalarType;

std::uint64_t u32(std::int64_t v) { return static_cast<std::uint32_t>(v); }
std::uint64_t u64(std::int64_t v) { return static_cast<std::uint64_t>(v); }

TEST(ScalarIntDiv, EdgeCases) {
  EXPECT_EQ(idiv(T::kS32, u32(INT32_MIN), u32(-1)), u32(INT32_MIN));  // wraps
  EXPECT_EQ(irem(T::kS32, u32(INT32_MIN), u32(-1)), 0u);
  EXPECT_EQ(idiv(T::kS64, u64(INT64_MIN), u64(-1)), u64(INT64_MIN));
  EXPECT_EQ(idiv(T::kS32, u32(-7), 2), u32(-3));  // truncation toward zero
  EXPECT_EQ(irem(T::kS32, u32(-7), 2), u32(-1));
  EXPECT_EQ(irem(T::kS32, 7, u32(-2)), 1u);
  EXPECT_EQ(idiv(T::kU32, 0xffffffffu, 2), 0x7fffffffu);
  EXPECT_EQ(idiv(T::kS16, 0x8000, 0xffff), 0x8000u);
  // Division by zero (unspecified by the ISA): all ones, and the dividend for rem.
  EXPECT_EQ(idiv(T::kU32, 5, 0), 0xffffffffu);
  EXPECT_EQ(idiv(T::kS32, 5, 0), 0xffffffffu);
  EXPECT_EQ(idiv(T::kU64, 5, 0), ~std::uint64_t{0});
  EXPECT_EQ(irem(T::kU32, 5, 0), 5u);
  EXPECT_EQ(irem(T::kS32, u32(-5), 0), u32(-5));
  EXPECT_EQ(idiv(T::kU32, 5, 0x1'0000'0000ull), 0xffffffffu);  // only the low 32 bits count
}

TEST(ScalarIntArith, AddSubSatAbsNegMinMax) {
  EXPECT_EQ(iadd(T::kS32, true, u32(INT32_MAX), 1), u32(INT32_MAX));
  EXPECT_EQ(iadd(T::kS32, false, u32(INT32_MAX), 1), u32(INT32_MIN));
  EXPECT_EQ(isub(T::kS32, true, u32(INT32_MIN), 1), u32(INT32_MIN));
  EXPECT_EQ(isub(T::kS32, true, 5, 7), u32(-2));
  EXPECT_EQ(iadd(T::kU16, false, 0xffff, 2), 1u);
  EXPECT_EQ(isub(T::kU64, false, 0, 1), ~std::uint64_t{0});
  EXPECT_EQ(iabs(T::kS32, u32(INT32_MIN)), u32(INT32_MIN));
  EXPECT_EQ(iabs(T::kS32, u32(-5)), 5u);
  EXPECT_EQ(iabs(T::kS16, 0xfffb), 5u);
  EXPECT_EQ(ineg(T::kS32, 5), u32(-5));
  EXPECT_EQ(ineg(T::kS64, u64(INT64_MIN)), u64(INT64_MIN));
  EXPECT_EQ(imin(T::kS32, u32(-1), 1), u32(-1));
  EXPECT_EQ(imin(T::kU32, u32(-1), 1), 1u);
  EXPECT_EQ(imax(T::kS32, u32(-1), 1), 1u);
  EXPECT_EQ(imax(T::kU32, u32(-1), 1), 0xffffffffu);
  EXPECT_EQ(imax(T::kS16, 0x8000, 0x7fff), 0x7fffu);
  EXPECT_EQ(imax(T::kS32, u32(-4), u32(-3), true), 0u);  // .relu
  EXPECT_EQ(imin(T::kS32, 4, 3, true), 3u);
}

TEST(ScalarIntArith, CarryChains) {
  const CarryResult lo = add_carry(T::kU32, 0xffffffffu, 1, false);
  EXPECT_EQ(lo.value, 0u);
  EXPECT_TRUE(lo.carry);
  const CarryResult hi = add_carry(T::kU32, 1, 2, lo.carry);
  EXPECT_EQ(hi.value, 4u);
  EXPECT_FALSE(hi.carry);
  const CarryResult b = sub_borrow(T::kU32, 0, 1, false);
  EXPECT_EQ(b.value, 0xffffffffu);
  EXPECT_TRUE(b.carry);
  EXPECT_EQ(sub_borrow(T::kU32, 5, 2, true).value, 2u);
  EXPECT_TRUE(sub_borrow(T::kU64, 5, ~std::uint64_t{0}, true).carry);
  // 96-bit add and subtract through add.cc / addc.cc / addc, checked against __int128.
  std::mt19937_64 rng(3);
  for (int i = 0; i < 2000; ++i) {
    const unsigned __int128 x = (static_cast<unsigned __int128>(rng() & 0xffffffffu) << 64) | rng();
    const unsigned __int128 y = (static_cast<unsigned __int128>(rng() & 0xffffffffu) << 64) | rng();
    const auto word = [](unsigned __int128 v, int k) { return static_cast<std::uint64_t>(v >> (32 * k)) & 0xffffffffu; };
    bool c = false;
    bool bo = false;
    unsigned __int128 sum = 0;
    unsigned __int128 diff = 0;
    for (int k = 0; k < 3; ++k) {
      const CarryResult s = add_carry(T::kU32, word(x, k), word(y, k), c);
      const CarryResult d = sub_borrow(T::kU32, word(x, k), word(y, k), bo);
      c = s.carry;
      bo = d.carry;
      sum |= static_cast<unsigned __int128>(s.value) << (32 * k);
      diff |= static_cast<unsigned __int128>(d.value) << (32 * k);
    }
    const unsigned __int128 m96 = (static_cast<unsigned __int128>(1) << 96) - 1;
    ASSERT_TRUE(sum == ((x + y) & m96));
    ASSERT_TRUE(diff == ((x - y) & m96));
    ASSERT_EQ(bo, x < y);
  }
}

TEST(ScalarIntMul, LoHiWideAndMad) {
  EXPECT_EQ(imul(T::kS32, MulMode::kHi, u32(-2), 3), 0xffffffffu);
  EXPECT_EQ(imul(T::kS32, MulMode::kLo, u32(-2), 3), u32(-6));
  EXPECT_EQ(imul(T::kU32, MulMode::kHi, 0xffffffffu, 0xffffffffu), 0xfffffffeu);
  EXPECT_EQ(imul(T::kU32, MulMode::kWide, 0xffffffffu, 0xffffffffu), 0xfffffffe00000001ull);
  EXPECT_EQ(imul(T::kS32, MulMode::kWide, u32(-2), 3), u64(-6));
  EXPECT_EQ(imul(T::kS16, MulMode::kWide, 0xfffe, 3), 0xfffffffau);
  EXPECT_EQ(imul(T::kU16, MulMode::kWide, 0xffff, 0xffff), 0xfffe0001u);
  EXPECT_EQ(imul(T::kU16, MulMode::kHi, 0xffff, 0xffff), 0xfffeu);
  EXPECT_EQ(imul(T::kU64, MulMode::kHi, ~std::uint64_t{0}, ~std::uint64_t{0}), ~std::uint64_t{0} - 1);
  EXPECT_EQ(imul(T::kS64, MulMode::kHi, u64(INT64_MIN), u64(INT64_MIN)), 1ull << 62);
  EXPECT_EQ(imul(T::kS64, MulMode::kHi, u64(-1), 1), ~std::uint64_t{0});
  EXPECT_THROW(imul(T::kU64, MulMode::kWide, 1, 1), Error);
  EXPECT_EQ(imad(T::kS32, MulMode::kLo, false, 3, 4, 5), 17u);
  EXPECT_EQ(imad(T::kS32, MulMode::kWide, false, u32(-2), 3, u64(-10)), u64(-16));
  EXPECT_EQ(imad(T::kU32, MulMode::kWide, false, 0xffffffffu, 2, 1), 0x1ffffffffull);
  EXPECT_EQ(imad(T::kS32, MulMode::kHi, false, 0x40000000, 4, 1), 2u);
  // mad.hi.sat.s32 clamps the sum.
  EXPECT_EQ(imad(T::kS32, MulMode::kHi, true, 0x40000000, 4, u32(INT32_MAX)), u32(INT32_MAX));
  EXPECT_EQ(imad(T::kS32, MulMode::kHi, false, 0x40000000, 4, u32(INT32_MAX)), u32(INT32_MIN));
}

TEST(ScalarIntMul, Mul24Mad24Sad) {
  EXPECT_EQ(imul24(T::kU32, false, 0xff000002u, 3), 6u);  // the upper 8 bits are ignored
  EXPECT_EQ(imul24(T::kU32, true, 0xffffff, 0xffffff), 0xfffffe00u);  // bits [47:16]
  EXPECT_EQ(imul24(T::kU32, false, 0xffffff, 0xffffff), 0xfe000001u);
  EXPECT_EQ(imul24(T::kS32, false, 0x00ffffffu, 2), u32(-2));  // 24-bit -1
  EXPECT_EQ(imul24(T::kS32, true, 0x00800000u, 0x00800000u), 0x40000000u);  // (-2^23)^2 >> 16
  EXPECT_EQ(imad24(T::kU32, false, false, 2, 3, 4), 10u);
  EXPECT_EQ(imad24(T::kS32, true, true, 0x00800000u, 0x00800000u, u32(INT32_MAX)), u32(INT32_MAX));
  EXPECT_EQ(isad(T::kU32, 3, 5, 10), 12u);
  EXPECT_EQ(isad(T::kS32, u32(-3), 5, 0), 8u);
  EXPECT_EQ(isad(T::kU32, 5, 3, 10), 12u);
  EXPECT_EQ(isad(T::kS64, u64(INT64_MIN), u64(INT64_MAX), 1), 0u);  // |diff| = 2^64 - 1 wraps
}

TEST(ScalarIntShift, AmountsAtAndPastTheWidth) {
  EXPECT_EQ(shl(T::kB32, 1, 31), 0x80000000u);
  EXPECT_EQ(shl(T::kB32, 1, 32), 0u);
  EXPECT_EQ(shl(T::kB32, 1, 0xffffffffu), 0u);
  EXPECT_EQ(shl(T::kB16, 0xffff, 4), 0xfff0u);
  EXPECT_EQ(shl(T::kB64, 1, 63), 0x8000000000000000ull);
  EXPECT_EQ(shl(T::kB64, 1, 64), 0u);
  EXPECT_EQ(shr(T::kU32, 0x80000000u, 31), 1u);
  EXPECT_EQ(shr(T::kU32, 0x80000000u, 32), 0u);
  EXPECT_EQ(shr(T::kB32, 0x80000000u, 40), 0u);
  EXPECT_EQ(shr(T::kS32, 0x80000000u, 4), 0xf8000000u);
  EXPECT_EQ(shr(T::kS32, 0x80000000u, 40), 0xffffffffu);  // sign fill
  EXPECT_EQ(shr(T::kS32, 0x7fffffffu, 40), 0u);
  EXPECT_EQ(shr(T::kS16, 0x8000, 100), 0xffffu);
  EXPECT_EQ(shr(T::kS64, 0x8000000000000000ull, 64), ~std::uint64_t{0});
  EXPECT_EQ(shr(T::kU16, 0x8000, 16), 0u);
}

TEST(ScalarIntShift, Shf) {
  const std::uint64_t a = 0x89abcdefu;  // low word
  const std::uint64_t b = 0x01234567u;  // high word
  EXPECT_EQ(shf(true, false, a, b, 8), 0x23456789u);
  EXPECT_EQ(shf(false, false, a, b, 8), 0x6789abcdu);
  EXPECT_EQ(shf(true, true, a, b, 40), a);   // clamp: 32
  EXPECT_EQ(shf(true, false, a, b, 40), 0x23456789u);  // wrap: 8
  EXPECT_EQ(shf(false, true, a, b, 32), b);
  EXPECT_EQ(shf(false, true, a, b, 0xffffffffu), b);
  EXPECT_EQ(shf(false, false, a, b, 32), a);  // wrap: 0
  EXPECT_EQ(shf(true, false, a, b, 0), b);
}

TEST(ScalarIntBits, BfeClampsPosAndLen) {
  EXPECT_EQ(bfe(T::kU32, 0xdeadbeefu, 8, 0), 0u);
  EXPECT_EQ(bfe(T::kS32, 0xdeadbeefu, 8, 0), 0u);  // len 0: the sign bit is 0 too
  EXPECT_EQ(bfe(T::kU32, 0xdeadbeefu, 8, 8), 0xbeu);
  EXPECT_EQ(bfe(T::kS32, 0xdeadbeefu, 8, 8), 0xffffffbeu);
  EXPECT_EQ(bfe(T::kS32, 0xdeadbe2fu, 4, 4), 2u);
  EXPECT_EQ(bfe(T::kU32, 0xf0000000u, 28, 8), 0xfu);          // pos + len > 32
  EXPECT_EQ(bfe(T::kS32, 0xf0000000u, 28, 8), 0xffffffffu);   // sign = a[min(35, 31)]
  EXPECT_EQ(bfe(T::kS32, 0x70000000u, 28, 8), 7u);
  EXPECT_EQ(bfe(T::kU32, 0x80000000u, 40, 4), 0u);            // pos past the width
  EXPECT_EQ(bfe(T::kS32, 0x80000000u, 40, 4), 0xffffffffu);
  EXPECT_EQ(bfe(T::kU32, 0xabcd, 0x104, 0x204), 0xcu);        // only the low 8 bits count
  EXPECT_EQ(bfe(T::kU32, 0xdeadbeefu, 0, 32), 0xdeadbeefu);
  EXPECT_EQ(bfe(T::kU32, 0xdeadbeefu, 0, 255), 0xdeadbeefu);
  EXPECT_EQ(bfe(T::kS64, 0x8000000000000000ull, 60, 10), 0xfffffffffffffff8ull);
  EXPECT_EQ(bfe(T::kU64, 0xf000000000000000ull, 60, 10), 0xfu);
}

TEST(ScalarIntBits, BfiClampsPosAndLen) {
  EXPECT_EQ(bfi(T::kB32, 0xf, 0, 28, 8), 0xf0000000u);  // bits past the width are dropped
  EXPECT_EQ(bfi(T::kB32, 0xab, 0xffffffffu, 8, 8), 0xffffabffu);
  EXPECT_EQ(bfi(T::kB32, 0xab, 0x12345678u, 8, 0), 0x12345678u);  // len 0
  EXPECT_EQ(bfi(T::kB32, 0xab, 0x12345678u, 32, 8), 0x12345678u);  // pos at the width
  EXPECT_EQ(bfi(T::kB32, 0xffffffffu, 0, 0, 255), 0xffffffffu);
  EXPECT_EQ(bfi(T::kB64, 1, 0, 63, 1), 0x8000000000000000ull);
  EXPECT_EQ(bfi(T::kB32, 0x3, 0, 0x101, 0x102), 0x6u);  // low 8 bits of pos and len
}

TEST(ScalarIntBits, BrevPopcClzBfind) {
  EXPECT_EQ(brev(T::kB32, 1), 0x80000000u);
  EXPECT_EQ(brev(T::kB32, 0x12345678u), 0x1e6a2c48u);
  EXPECT_EQ(brev(T::kB64, 1), 0x8000000000000000ull);
  EXPECT_EQ(popc(T::kB32, 0xffffffffu), 32u);
  EXPECT_EQ(popc(T::kB64, ~std::uint64_t{0}), 64u);
  EXPECT_EQ(popc(T::kB32, 0x1'0000'0001ull), 1u);
  EXPECT_EQ(clz(T::kB32, 0), 32u);
  EXPECT_EQ(clz(T::kB32, 1), 31u);
  EXPECT_EQ(clz(T::kB64, 0), 64u);
  EXPECT_EQ(clz(T::kB64, 0x8000000000000000ull), 0u);
  EXPECT_EQ(bfind(T::kU32, false, 0), 0xffffffffu);
  EXPECT_EQ(bfind(T::kU32, false, 1), 0u);
  EXPECT_EQ(bfind(T::kU32, false, 0x80000000u), 31u);
  EXPECT_EQ(bfind(T::kU32, true, 1), 31u);  // .shiftamt: the left shift that normalizes
  EXPECT_EQ(bfind(T::kU32, true, 0), 0xffffffffu);
  EXPECT_EQ(bfind(T::kS32, false, u32(-1)), 0xffffffffu);  // all sign bits
  EXPECT_EQ(bfind(T::kS32, false, u32(-2)), 0u);
  EXPECT_EQ(bfind(T::kS32, false, 0x40000000u), 30u);
  EXPECT_EQ(bfind(T::kS32, false, 0xb0000000u), 30u);  // first 0 below the sign
  EXPECT_EQ(bfind(T::kU64, false, 0x8000000000000000ull), 63u);
  EXPECT_EQ(bfind(T::kS64, true, 1), 63u);
}

TEST(ScalarIntBits, PrmtGenericSelectors) {
  const std::uint64_t a = 0x33221100u;
  const std::uint64_t b = 0x77665544u;
  EXPECT_EQ(prmt(PrmtMode::kDefault, a, b, 0x3210), a);
  EXPECT_EQ(prmt(PrmtMode::kDefault, a, b, 0x7654), b);
  EXPECT_EQ(prmt(PrmtMode::kDefault, a, b, 0x5410), 0x55441100u);
  EXPECT_EQ(prmt(PrmtMode::kDefault, a, b, 0x0123), 0x00112233u);
  EXPECT_EQ(prmt(PrmtMode::kDefault, a, b, 0xffff3210), a);  // selector bits above 16 ignored
  // msb of a selector: replicate the source byte's sign bit.
  EXPECT_EQ(prmt(PrmtMode::kDefault, 0x00008001u, 0, 0x9898), 0xff00ff00u);
  EXPECT_EQ(prmt(PrmtMode::kDefault, 0x00008001u, 0, 0x0098), 0x0101ff00u);
}

// The ISA's prmt mode table, rows as written there: d.b3 d.b2 d.b1 d.b0 for c[1:0] = 0..3.
TEST(ScalarIntBits, PrmtModesFollowTheIsaTable) {
  struct Row {
    PrmtMode mode;
    const char* by_selector[4];
  };
  const Row table[] = {
      {PrmtMode::kF4e, {"3210", "4321", "5432", "6543"}},
      {PrmtMode::kB4e, {"5670", "6701", "7012", "0123"}},
      {PrmtMode::kRc8, {"0000", "1111", "2222", "3333"}},
      {PrmtMode::kEcl, {"3210", "3211", "3222", "3333"}},
      {PrmtMode::kEcr, {"0000", "1110", "2210", "3210"}},
      {PrmtMode::kRc16, {"1010", "3232", "1010", "3232"}},
  };
  const std::uint64_t a = 0x33221100u;  // byte i holds 0x11 * i
  const std::uint64_t b = 0x77665544u;
  for (const Row& row : table) {
    for (int s = 0; s < 4; ++s) {
      std::uint64_t expected = 0;
      for (int k = 0; k < 4; ++k) {
        const int src = row.by_selector[s][3 - k] - '0';  // the string lists d.b3 first
        expected |= static_cast<std::uint64_t>(0x11 * src) << (8 * k);
      }
      // Only c[1:0] selects; the other bits of c are ignored.
      EXPECT_EQ(prmt(row.mode, a, b, 0xfffffff0u | static_cast<std::uint32_t>(s)), expected)
          << static_cast<int>(row.mode) << " selector " << s;
    }
  }
  EXPECT_EQ(parse_prmt_mode(".ecl"), PrmtMode::kEcl);
  EXPECT_EQ(parse_prmt_mode(""), PrmtMode::kDefault);
  EXPECT_THROW(parse_prmt_mode("f8e"), Error);
}

TEST(ScalarIntBits, Lop3MatchesBooleanFormulas) {
  // immLut = F(0xf0, 0xcc, 0xaa): feeding those three constants returns the table itself.
  for (std::uint32_t lut = 0; lut < 256; ++lut) ASSERT_EQ(lop3(0xf0, 0xcc, 0xaa, lut) & 0xff, lut);
  std::mt19937 rng(9);
  for (int i = 0; i < 1000; ++i) {
    const std::uint32_t a = rng(), b = rng(), c = rng();
    ASSERT_EQ(lop3(a, b, c, 0xf0), a);
    ASSERT_EQ(lop3(a, b, c, 0xcc), b);
    ASSERT_EQ(lop3(a, b, c, 0xaa), c);
    ASSERT_EQ(lop3(a, b, c, 0x96), a ^ b ^ c);
    ASSERT_EQ(lop3(a, b, c, 0xe8), (a & b) | (a & c) | (b & c));  // majority
    ASSERT_EQ(lop3(a, b, c, 0x80), a & b & c);
    ASSERT_EQ(lop3(a, b, c, 0xfe), a | b | c);
    ASSERT_EQ(lop3(a, b, c, 0xca), (a & b) | (~a & c));  // a ? b : c
    ASSERT_EQ(lop3(a, b, c, 0x78), a ^ (b & c));
    ASSERT_EQ(lop3(a, b, c, 0x00), 0u);
    ASSERT_EQ(lop3(a, b, c, 0xff), 0xffffffffu);
  }
}

TEST(ScalarIntDot, Dp4aAndDp2a) {
  EXPECT_EQ(dp4a(T::kU32, T::kU32, 0xffffffffu, 0xffffffffu, 7), 4u * 255 * 255 + 7);
  EXPECT_EQ(dp4a(T::kS32, T::kS32, 0x80808080u, 0x80808080u, 0), 65536u);
  EXPECT_EQ(dp4a(T::kU32, T::kS32, 0x000000ffu, 0x000000ffu, 0), u32(-255));  // 255 * -1
  EXPECT_EQ(dp4a(T::kS32, T::kU32, 0x000000ffu, 0x000000ffu, 0), u32(-255));
  EXPECT_EQ(dp4a(T::kS32, T::kS32, 0x04030201u, 0x01010101u, u32(-10)), 0u);
  EXPECT_EQ(dp4a(T::kS32, T::kS32, 0x7f7f7f7fu, 0x7f7f7f7fu, u32(INT32_MAX)), u32(INT32_MAX + 4ll * 127 * 127));
  // dp2a: a = (h0, h1), bytes of b starting at 0 (.lo) or 2 (.hi).
  EXPECT_EQ(dp2a(T::kU32, T::kU32, false, 0x00020001u, 0x04030201u, 0), 1u * 1 + 2 * 2);
  EXPECT_EQ(dp2a(T::kU32, T::kU32, true, 0x00020001u, 0x04030201u, 0), 1u * 3 + 2 * 4);
  EXPECT_EQ(dp2a(T::kS32, T::kS32, false, 0xffff8000u, 0x0000ff01u, 5), u32(-32768 * 1 + -1 * -1 + 5));
  EXPECT_EQ(dp2a(T::kS32, T::kU32, true, 0xffff0001u, 0xff010000u, 0), u32(1 * 1 + -1 * 255));
}

}  // namespace
}  // namespace qjit::sim
