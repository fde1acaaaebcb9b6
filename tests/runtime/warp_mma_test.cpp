// mma.sync semantics (sim/warp_mma.cpp), known answers from the PTX ISA text.
//
// The fragment tables below are the ISA's "Matrix Fragments for mma.m16n8kK" formulas,
// written per element index i as the ISA states them (row/col of ai, bi, ci), and not in
// the per-register form the implementation uses, so a slip in either one shows up as a
// mismatch. Each test builds A (16 x K), B (K x 8) and C (16 x 8), distributes them into the
// 32 lanes' registers with these tables, runs mma_sync, gathers D back with the C/D table
// and compares it with a plain matrix product computed here in double. The inputs are
// chosen so that this double sum is exact (checked with an error-free TwoSum on every
// addition), so one final rounding gives the exactly rounded answer the sim promises.

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "runtime/float_convert.hpp"
#include "sim/warp_ops.hpp"

namespace qjit::sim {
namespace {

constexpr int kM = 16, kN = 8;

int bits_of(MmaInType t) { return (t == MmaInType::kF16 || t == MmaInType::kBf16) ? 16 : 8; }

struct RowCol {
  int row, col;
};

// --- the ISA's fragment tables ------------------------------------------------------------

// Multiplicand A: element ai of lane `lane`.
RowCol isa_a(const MmaDesc& d, int lane, int i) {
  const int groupID = lane >> 2;
  const int threadID_in_group = lane % 4;
  RowCol rc{};
  if (bits_of(d.a_type) == 16 && d.k == 8) {
    // 9.7.14.5.7 m16n8k8 .f16/.bf16: row = groupID for a0 and a1, groupID + 8 for a2 and a3;
    // col = threadID_in_group * 2 + (i & 0x1).
    rc.row = i < 2 ? groupID : groupID + 8;
    rc.col = threadID_in_group * 2 + (i & 0x1);
  } else if (bits_of(d.a_type) == 16) {
    // 9.7.14.5.8 m16n8k16 .f16/.bf16: row = groupID for 0 <= i < 2 || 4 <= i < 6, else
    // groupID + 8; col = threadID_in_group * 2 + (i & 0x1) for i < 4, + 8 for i >= 4.
    rc.row = ((0 <= i && i < 2) || (4 <= i && i < 6)) ? groupID : groupID + 8;
    rc.col = i < 4 ? threadID_in_group * 2 + (i & 0x1) : threadID_in_group * 2 + (i & 0x1) + 8;
  } else if (d.k == 16) {
    // 9.7.14.5.9 m16n8k16 .u8/.s8/.e4m3/.e5m2: row = groupID for i < 4, groupID + 8 for
    // i >= 4; col = threadID_in_group * 4 + (i & 0x3).
    rc.row = i < 4 ? groupID : groupID + 8;
    rc.col = threadID_in_group * 4 + (i & 0x3);
  } else {
    // 9.7.14.5.10 m16n8k32 .s8/.u8/.e4m3/.e5m2: row = groupID for 0 <= i < 4 || 8 <= i < 12,
    // else groupID + 8; col = threadID_in_group * 4 + (i & 0x3) for i < 8, + 16 for i >= 8.
    rc.row = ((0 <= i && i < 4) || (8 <= i && i < 12)) ? groupID : groupID + 8;
    rc.col = i < 8 ? threadID_in_group * 4 + (i & 0x3) : threadID_in_group * 4 + (i & 0x3) + 16;
  }
  return rc;
}

// Multiplicand B: element bi (row = k index, col = n index).
RowCol isa_b(const MmaDesc& d, int lane, int i) {
  const int groupID = lane >> 2;
  const int threadID_in_group = lane % 4;
  RowCol rc{};
  rc.col = groupID;  // every B table: col = groupID
  if (bits_of(d.b_type) == 16 && d.k == 8) {
    rc.row = threadID_in_group * 2 + i;  // i = {0, 1}
  } else if (bits_of(d.b_type) == 16) {
    rc.row = i < 2 ? threadID_in_group * 2 + (i & 0x1) : threadID_in_group * 2 + (i & 0x1) + 8;
  } else if (d.k == 16) {
    rc.row = threadID_in_group * 4 + i;  // i = {0, .., 3}
  } else {
    rc.row = i < 4 ? threadID_in_group * 4 + (i & 0x3) : threadID_in_group * 4 + (i & 0x3) + 16;
  }
  return rc;
}

// Accumulators C / D (the same table for every shape here): row = groupID for ci where
// i < 2, groupID + 8 for i >= 2; col = threadID_in_group * 2 + (i & 0x1).
RowCol isa_c(int lane, int i) {
  const int groupID = lane >> 2;
  const int threadID_in_group = lane % 4;
  return {i < 2 ? groupID : groupID + 8, threadID_in_group * 2 + (i & 0x1)};
}

// --- running one mma from whole matrices ----------------------------------------------------

struct Problem {
  MmaDesc desc;
  std::vector<std::uint32_t> a, b, c;  // encodings: a[m*K+k], b[k*8+n], c[m*8+n]
};

int acc_bits(MmaAccType t) { return t == MmaAccType::kF16 ? 16 : 32; }

// Packs element i of `bits` width into the registers, low to high ("Elements (low to high)").
void put(std::uint32_t* regs, int bits, int i, std::uint32_t enc) {
  const int per_reg = 32 / bits;
  regs[i / per_reg] |= (bits == 32 ? enc : (enc & ((1u << bits) - 1u))) << ((i % per_reg) * bits);
}
std::uint32_t get(const std::uint32_t* regs, int bits, int i) {
  const int per_reg = 32 / bits;
  const std::uint32_t v = regs[i / per_reg] >> ((i % per_reg) * bits);
  return bits == 32 ? v : v & ((1u << bits) - 1u);
}

std::vector<std::uint32_t> run(const Problem& p) {
  const MmaDesc& d = p.desc;
  std::uint32_t a[kWarpSize][4] = {}, b[kWarpSize][4] = {}, c[kWarpSize][4] = {}, out[kWarpSize][4];
  const int a_elems = kM * d.k / kWarpSize, b_elems = d.k * kN / kWarpSize;
  for (int lane = 0; lane < kWarpSize; ++lane) {
    for (int i = 0; i < a_elems; ++i) {
      const RowCol rc = isa_a(d, lane, i);
      put(a[lane], bits_of(d.a_type), i, p.a[rc.row * d.k + rc.col]);
    }
    for (int i = 0; i < b_elems; ++i) {
      const RowCol rc = isa_b(d, lane, i);
      put(b[lane], bits_of(d.b_type), i, p.b[rc.row * kN + rc.col]);
    }
    for (int i = 0; i < 4; ++i) {
      const RowCol rc = isa_c(lane, i);
      put(c[lane], acc_bits(d.c_type), i, p.c[rc.row * kN + rc.col]);
    }
  }
  // Registers past the fragment must stay untouched.
  for (auto& lane : out) {
    for (auto& r : lane) r = 0xdeadbeefu;
  }
  mma_sync(d, a, b, c, out);
  std::vector<std::uint32_t> dm(kM * kN, 0xffffffffu);
  for (int lane = 0; lane < kWarpSize; ++lane) {
    for (int r = mma_regs(d, 'd'); r < 4; ++r) EXPECT_EQ(out[lane][r], 0xdeadbeefu) << "lane " << lane;
    for (int i = 0; i < 4; ++i) {
      const RowCol rc = isa_c(lane, i);
      dm[rc.row * kN + rc.col] = get(out[lane], acc_bits(d.d_type), i);
    }
  }
  return dm;
}

// --- reference values -----------------------------------------------------------------------

double value_of(MmaInType t, std::uint32_t enc) {
  switch (t) {
    case MmaInType::kS8: return static_cast<std::int8_t>(enc);
    case MmaInType::kU8: return static_cast<std::uint8_t>(enc);
    case MmaInType::kE4m3: return e4m3_to_f32(static_cast<std::uint8_t>(enc));
    case MmaInType::kE5m2: return e5m2_to_f32(static_cast<std::uint8_t>(enc));
    case MmaInType::kF16: return f16_to_f32(static_cast<std::uint16_t>(enc));
    case MmaInType::kBf16: return bf16_to_f32(static_cast<std::uint16_t>(enc));
  }
  return 0;
}

double acc_value(MmaAccType t, std::uint32_t enc) {
  return t == MmaAccType::kF16 ? f16_to_f32(static_cast<std::uint16_t>(enc)) : std::bit_cast<float>(enc);
}

// s += t, failing the test if the double addition was not exact (TwoSum error term).
void exact_add(double& s, double t) {
  const double sum = s + t;
  const double bb = sum - s;
  const double err = (s - (sum - bb)) + (t - bb);
  ASSERT_EQ(err, 0.0) << "test inputs too wide for an exact double reference";
  s = sum;
}

// D = A * B + C, each sum exact in double and rounded once into D's type.
std::vector<std::uint32_t> reference_float(const Problem& p) {
  const MmaDesc& d = p.desc;
  std::vector<std::uint32_t> out(kM * kN);
  for (int m = 0; m < kM; ++m) {
    for (int n = 0; n < kN; ++n) {
      double s = acc_value(d.c_type, p.c[m * kN + n]);
      for (int k = 0; k < d.k; ++k) {
        const double prod = value_of(d.a_type, p.a[m * d.k + k]) * value_of(d.b_type, p.b[k * kN + n]);
        exact_add(s, prod);  // products of these formats are exact in double
      }
      const float f = static_cast<float>(s);
      if (d.d_type == MmaAccType::kF16) {
        EXPECT_EQ(static_cast<double>(f), s) << "f16 reference needs sums exact in f32";
        out[m * kN + n] = f32_to_f16(f);
      } else {
        out[m * kN + n] = std::bit_cast<std::uint32_t>(f);
      }
    }
  }
  return out;
}

std::vector<std::uint32_t> reference_int(const Problem& p) {
  const MmaDesc& d = p.desc;
  std::vector<std::uint32_t> out(kM * kN);
  for (int m = 0; m < kM; ++m) {
    for (int n = 0; n < kN; ++n) {
      std::int64_t s = static_cast<std::int32_t>(p.c[m * kN + n]);
      for (int k = 0; k < d.k; ++k) {
        s += static_cast<std::int64_t>(value_of(d.a_type, p.a[m * d.k + k])) *
             static_cast<std::int64_t>(value_of(d.b_type, p.b[k * kN + n]));
      }
      if (d.satfinite) {
        s = std::min<std::int64_t>(std::max<std::int64_t>(s, INT32_MIN), INT32_MAX);
      }
      out[m * kN + n] = static_cast<std::uint32_t>(static_cast<std::uint64_t>(s));  // wraps mod 2^32
    }
  }
  return out;
}

// --- inputs -----------------------------------------------------------------------------------

struct Lcg {
  std::uint64_t s;
  std::uint32_t next() {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<std::uint32_t>(s >> 33);
  }
  int range(int lo, int hi) { return lo + static_cast<int>(next() % static_cast<std::uint32_t>(hi - lo + 1)); }
};

// A random encoding with exponent field in [emin_field, emax_field] (0 gives subnormals)
// and any sign and fraction, never NaN or Inf.
std::uint32_t random_float(Lcg& r, int exp_bits, int mant_bits, int emin_field, int emax_field, bool fn) {
  for (;;) {
    const std::uint32_t e = static_cast<std::uint32_t>(r.range(emin_field, emax_field));
    const std::uint32_t m = r.next() & ((1u << mant_bits) - 1u);
    const std::uint32_t s = r.next() & 1u;
    if (fn && e == (1u << exp_bits) - 1u && m == (1u << mant_bits) - 1u) continue;  // e4m3 NaN
    return (s << (exp_bits + mant_bits)) | (e << mant_bits) | m;
  }
}

// Ranges chosen so every dot product below is exact in double (see exact_add) and, for f16
// accumulators, in f32.
enum class Range { kWide, kNarrow };

std::uint32_t random_in(Lcg& r, MmaInType t, Range range) {
  const bool wide = range == Range::kWide;
  switch (t) {
    case MmaInType::kS8:
    case MmaInType::kU8: return r.next() & 0xffu;
    // e4m3: every finite value, subnormals included (products are multiples of 2^-18 below
    // 2^18). Narrow: 0.5 .. 3.75, multiples of 1/16.
    case MmaInType::kE4m3: return wide ? random_float(r, 4, 3, 0, 15, true) : random_float(r, 4, 3, 6, 8, true);
    // e5m2: subnormals up to 2^5 (products multiples of 2^-32 below 2^12).
    case MmaInType::kE5m2: return wide ? random_float(r, 5, 2, 0, 20, false) : random_float(r, 5, 2, 14, 17, false);
    // f16: 2^-5 .. 2^4 with the full 10-bit fraction.
    case MmaInType::kF16: {
      if (wide) return random_float(r, 5, 10, 10, 19, false);
      const float v = static_cast<float>(r.range(-15, 15)) / 4.0f;  // quarters: sums stay exact in f32
      return f32_to_f16(v);
    }
    // bf16: 2^-7 .. 2^8 with the full 7-bit fraction.
    case MmaInType::kBf16: return random_float(r, 8, 7, 120, 135, false);
  }
  return 0;
}

std::uint32_t random_acc(Lcg& r, MmaAccType t, Range range) {
  switch (t) {
    case MmaAccType::kS32: return r.next() ^ (r.next() << 16);  // anywhere in int32, wraps included
    case MmaAccType::kF32: {
      // A multiple of 2^-12 below 2^12: exact in the double sums above.
      const double v = static_cast<double>(static_cast<std::int32_t>(r.next() % (1u << 24)) - (1 << 23)) / 4096.0;
      return std::bit_cast<std::uint32_t>(static_cast<float>(v));
    }
    case MmaAccType::kF16: return f32_to_f16(static_cast<float>(r.range(-64, 64)) / 8.0f);
  }
  return 0;
}

Problem random_problem(const MmaDesc& d, std::uint64_t seed, Range range) {
  Lcg r{seed};
  Problem p{d, {}, {}, {}};
  for (int i = 0; i < kM * d.k; ++i) p.a.push_back(random_in(r, d.a_type, range));
  for (int i = 0; i < d.k * kN; ++i) p.b.push_back(random_in(r, d.b_type, range));
  for (int i = 0; i < kM * kN; ++i) p.c.push_back(random_acc(r, d.c_type, range));
  return p;
}

std::string name_of(const MmaDesc& d) {
  const char* in[] = {"s8", "u8", "e4m3", "e5m2", "f16", "bf16"};
  const char* acc[] = {"s32", "f32", "f16"};
  return "m16n8k" + std::to_string(d.k) + (d.satfinite ? ".satfinite." : ".") + acc[static_cast<int>(d.d_type)] +
         "." + in[static_cast<int>(d.a_type)] + "." + in[static_cast<int>(d.b_type)] + "." +
         acc[static_cast<int>(d.c_type)];
}

void expect_matches_reference(const MmaDesc& d, Range range, int seeds = 3) {
  for (int seed = 1; seed <= seeds; ++seed) {
    const auto mix = 1000u * static_cast<std::uint64_t>(seed) + static_cast<std::uint64_t>(d.k);
    const Problem p = random_problem(d, mix, range);
    const auto expected = d.c_type == MmaAccType::kS32 ? reference_int(p) : reference_float(p);
    const auto got = run(p);
    for (int i = 0; i < kM * kN; ++i) {
      ASSERT_EQ(got[i], expected[i]) << name_of(d) << " seed " << seed << ": D[" << i / kN << "][" << i % kN << "]";
    }
  }
}

MmaDesc desc(int k, MmaAccType acc, MmaInType a, MmaInType b, bool satfinite = false) {
  MmaDesc d;
  d.k = k;
  d.a_type = a;
  d.b_type = b;
  d.c_type = d.d_type = acc;
  d.satfinite = satfinite;
  return d;
}

std::uint32_t f32_bits(float f) { return std::bit_cast<std::uint32_t>(f); }

// --- layouts and matrix products ----------------------------------------------------------

TEST(MmaSync, IntegerEveryShapeSignednessAndSaturation) {
  const MmaInType types[] = {MmaInType::kS8, MmaInType::kU8};
  for (int k : {16, 32}) {
    for (MmaInType a : types) {
      for (MmaInType b : types) {
        for (bool sat : {false, true}) expect_matches_reference(desc(k, MmaAccType::kS32, a, b, sat), Range::kWide);
      }
    }
  }
}

TEST(MmaSync, Fp8EveryCombinationToF32WithSubnormals) {
  const MmaInType types[] = {MmaInType::kE4m3, MmaInType::kE5m2};
  for (int k : {32, 16}) {
    for (MmaInType a : types) {
      for (MmaInType b : types) expect_matches_reference(desc(k, MmaAccType::kF32, a, b), Range::kWide);
    }
  }
}

TEST(MmaSync, Fp8ToF16Accumulator) {
  const MmaInType types[] = {MmaInType::kE4m3, MmaInType::kE5m2};
  for (int k : {32, 16}) {
    for (MmaInType a : types) {
      for (MmaInType b : types) expect_matches_reference(desc(k, MmaAccType::kF16, a, b), Range::kNarrow);
    }
  }
}

TEST(MmaSync, F16AndBf16) {
  for (int k : {16, 8}) {
    expect_matches_reference(desc(k, MmaAccType::kF32, MmaInType::kF16, MmaInType::kF16), Range::kWide);
    expect_matches_reference(desc(k, MmaAccType::kF16, MmaInType::kF16, MmaInType::kF16), Range::kNarrow);
    expect_matches_reference(desc(k, MmaAccType::kF32, MmaInType::kBf16, MmaInType::kBf16), Range::kWide);
  }
}

// One nonzero element at a time: D picks exactly one A element and one B element, so every
// (row, k) of A and (k, col) of B is checked to land where the ISA puts it.
TEST(MmaSync, EachElementLandsWhereTheIsaSays) {
  for (const MmaDesc& d : {desc(32, MmaAccType::kS32, MmaInType::kS8, MmaInType::kS8),
                           desc(16, MmaAccType::kS32, MmaInType::kU8, MmaInType::kS8),
                           desc(16, MmaAccType::kF32, MmaInType::kF16, MmaInType::kF16),
                           desc(8, MmaAccType::kF32, MmaInType::kBf16, MmaInType::kBf16)}) {
    const bool f16 = d.a_type == MmaInType::kF16, bf16 = d.a_type == MmaInType::kBf16;
    const std::uint32_t one = f16 ? 0x3c00u : bf16 ? 0x3f80u : 1u;
    for (int m = 0; m < kM; ++m) {
      for (int k = 0; k < d.k; ++k) {
        Problem p{d, std::vector<std::uint32_t>(kM * d.k, 0), std::vector<std::uint32_t>(d.k * kN, 0),
                  std::vector<std::uint32_t>(kM * kN, 0)};
        p.a[m * d.k + k] = one;
        for (int n = 0; n < kN; ++n) {
          // B[k][n] = n + 1, so D[m][n] = n + 1 and every other D element is zero.
          const float v = static_cast<float>(n + 1);
          p.b[k * kN + n] = f16 ? f32_to_f16(v) : bf16 ? f32_to_bf16(v) : static_cast<std::uint32_t>(n + 1);
        }
        const auto got = run(p);
        for (int i = 0; i < kM; ++i) {
          for (int n = 0; n < kN; ++n) {
            const double want = i == m ? n + 1 : 0;
            const double v = d.c_type == MmaAccType::kS32 ? static_cast<std::int32_t>(got[i * kN + n])
                                                          : std::bit_cast<float>(got[i * kN + n]);
            ASSERT_EQ(v, want) << name_of(d) << " A[" << m << "][" << k << "] D[" << i << "][" << n << "]";
          }
        }
      }
    }
  }
}

TEST(MmaSync, RegisterCounts) {
  EXPECT_EQ(mma_regs(desc(32, MmaAccType::kS32, MmaInType::kS8, MmaInType::kS8), 'a'), 4);
  EXPECT_EQ(mma_regs(desc(32, MmaAccType::kS32, MmaInType::kS8, MmaInType::kS8), 'b'), 2);
  EXPECT_EQ(mma_regs(desc(32, MmaAccType::kS32, MmaInType::kS8, MmaInType::kS8), 'c'), 4);
  EXPECT_EQ(mma_regs(desc(16, MmaAccType::kS32, MmaInType::kS8, MmaInType::kS8), 'a'), 2);
  EXPECT_EQ(mma_regs(desc(16, MmaAccType::kS32, MmaInType::kS8, MmaInType::kS8), 'b'), 1);
  EXPECT_EQ(mma_regs(desc(32, MmaAccType::kF16, MmaInType::kE4m3, MmaInType::kE5m2), 'd'), 2);
  EXPECT_EQ(mma_regs(desc(16, MmaAccType::kF32, MmaInType::kF16, MmaInType::kF16), 'a'), 4);
  EXPECT_EQ(mma_regs(desc(16, MmaAccType::kF32, MmaInType::kF16, MmaInType::kF16), 'b'), 2);
  EXPECT_EQ(mma_regs(desc(16, MmaAccType::kF16, MmaInType::kF16, MmaInType::kF16), 'c'), 2);
  EXPECT_EQ(mma_regs(desc(8, MmaAccType::kF32, MmaInType::kBf16, MmaInType::kBf16), 'a'), 2);
  EXPECT_EQ(mma_regs(desc(8, MmaAccType::kF32, MmaInType::kBf16, MmaInType::kBf16), 'b'), 1);
  EXPECT_EQ(mma_regs(desc(8, MmaAccType::kF32, MmaInType::kBf16, MmaInType::kBf16), 'd'), 4);
}

// --- integer saturation -------------------------------------------------------------------

Problem one_product(const MmaDesc& d, std::uint32_t a00, std::uint32_t b00, std::uint32_t c00) {
  Problem p{d, std::vector<std::uint32_t>(kM * d.k, 0), std::vector<std::uint32_t>(d.k * kN, 0),
            std::vector<std::uint32_t>(kM * kN, 0)};
  p.a[0] = a00;
  p.b[0] = b00;
  p.c[0] = c00;
  return p;
}

TEST(MmaSync, SatfiniteClampsAndPlainFormWraps) {
  const std::uint32_t max = 0x7fffffffu, min = 0x80000000u;
  // INT32_MAX - 10 + 127 * 127: clamps to INT32_MAX, or wraps to INT32_MIN + 16118.
  auto sat = one_product(desc(32, MmaAccType::kS32, MmaInType::kS8, MmaInType::kS8, true), 127, 127, max - 10);
  EXPECT_EQ(run(sat)[0], max);
  auto wrap = sat;
  wrap.desc.satfinite = false;
  EXPECT_EQ(run(wrap)[0], min + 16118u);
  // INT32_MIN + 5 + (-128) * 255 (s8 x u8): clamps to INT32_MIN, or wraps past INT32_MAX.
  auto sat_neg = one_product(desc(16, MmaAccType::kS32, MmaInType::kS8, MmaInType::kU8, true), 0x80u, 255, min + 5);
  EXPECT_EQ(run(sat_neg)[0], min);
  auto wrap_neg = sat_neg;
  wrap_neg.desc.satfinite = false;
  EXPECT_EQ(run(wrap_neg)[0], static_cast<std::uint32_t>(static_cast<std::int64_t>(INT32_MIN) + 5 - 128 * 255 +
                                                         (std::int64_t{1} << 32)));
  // In range, .satfinite changes nothing: -128 * -128 + -5.
  auto in_range = one_product(desc(32, MmaAccType::kS32, MmaInType::kS8, MmaInType::kS8, true), 0x80u, 0x80u,
                              static_cast<std::uint32_t>(-5));
  EXPECT_EQ(static_cast<std::int32_t>(run(in_range)[0]), 16384 - 5);
}

// --- float special values and the single rounding ---------------------------------------

TEST(MmaSync, NaNPropagates) {
  const std::uint32_t kCanonicalNaN = 0x7fffffffu;
  // e4m3 NaN (0x7f) at A[3][5]: row 3 of D is NaN, every other row exact.
  MmaDesc d = desc(32, MmaAccType::kF32, MmaInType::kE4m3, MmaInType::kE4m3);
  Problem p = random_problem(d, 7, Range::kWide);
  p.a[3 * 32 + 5] = 0x7fu;
  auto got = run(p);
  Problem clean = p;
  clean.a[3 * 32 + 5] = 0;
  const auto ref = reference_float(clean);
  for (int m = 0; m < kM; ++m) {
    for (int n = 0; n < kN; ++n) {
      if (m == 3) EXPECT_EQ(got[m * kN + n], kCanonicalNaN) << n;
      else EXPECT_EQ(got[m * kN + n], ref[m * kN + n]) << m << "," << n;
    }
  }
  // NaN in C reaches only its own element.
  p = random_problem(d, 8, Range::kWide);
  p.c[2 * kN + 6] = std::bit_cast<std::uint32_t>(std::numeric_limits<float>::quiet_NaN());
  got = run(p);
  EXPECT_EQ(got[2 * kN + 6], kCanonicalNaN);
  EXPECT_NE(got[2 * kN + 5], kCanonicalNaN);
  // e5m2: Inf * 0 is NaN, Inf * x is Inf, Inf - Inf is NaN.
  MmaDesc e5 = desc(16, MmaAccType::kF32, MmaInType::kE5m2, MmaInType::kE5m2);
  Problem q{e5, std::vector<std::uint32_t>(kM * 16, 0), std::vector<std::uint32_t>(16 * kN, 0),
            std::vector<std::uint32_t>(kM * kN, 0)};
  q.a[0] = 0x7cu;           // A[0][0] = +Inf
  q.b[0 * kN + 1] = 0x3cu;  // B[0][1] = 1: D[0][1] = +Inf; B[0][0] = 0: D[0][0] = NaN
  q.b[0 * kN + 2] = 0xbcu;  // B[0][2] = -1: D[0][2] = -Inf
  q.a[1 * 16 + 0] = 0x7cu;  // A[1][0] = +Inf, A[1][1] = -Inf
  q.a[1 * 16 + 1] = 0xfcu;
  q.b[1 * kN + 1] = 0x3cu;  // D[1][1] = Inf - Inf = NaN; D[1][2] = -Inf + (-Inf * 0) = NaN
  q.a[2 * 16 + 0] = 0x7du;  // e5m2 NaN
  got = run(q);
  EXPECT_EQ(got[0 * kN + 0], kCanonicalNaN);
  EXPECT_EQ(got[0 * kN + 1], 0x7f800000u);
  EXPECT_EQ(got[0 * kN + 2], 0xff800000u);
  EXPECT_EQ(got[1 * kN + 1], kCanonicalNaN);
  EXPECT_EQ(got[1 * kN + 2], kCanonicalNaN);
  for (int n = 0; n < kN; ++n) EXPECT_EQ(got[2 * kN + n], kCanonicalNaN) << n;
  EXPECT_EQ(got[3 * kN + 0], 0u);
  // f16 accumulator: the canonical f16 NaN.
  MmaDesc h = desc(16, MmaAccType::kF16, MmaInType::kF16, MmaInType::kF16);
  Problem r = one_product(h, 0x7e00u, 0x3c00u, 0);
  EXPECT_EQ(run(r)[0], 0x7fffu);
  // +Inf in C with finite products stays +Inf.
  Problem s = one_product(d, 0x38u, 0x38u, 0x7f800000u);
  EXPECT_EQ(run(s)[0], 0x7f800000u);
}

TEST(MmaSync, RoundsOnceFromTheExactSum) {
  MmaDesc d = desc(16, MmaAccType::kF32, MmaInType::kBf16, MmaInType::kBf16);
  const auto bf = [](double v) { return f32_to_bf16(static_cast<float>(v)); };
  Problem base{d, std::vector<std::uint32_t>(kM * 16, 0), std::vector<std::uint32_t>(16 * kN, 0),
               std::vector<std::uint32_t>(kM * kN, 0)};
  // 1 + 2^-24 is a tie between 1 and 1 + 2^-23: to even, 1. A further 2^-80 (far below what
  // a double sum keeps) breaks the tie upwards: 1 + 2^-23.
  Problem p = base;
  p.c[0] = f32_bits(1.0f);
  p.a[0] = bf(std::ldexp(1.0, -24));
  p.b[0] = bf(1.0);
  EXPECT_EQ(run(p)[0], 0x3f800000u);
  p.a[1] = bf(std::ldexp(1.0, -40));
  p.b[1 * kN] = bf(std::ldexp(1.0, -40));
  EXPECT_EQ(run(p)[0], 0x3f800001u);
  // 1 + 2^-23 + 2^-24 ties to even upwards: 1 + 2^-22.
  p = base;
  p.c[0] = 0x3f800001u;
  p.a[0] = bf(std::ldexp(1.0, -24));
  p.b[0] = bf(1.0);
  EXPECT_EQ(run(p)[0], 0x3f800002u);
  // 2^100 + 2^-100 - 2^100 in K order: exactly 2^-100 (a running f32 or double sum gives 0).
  p = base;
  p.a[0] = bf(std::ldexp(1.0, 50));
  p.b[0] = bf(std::ldexp(1.0, 50));
  p.a[1] = bf(std::ldexp(1.0, -50));
  p.b[1 * kN] = bf(std::ldexp(1.0, -50));
  p.a[2] = bf(-std::ldexp(1.0, 50));
  p.b[2 * kN] = bf(std::ldexp(1.0, 50));
  EXPECT_EQ(run(p)[0], f32_bits(std::ldexp(1.0f, -100)));
  // Overflow past FLT_MAX rounds to Inf; exact cancellation gives +0.
  p = base;
  p.a[0] = bf(std::ldexp(1.0, 127));
  p.b[0] = bf(2.0);
  EXPECT_EQ(run(p)[0], 0x7f800000u);
  p.a[1] = bf(-std::ldexp(1.0, 127));
  p.b[1 * kN] = bf(2.0);
  EXPECT_EQ(run(p)[0], 0u);
  // A bf16 subnormal times 2^-10 is an f32 subnormal, kept exactly.
  p = base;
  p.a[0] = 0x0001u;  // 2^-133
  p.b[0] = bf(std::ldexp(1.0, -10));
  EXPECT_EQ(run(p)[0], f32_bits(std::ldexp(1.0f, -143)));
  // Below half the smallest f32 subnormal: rounds to -0 for a negative sum.
  p.a[0] = 0x8001u;  // -2^-133
  p.b[0] = bf(std::ldexp(1.0, -20));
  EXPECT_EQ(run(p)[0], 0x80000000u);
  // -0 only when every term is -0: -0 * 1 + -0 is -0, -0 * 1 + +0 is +0.
  p = base;
  p.a[0] = 0x8000u;
  p.b[0] = bf(1.0);
  p.c[0] = 0x80000000u;
  for (int k = 1; k < 16; ++k) p.a[k] = 0x8000u;  // -0 * +0 = -0 for the rest of the row
  EXPECT_EQ(run(p)[0], 0x80000000u);
  p.c[0] = 0;
  EXPECT_EQ(run(p)[0], 0u);
}

TEST(MmaSync, Fp8ExtremesAndF16Rounding) {
  // 448 * 57344 + (-448) * (-57344) = 2 * 25690112, exactly representable.
  MmaDesc d = desc(32, MmaAccType::kF32, MmaInType::kE4m3, MmaInType::kE5m2);
  Problem p = one_product(d, 0x7eu, 0x7bu, 0);
  p.a[1] = 0xfeu;
  p.b[1 * kN] = 0xfbu;
  EXPECT_EQ(run(p)[0], f32_bits(2.0f * 448.0f * 57344.0f));
  // The largest e5m2 and f16 products, whose sums need more than 64 bits of fixed point.
  MmaDesc e5 = desc(16, MmaAccType::kF32, MmaInType::kE5m2, MmaInType::kE5m2);
  p = one_product(e5, 0x7bu, 0x7bu, 0);
  p.a[1] = 0x7bu;
  p.b[1 * kN] = 0x7bu;
  EXPECT_EQ(run(p)[0], f32_bits(2.0f * 57344.0f * 57344.0f));
  p = one_product(desc(8, MmaAccType::kF32, MmaInType::kF16, MmaInType::kF16), 0x7bffu, 0x7bffu, 0);
  EXPECT_EQ(run(p)[0], f32_bits(65504.0f * 65504.0f));
  // Smallest subnormals: 2^-9 * 2^-16.
  p = one_product(d, 0x01u, 0x01u, 0);
  EXPECT_EQ(run(p)[0], f32_bits(std::ldexp(1.0f, -25)));
  // f16 accumulator: 2049 is not an f16; 2048 + 1 ties to even (2048), 2048 + 3 to 2052.
  MmaDesc h = desc(16, MmaAccType::kF16, MmaInType::kF16, MmaInType::kF16);
  p = one_product(h, f32_to_f16(1.0f), f32_to_f16(1.0f), f32_to_f16(2048.0f));
  EXPECT_EQ(run(p)[0], f32_to_f16(2048.0f));
  p.a[0] = f32_to_f16(3.0f);
  EXPECT_EQ(run(p)[0], f32_to_f16(2052.0f));
  // Beyond 65504 (rounding past 65520) overflows to Inf.
  p = one_product(h, f32_to_f16(256.0f), f32_to_f16(256.0f), 0);
  EXPECT_EQ(run(p)[0], 0x7c00u);
}

// C far above or below the products: the exact sum still decides the rounding.
TEST(MmaSync, CFarFromTheProductsStillRoundsOnce) {
  // f16: 1 * 1 + 2^-12 * 2^-12 = 1 + 2^-24, a tie between 1 and 1 + 2^-23; a C of +-2^-140
  // (an f32 subnormal, 140 binades below) decides it.
  MmaDesc h = desc(16, MmaAccType::kF32, MmaInType::kF16, MmaInType::kF16);
  Problem p = one_product(h, f32_to_f16(1.0f), f32_to_f16(1.0f), 0);
  p.a[1] = f32_to_f16(std::ldexp(1.0f, -12));
  p.b[1 * kN] = f32_to_f16(std::ldexp(1.0f, -12));
  EXPECT_EQ(run(p)[0], 0x3f800000u);  // +0: the tie goes to even
  p.c[0] = f32_bits(std::ldexp(1.0f, -140));
  EXPECT_EQ(run(p)[0], 0x3f800001u);
  p.c[0] = f32_bits(-std::ldexp(1.0f, -140));
  EXPECT_EQ(run(p)[0], 0x3f800000u);
  // e4m3: 2^24 + 1 is a tie between 2^24 and 2^24 + 2; 2^-9 * 2^-9 breaks it upwards.
  MmaDesc e = desc(32, MmaAccType::kF32, MmaInType::kE4m3, MmaInType::kE4m3);
  p = one_product(e, 0x38u, 0x38u, f32_bits(16777216.0f));
  EXPECT_EQ(run(p)[0], f32_bits(16777216.0f));
  p.a[1] = 0x01u;
  p.b[1 * kN] = 0x01u;
  EXPECT_EQ(run(p)[0], f32_bits(16777218.0f));
  // A C of 2^120 absorbs 448 * 448 and 2^-18 alike; -2^120 + 2^-18 + 448 * 448 is
  // -2^120 rounded (ulp 2^97).
  p = one_product(e, 0x7eu, 0x7eu, f32_bits(std::ldexp(1.0f, 120)));
  EXPECT_EQ(run(p)[0], f32_bits(std::ldexp(1.0f, 120)));
  p.a[1] = 0x01u;
  p.b[1 * kN] = 0x01u;
  EXPECT_EQ(run(p)[0], f32_bits(std::ldexp(1.0f, 120)));
  p.c[0] = f32_bits(-std::ldexp(1.0f, 120));
  EXPECT_EQ(run(p)[0], f32_bits(-std::ldexp(1.0f, 120)));
  // Exact cancellation of C by the products: +0.
  p = one_product(e, 0x38u, 0x38u, f32_bits(-1.0f));
  EXPECT_EQ(run(p)[0], 0u);
}

// --- parsing ------------------------------------------------------------------------------

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char ch : s) {
    if (ch == '.') {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += ch;
    }
  }
  out.push_back(cur);
  return out;
}

