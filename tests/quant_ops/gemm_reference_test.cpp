// The reference GEMM of every family (DESIGN.md section 5): family dispatch, hand-computed
// answers, int8 exactness and its K limit, the fp8 promotion every 128 K, block-fp8 scales
// per block with partial blocks, and the weight-only dequantization. The epilogue is tested
// in gemm_epilogue_test.cpp, the accuracy against float64 in gemm_nmse_test.cpp.

#include "quant_ops/reference/gemm.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "common/error.hpp"
#include "quant_ops/reference/quantize_value.hpp"
#include "runtime/float_convert.hpp"
#include "gemm_test_util.hpp"

namespace qjit::reference {
namespace {

using test::codes;
using test::gaussian;
using test::kFp8Types;
using test::kNaN;
using test::Operand;
using test::out_f32;
using test::problem;
using test::random_fp8_codes;

// --- family dispatch ---------------------------------------------------------------------

TEST(GemmFamilyDispatch, PicksTheFamilyFromQTypesAndGranularities) {
  const Operand i8a{QType::kInt8, Granularity::kPerToken, {}, {}};
  const Operand i8w{QType::kInt8, Granularity::kPerChannel, {}, {}};
  EXPECT_EQ(gemm_family(problem(0, 0, 0, i8a, i8w)), GemmFamily::kInt8);
  for (QType qa : kFp8Types) {
    for (QType qw : kFp8Types) {
      EXPECT_EQ(gemm_family(problem(0, 0, 0, {qa, Granularity::kPerTensor}, {qw, Granularity::kPerChannel})),
                GemmFamily::kFp8);
      EXPECT_EQ(gemm_family(problem(0, 0, 0, {qa, Granularity::kGroup128}, {qw, Granularity::kBlock128})),
                GemmFamily::kBlockFp8);
    }
  }
  EXPECT_EQ(gemm_family(problem(0, 0, 0, {QType::kNone}, {QType::kE4M3, Granularity::kBlock128})),
            GemmFamily::kWeightOnly);
  EXPECT_EQ(gemm_family_name(GemmFamily::kBlockFp8), "block_fp8");
}

TEST(GemmFamilyDispatch, RejectsCombinationsNoFamilyComputes) {
  auto family_of = [](Operand a, Operand w) { return gemm_family(problem(0, 0, 0, a, w)); };
  EXPECT_THROW(family_of({QType::kInt8, Granularity::kPerToken}, {QType::kE4M3, Granularity::kPerChannel}), Error);
  EXPECT_THROW(family_of({QType::kInt8, Granularity::kGroup128}, {QType::kInt8, Granularity::kBlock128}), Error);
  EXPECT_THROW(family_of({QType::kE4M3, Granularity::kGroup128}, {QType::kE4M3, Granularity::kPerChannel}), Error);
  EXPECT_THROW(family_of({QType::kE4M3, Granularity::kPerToken}, {QType::kE4M3, Granularity::kBlock128}), Error);
  EXPECT_THROW(family_of({QType::kE4M3, Granularity::kPerChannel}, {QType::kE4M3, Granularity::kPerChannel}), Error);
  EXPECT_THROW(family_of({QType::kE4M3, Granularity::kPerToken}, {QType::kE4M3, Granularity::kPerToken}), Error);
  EXPECT_THROW(family_of({QType::kE4M3, Granularity::kPerToken}, {QType::kNone, Granularity::kPerChannel}), Error);
  try {
    family_of({QType::kInt8, Granularity::kPerToken}, {QType::kE5M2, Granularity::kPerChannel});
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("int8 activations x fp8_e5m2 weights"), std::string::npos) << e.message();
  }
}

// --- int8 --------------------------------------------------------------------------------

TEST(GemmInt8, KnownAnswer) {
  // acc = [[6, 8], [126, 506]]; s = scale_a[m] * scale_w[n] = [[1, 2], [0.5, 1]];
  // y = acc * s + bias = [[7, 15], [64, 505]].
  const Operand a{QType::kInt8, Granularity::kPerToken, codes(QType::kInt8, {1, 2, 3, -1, 0, 127}), {0.5f, 0.25f}};
  const Operand w{QType::kInt8, Granularity::kPerChannel, codes(QType::kInt8, {1, 1, 1, 2, -3, 4}), {2.0f, 4.0f}};
  const std::vector<float> bias = {1.0f, -1.0f};
  GemmEpilogue e = out_f32();
  e.bias = bias.data();
  const GemmOutput y = reference_gemm(problem(2, 2, 3, a, w, e));
  EXPECT_EQ(y.values, (std::vector<float>{7, 15, 64, 505}));
  EXPECT_EQ(y.rows, 2);
  EXPECT_EQ(y.cols, 2);
  EXPECT_TRUE(y.bits.empty());
  // Per-tensor scales on both sides: s = 0.5 * 4 = 2 everywhere.
  const Operand at{QType::kInt8, Granularity::kPerTensor, a.q, {0.5f}};
  const Operand wt{QType::kInt8, Granularity::kPerTensor, w.q, {4.0f}};
  EXPECT_EQ(reference_gemm(problem(2, 2, 3, at, wt)).values, (std::vector<float>{12, 16, 252, 1012}));
}

TEST(GemmInt8, ExactAgainstAnInt64Sum) {
  constexpr int kM = 5, kN = 7, kK = 1000;  // |acc| <= 127^2 * 1000 < 2^24: float(acc) exact
  std::mt19937 rng(1);
  std::uniform_int_distribution<int> code(-127, 127);
  std::vector<std::uint8_t> qa(kM * kK), qw(kN * kK);
  for (auto& c : qa) c = static_cast<std::uint8_t>(code(rng));
  for (auto& c : qw) c = static_cast<std::uint8_t>(code(rng));
  const std::vector<float> sa = {0.5f, 1.0f, 0.0625f, 3.0f, 1.5f};
  std::vector<float> sw(kN), bias(kN);
  for (int n = 0; n < kN; ++n) {
    sw[n] = 0.001f * static_cast<float>(n + 1);
    bias[n] = 0.1f * static_cast<float>(n) - 0.3f;
  }
  const Operand a{QType::kInt8, Granularity::kPerToken, qa, sa};
  const Operand w{QType::kInt8, Granularity::kPerChannel, qw, sw};
  const Operand a1{QType::kInt8, Granularity::kPerTensor, qa, {1.0f}};
  const Operand w1{QType::kInt8, Granularity::kPerTensor, qw, {1.0f}};
  GemmEpilogue e;  // bf16 out
  e.bias = bias.data();
  const GemmOutput y = reference_gemm(problem(kM, kN, kK, a, w, e));
  const GemmOutput raw = reference_gemm(problem(kM, kN, kK, a1, w1));
  for (int m = 0; m < kM; ++m) {
    for (int n = 0; n < kN; ++n) {
      std::int64_t sum = 0;
      for (int k = 0; k < kK; ++k) {
        sum += std::int64_t{static_cast<std::int8_t>(qa[m * kK + k])} * static_cast<std::int8_t>(qw[n * kK + k]);
      }
      ASSERT_EQ(raw.values[m * kN + n], static_cast<float>(sum));
      const float want = std::fma(static_cast<float>(sum), sa[m] * sw[n], bias[n]);
      ASSERT_EQ(y.bits[m * kN + n], f32_to_bf16(want)) << m << "," << n;
    }
  }
}

TEST(GemmInt8, AccumulatorToFloatRoundsToNearestEven) {
  // 127^2 * 1101 = 17758029 > 2^24: halfway between 17758028 and 17758030; RNE gives ...28.
  constexpr int kK = 1101;
  const Operand a{QType::kInt8, Granularity::kPerTensor, std::vector<std::uint8_t>(kK, 127), {1.0f}};
  const GemmOutput y = reference_gemm(problem(1, 1, kK, a, a));
  EXPECT_EQ(y.values[0], 17758028.0f);
}

TEST(GemmInt8, RejectsKThatCouldOverflowInt32) {
  static_assert(kMaxInt8K == 133144);
  static_assert(127LL * 127 * kMaxInt8K <= 2147483647LL && 127LL * 127 * (kMaxInt8K + 1) > 2147483647LL);
  const Operand ok{QType::kInt8, Granularity::kPerTensor, std::vector<std::uint8_t>(kMaxInt8K, 127), {1.0f}};
  EXPECT_EQ(reference_gemm(problem(1, 1, kMaxInt8K, ok, ok)).values[0], static_cast<float>(127 * 127 * kMaxInt8K));
  const Operand big{QType::kInt8, Granularity::kPerTensor, std::vector<std::uint8_t>(kMaxInt8K + 1, 1), {1.0f}};
  try {
    reference_gemm(problem(1, 1, kMaxInt8K + 1, big, big));
    FAIL() << "K = kMaxInt8K + 1 accepted";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("overflow"), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("133145"), std::string::npos) << e.message();
  }
  // -128 codes (never written by a quantizer) can overflow below the K limit: an error, not
  // a silently wrapped result.
  const Operand neg{QType::kInt8, Granularity::kPerTensor, std::vector<std::uint8_t>(kMaxInt8K, 0x80), {1.0f}};
  EXPECT_THROW(reference_gemm(problem(1, 1, kMaxInt8K, neg, neg)), Error);
}