TEST(MmaParse, SupportedForms) {
  MmaDesc d = parse_mma(split("sync.aligned.m16n8k32.row.col.s32.s8.s8.s32"));
  EXPECT_EQ(d.k, 32);
  EXPECT_EQ(d.a_type, MmaInType::kS8);
  EXPECT_EQ(d.b_type, MmaInType::kS8);
  EXPECT_EQ(d.d_type, MmaAccType::kS32);
  EXPECT_FALSE(d.satfinite);
  d = parse_mma({"sync", "aligned", "m16n8k32", "row", "col", "satfinite", "s32", "u8", "s8", "s32"});
  EXPECT_TRUE(d.satfinite);
  EXPECT_EQ(d.a_type, MmaInType::kU8);
  d = parse_mma(split("sync.aligned.m16n8k32.row.col.f32.e4m3.e5m2.f32"));
  EXPECT_EQ(d.a_type, MmaInType::kE4m3);
  EXPECT_EQ(d.b_type, MmaInType::kE5m2);
  EXPECT_EQ(d.c_type, MmaAccType::kF32);
  d = parse_mma(split("sync.aligned.m16n8k16.row.col.f16.f16.f16.f16"));
  EXPECT_EQ(d.k, 16);
  EXPECT_EQ(d.d_type, MmaAccType::kF16);
  d = parse_mma(split("sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32"));
  EXPECT_EQ(d.a_type, MmaInType::kBf16);
  d = parse_mma(split("sync.aligned.m16n8k8.row.col.f32.f16.f16.f32"));
  EXPECT_EQ(d.k, 8);
  d = parse_mma(split("sync.aligned.m16n8k16.row.col.f16.e5m2.e5m2.f16"));
  EXPECT_EQ(d.c_type, MmaAccType::kF16);
}