// --- fp8 ---------------------------------------------------------------------------------

TEST(GemmFp8, KnownAnswerForEveryPair) {
  // Row of a: {1, 2, 0.5, -1.5}; w rows {2, -1.5, 4, 1} and {1, 1, 1, 1}: dots -0.5 and 2;
  // s = 2 * {0.25, 3}: y = {-0.25, 12}.
  for (QType qa : kFp8Types) {
    for (QType qw : kFp8Types) {
      const Operand a{qa, Granularity::kPerToken, codes(qa, {1, 2, 0.5f, -1.5f}), {2.0f}};
      const Operand w{qw, Granularity::kPerChannel, codes(qw, {2, -1.5f, 4, 1, 1, 1, 1, 1}), {0.25f, 3.0f}};
      EXPECT_EQ(reference_gemm(problem(1, 2, 4, a, w)).values, (std::vector<float>{-0.25f, 12.0f}))
          << qtype_name(qa) << " x " << qtype_name(qw);
    }
  }
}

TEST(GemmFp8, PromotesTheSumEvery128K) {
  // K = 256. Block 0: 256 * 256 = 2^16, then 127 products 2^-4 * 2^-4 = 2^-8, each exactly
  // half an ulp of 2^16 (ulp 2^-7): every addition ties back to 2^16. Block 1: 128 * 2^-8
  // = 0.5 exactly. Promoted: 2^16 + 0.5. A single sequential fp32 sum would absorb all 255
  // small products and give 2^16 (the exact value is 2^16 + 255/256).
  constexpr int kK = 256;
  std::vector<float> av(kK, 0.0625f);
  av[0] = 256.0f;
  for (QType qa : kFp8Types) {
    for (QType qw : kFp8Types) {
      const Operand a{qa, Granularity::kPerTensor, codes(qa, av), {1.0f}};
      const Operand w{qw, Granularity::kPerTensor, codes(qw, av), {1.0f}};
      EXPECT_EQ(reference_gemm(problem(1, 1, kK, a, w)).values[0], 65536.5f);
    }
  }
  float flat = 0.0f;
  for (int k = 0; k < kK; ++k) flat = flat + av[k] * av[k];
  EXPECT_EQ(flat, 65536.0f);  // the case distinguishes the two orders
}

TEST(GemmFp8, SequentialWithinEachBlockOnRandomCodes) {
  // Random finite codes, K = 300 (a partial last block), against the documented order
  // written out directly from the logical layouts.
  constexpr int kM = 3, kN = 5, kK = 300;
  const QType qa = QType::kE4M3, qw = QType::kE5M2;
  const Operand a{qa, Granularity::kPerToken, random_fp8_codes(qa, kM * kK, 2), {0.5f, 0.25f, 2.0f}};
  const Operand w{qw, Granularity::kPerTensor, random_fp8_codes(qw, kN * kK, 3), {0.125f}};
  const GemmOutput y = reference_gemm(problem(kM, kN, kK, a, w));
  for (int m = 0; m < kM; ++m) {
    for (int n = 0; n < kN; ++n) {
      float total = 0.0f;
      for (int k0 = 0; k0 < kK; k0 += 128) {
        float block = 0.0f;
        for (int k = k0; k < std::min(kK, k0 + 128); ++k) {
          block = block + decode_value(qa, a.q[m * kK + k]) * decode_value(qw, w.q[n * kK + k]);
        }
        total = total + block;
      }
      ASSERT_EQ(y.values[m * kN + n], std::fma(total, a.scales[m] * 0.125f, 0.0f)) << m << "," << n;
    }
  }
}

// --- block-fp8 ---------------------------------------------------------------------------