void expect_rejected(const std::string& mods, const std::string& names) {
  try {
    parse_mma(split(mods));
    ADD_FAILURE() << mods << " was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.subsystem(), "sim");
    EXPECT_NE(e.message().find(names), std::string::npos) << e.message();
  }
}

TEST(MmaParse, UnsupportedFormsNameTheirModifiers) {
  expect_rejected("sync.aligned.m8n8k4.row.col.f32.f16.f16.f32", ".m8n8k4");
  expect_rejected("sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32", ".tf32");
  expect_rejected("sync.aligned.m16n8k32.row.col.kind::f8f6f4.f32.e3m2.e2m3.f32", ".kind::f8f6f4");
  expect_rejected("sync.aligned.m16n8k32.row.col.s32.s4.s4.s32", ".s4");
  expect_rejected("sync.aligned.m16n8k16.col.row.f32.f16.f16.f32", "row.col");
  expect_rejected("sync.aligned.m16n8k16.row.col.f16.bf16.bf16.f16", "m16n8k16.row.col.f16.bf16.bf16.f16");
  expect_rejected("sync.aligned.m16n8k16.row.col.f32.f16.f16.f16", "m16n8k16.row.col.f32.f16.f16.f16");
  expect_rejected("sync.aligned.m16n8k8.row.col.s32.s8.s8.s32", "m16n8k8");
  expect_rejected("sync.aligned.m16n8k16.row.col.f32.f16.bf16.f32", "f16.bf16");
  expect_rejected("sync.aligned.m16n8k32.row.col.satfinite.f32.e4m3.e4m3.f32", ".satfinite");
  expect_rejected("aligned.m16n8k32.row.col.s32.s8.s8.s32", ".sync");
  expect_rejected("sync.aligned.m16n8k32.row.col.s32.s8.s8", "four types");
}

}  // namespace
}  // namespace qjit::sim