TEST(GemmBlockFp8, ScalesEachBlockWithPartialBlocks) {
  // M = 2, N = 200 (weight row blocks [0, 128), [128, 200)), K = 300 (groups of 128, 128,
  // 44). Every code is 1, so block g's partial sum is its length; scale_a[m, g] =
  // {1, 2, 4}[g] * (m + 1), scale_w[bn, g] = {1, 8, 64}[g] * (bn + 1):
  // y = (m + 1)(bn + 1)(128 * 1 + 128 * 16 + 44 * 256) = (m + 1)(bn + 1) * 13440.
  constexpr int kM = 2, kN = 200, kK = 300;
  const QType q = QType::kE4M3;
  const Operand a{q, Granularity::kGroup128, std::vector<std::uint8_t>(kM * kK, 0x38), {1, 2, 4, 2, 4, 8}};
  const Operand w{q, Granularity::kBlock128, std::vector<std::uint8_t>(kN * kK, 0x38), {1, 8, 64, 2, 16, 128}};
  ASSERT_EQ(decode_value(q, 0x38), 1.0f);
  const GemmOutput y = reference_gemm(problem(kM, kN, kK, a, w));
  for (int m = 0; m < kM; ++m) {
    for (int n = 0; n < kN; ++n) {
      ASSERT_EQ(y.values[m * kN + n], static_cast<float>((m + 1) * (n / 128 + 1) * 13440)) << m << "," << n;
    }
  }
}

TEST(GemmBlockFp8, RandomCodesAgainstTheDocumentedOrder) {
  constexpr int kM = 3, kN = 200, kK = 300, kG = 3;
  const QType qa = QType::kE4M3, qw = QType::kE4M3;
  std::mt19937 rng(4);
  std::uniform_real_distribution<float> scale(0.01f, 2.0f);
  Operand a{qa, Granularity::kGroup128, random_fp8_codes(qa, kM * kK, 5), std::vector<float>(kM * kG)};
  Operand w{qw, Granularity::kBlock128, random_fp8_codes(qw, kN * kK, 6), std::vector<float>(2 * kG)};
  for (float& s : a.scales) s = scale(rng);
  for (float& s : w.scales) s = scale(rng);
  std::vector<std::uint16_t> bias(kN);
  for (int n = 0; n < kN; ++n) bias[n] = f32_to_f16(static_cast<float>(n) * 0.37f - 20.0f);
  GemmEpilogue e;
  e.bias = bias.data();
  e.bias_dtype = DType::kF16;
  e.out_dtype = DType::kF16;
  const GemmOutput y = reference_gemm(problem(kM, kN, kK, a, w, e));
  for (int m = 0; m < kM; ++m) {
    for (int n = 0; n < kN; ++n) {
      float total = 0.0f;
      for (int g = 0; g < kG; ++g) {
        float partial = 0.0f;
        for (int k = g * 128; k < std::min(kK, g * 128 + 128); ++k) {
          partial = partial + decode_value(qa, a.q[m * kK + k]) * decode_value(qw, w.q[n * kK + k]);
        }
        const float s = a.scales[m * kG + g] * w.scales[(n / 128) * kG + g];
        total = total + partial * s;
      }
      const float want = std::fma(total, 1.0f, f16_to_f32(bias[n]));
      ASSERT_EQ(y.bits[m * kN + n], f32_to_f16(want)) << m << "," << n;
    }
  }
}

TEST(GemmBlockFp8, PromotesEvery128K) {
  // The PromotesTheSumEvery128K case with unit scales.
  std::vector<float> av(256, 0.0625f);
  av[0] = 256.0f;
  const Operand a{QType::kE4M3, Granularity::kGroup128, codes(QType::kE4M3, av), {1.0f, 1.0f}};
  const Operand w{QType::kE4M3, Granularity::kBlock128, codes(QType::kE4M3, av), {1.0f, 1.0f}};
  EXPECT_EQ(reference_gemm(problem(1, 1, 256, a, w)).values[0], 65536.5f);
}

TEST(GemmBlockFp8, NaNGroupScaleMakesItsRowNaN) {
  constexpr int kK = 200;
  Operand a{QType::kE4M3, Granularity::kGroup128, std::vector<std::uint8_t>(2 * kK, 0x38), {1, 1, 1, kNaN}};
  const Operand w{QType::kE4M3, Granularity::kBlock128, std::vector<std::uint8_t>(3 * kK, 0), {1, 1}};
  const GemmOutput y = reference_gemm(problem(2, 3, kK, a, w));
  for (int n = 0; n < 3; ++n) {
    EXPECT_EQ(y.values[n], 0.0f);
    EXPECT_TRUE(std::isnan(y.values[3 + n]));  // 0 * NaN: the NaN group still poisons its row
  }
}

// --- weight-only -------------------------------------------------------------------------

TEST(GemmWeightOnly, KnownAnswer) {
  // x = {1, 2, -1} (bf16); int8 weights {1, 2, 3} * 0.5 = {0.5, 1, 1.5} and
  // {127, -127, 0} * (1 / 127) = {~1, ~-1, 0}, which rounds to exactly ±1 in bf16.
  // y = {0.5 + 2 - 1.5, 1 - 2} = {1, -1}.
  const std::vector<std::uint16_t> x = {f32_to_bf16(1.0f), f32_to_bf16(2.0f), f32_to_bf16(-1.0f)};
  const Operand w{QType::kInt8, Granularity::kPerChannel, codes(QType::kInt8, {1, 2, 3, 127, -127, 0}),
                  {0.5f, 1.0f / 127.0f}};
  GemmProblem p = problem(1, 2, 3, {QType::kNone}, w);
  p.act_float = ActView::dense(x.data(), DType::kBF16, 1, 3);
  EXPECT_EQ(gemm_family(p), GemmFamily::kWeightOnly);
  EXPECT_EQ(reference_gemm(p).values, (std::vector<float>{1.0f, -1.0f}));
}

TEST(GemmWeightOnly, DequantizedWeightIsRoundedToTheActivationDtype) {
  // decode(1) * (1 + 2^-8) = 1 + 2^-8: a tie in bf16 (7 fraction bits) that rounds to 1,
  // exact in f16 (10 fraction bits).
  const Operand w{QType::kInt8, Granularity::kPerTensor, codes(QType::kInt8, {1}), {1.00390625f}};
  const std::vector<std::uint16_t> bf16 = {f32_to_bf16(1.0f)};
  const std::vector<std::uint16_t> f16 = {f32_to_f16(1.0f)};
  GemmProblem p = problem(1, 1, 1, {QType::kNone}, w);
  p.act_float = ActView::dense(bf16.data(), DType::kBF16, 1, 1);
  EXPECT_EQ(reference_gemm(p).values[0], 1.0f);
  p.act_float = ActView::dense(f16.data(), DType::kF16, 1, 1);
  EXPECT_EQ(reference_gemm(p).values[0], 1.00390625f);
}

TEST(GemmWeightOnly, Fp8Block128WeightsAgainstTheDocumentedOrder) {
  constexpr int kM = 4, kN = 130, kK = 140;
  std::vector<float> wv = gaussian(kN * kK, 7);
  wv[0] = 300.0f;  // block (0, 0) gets a larger scale than the others
  const QuantizedWeights qw = quantize_weights(wv, kN, kK, QType::kE4M3, Granularity::kBlock128);
  const std::vector<float> xv = gaussian(kM * kK, 8);
  std::vector<std::uint16_t> x(xv.size());
  for (std::size_t i = 0; i < xv.size(); ++i) x[i] = f32_to_f16(xv[i]);
  const ActView xview = ActView::dense(x.data(), DType::kF16, kM, kK);
  const GemmOutput y = reference_gemm(make_gemm_problem(xview, qw, out_f32()));
  for (int m = 0; m < kM; ++m) {
    for (int n = 0; n < kN; ++n) {
      float sum = 0.0f;
      for (int k = 0; k < kK; ++k) {
        const float wd = f16_to_f32(f32_to_f16(decode_value(QType::kE4M3, qw.q[n * kK + k]) * qw.scale_at(n, k)));
        sum = sum + f16_to_f32(x[m * kK + k]) * wd;
      }
      ASSERT_EQ(y.values[m * kN + n], sum) << m << "," << n;
    }
  }
}

TEST(GemmWeightOnly, RejectsF32Activations) {
  const std::vector<float> x = {1.0f};
  const Operand w{QType::kInt8, Granularity::kPerTensor, {1}, {1.0f}};
  GemmProblem p = problem(1, 1, 1, {QType::kNone}, w);
  p.act_float = ActView::dense(x.data(), DType::kF32, 1, 1);
  EXPECT_THROW(reference_gemm(p), Error);
  p.act_float = ActView::dense(x.data(), DType::kBF16, 2, 1);  // wrong shape
  EXPECT_THROW(reference_gemm(p), Error);
}

}  // namespace
}  // namespace qjit::reference
