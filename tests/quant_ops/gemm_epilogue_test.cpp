// The reference GEMM epilogue (DESIGN.md section 5): y = fmaf(float(acc), s, bias[n]) with
// one rounding, bias of each dtype, GELU-tanh, rounding to the output dtype, zero rows giving
// exactly act(bias) and NaN scales giving NaN, in every family; and the validation errors.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>
#include <vector>

#include "common/error.hpp"
#include "gemm_test_util.hpp"
#include "quant_ops/reference/gemm.hpp"
#include "runtime/float_convert.hpp"

namespace qjit::reference {
namespace {

using test::codes;
using test::gaussian;
using test::kNaN;
using test::Operand;
using test::out_f32;
using test::problem;

constexpr float kInf = std::numeric_limits<float>::infinity();

// A one-row int8 problem whose accumulators are the given dots of {a} with rows of w.
Operand int8_row(const std::vector<float>& values, float scale) {
  return {QType::kInt8, Granularity::kPerTensor, codes(QType::kInt8, values), {scale}};
}

TEST(GemmEpilogue, BiasOfEachDtypeWidenedExactly) {
  // acc = {6, -3, 100}, s = 0.5; bias {0.1, 0.2, -0.3} is inexact in every dtype, so each
  // dtype's widened value gives another result.
  const Operand a = int8_row({1}, 1.0f);
  const Operand w = int8_row({6, -3, 100}, 0.5f);
  const std::vector<float> b = {0.1f, 0.2f, -0.3f};
  const std::vector<float> acc = {6, -3, 100};
  std::vector<std::uint16_t> b16, bb16;
  for (float v : b) {
    b16.push_back(f32_to_f16(v));
    bb16.push_back(f32_to_bf16(v));
  }
  struct BiasCase {
    const void* data;
    DType dtype;
    float (*widen)(const void*, int);
  };
  const BiasCase cases[] = {
      {b.data(), DType::kF32, [](const void* p, int n) { return static_cast<const float*>(p)[n]; }},
      {b16.data(), DType::kF16,
       [](const void* p, int n) { return f16_to_f32(static_cast<const std::uint16_t*>(p)[n]); }},
      {bb16.data(), DType::kBF16,
       [](const void* p, int n) { return bf16_to_f32(static_cast<const std::uint16_t*>(p)[n]); }},
  };
  std::vector<std::vector<float>> results;
  for (const BiasCase& c : cases) {
    GemmEpilogue e = out_f32();
    e.bias = c.data;
    e.bias_dtype = c.dtype;
    const GemmOutput y = reference_gemm(problem(1, 3, 1, a, w, e));
    for (int n = 0; n < 3; ++n) {
      EXPECT_EQ(y.values[n], std::fma(acc[n], 0.5f, c.widen(c.data, n))) << dtype_name(c.dtype);
    }
    results.push_back(y.values);
  }
  EXPECT_NE(results[0], results[1]);
  EXPECT_NE(results[0], results[2]);
  EXPECT_NE(results[1], results[2]);
}

TEST(GemmEpilogue, AccTimesScalePlusBiasRoundsOnce) {
  // acc = 64 * 64 + 1 = 4097, s = 1 + 2^-12, bias = -4098: acc * s = 4098 + 2^-12 exactly,
  // so the fma gives 2^-12; rounding the product first (a tie, to even 4098) would give 0.
  const Operand a{QType::kInt8, Granularity::kPerTensor, codes(QType::kInt8, {64, 1}), {1.0f + 0x1p-12f}};
  const Operand w = int8_row({64, 1}, 1.0f);
  const std::vector<float> bias = {-4098.0f};
  GemmEpilogue e = out_f32();
  e.bias = bias.data();
  EXPECT_EQ(reference_gemm(problem(1, 1, 2, a, w, e)).values[0], 0x1p-12f);
  volatile float s = 1.0f + 0x1p-12f;  // volatile: keep the two roundings apart
  const float product = 4097.0f * s;
  EXPECT_EQ(product + -4098.0f, 0.0f);
}

TEST(GemmEpilogue, GeluTanhFollowsTheFormula) {
  EXPECT_EQ(gelu_tanh(0.0f), 0.0f);
  EXPECT_FALSE(std::signbit(gelu_tanh(0.0f)));
  EXPECT_EQ(gelu_tanh(kInf), kInf);
  EXPECT_TRUE(std::isnan(gelu_tanh(-kInf)));  // documented: -Inf * 0
  EXPECT_TRUE(std::isnan(gelu_tanh(kNaN)));
  const double c = std::sqrt(2.0 / std::numbers::pi);
  for (float y = -8.0f; y <= 8.0f; y += 0.37f) {
    const double yd = y;
    const double want = 0.5 * yd * (1.0 + std::tanh(c * (yd + 0.044715 * yd * yd * yd)));
    // A handful of fp32 roundings, each <= 2^-24 relative, amplified at most ~4x by tanh's
    // sensitivity near the origin: 1e-6 relative (plus an absolute floor for the tiny
    // negative tail) is ample and still catches a wrong constant.
    EXPECT_NEAR(gelu_tanh(y), want, 1e-6 * std::fabs(want) + 1e-7) << y;
  }
  EXPECT_NEAR(gelu_tanh(1.0f), 0.8411920, 1e-6);
  EXPECT_NEAR(gelu_tanh(-1.0f), -0.1588080, 1e-6);
  EXPECT_EQ(parse_activation("GELU-tanh"), Activation::kGeluTanh);
  EXPECT_EQ(parse_activation("gelu"), Activation::kGeluTanh);
  EXPECT_EQ(parse_activation("none"), Activation::kNone);
  EXPECT_EQ(activation_name(Activation::kGeluTanh), "gelu_tanh");
  EXPECT_THROW(parse_activation("relu"), Error);
}

TEST(GemmEpilogue, GeluAfterTheBiasBeforeRounding) {
  const Operand a = int8_row({1, -2}, 0.03f);
  const Operand w = int8_row({5, 7, -3, 2, 9, 1}, 0.5f);  // acc {-9, -7, 7}
  const std::vector<std::uint16_t> bias = {f32_to_bf16(0.25f), f32_to_bf16(-0.5f), f32_to_bf16(1.0f)};
  GemmEpilogue e;
  e.bias = bias.data();
  e.bias_dtype = DType::kBF16;
  e.activation = Activation::kGeluTanh;
  const GemmOutput y = reference_gemm(problem(1, 3, 2, a, w, e));
  const float acc[] = {-9, -7, 7};
  for (int n = 0; n < 3; ++n) {
    const float want = gelu_tanh(std::fma(acc[n], 0.03f * 0.5f, bf16_to_f32(bias[n])));
    EXPECT_EQ(y.bits[n], f32_to_bf16(want)) << n;
  }
}

TEST(GemmEpilogue, RoundsToTheOutputDtype) {
  // acc = 16 * 16 + 1 = 257: bf16 (spacing 2 at 256) ties to even 256; f16 and f32 keep it.
  const Operand a = int8_row({16, 1}, 1.0f);
  GemmEpilogue e;
  e.out_dtype = DType::kBF16;
  GemmOutput y = reference_gemm(problem(1, 1, 2, a, a, e));
  EXPECT_EQ(y.dtype, DType::kBF16);
  EXPECT_EQ(y.values[0], 256.0f);
  EXPECT_EQ(y.bits, (std::vector<std::uint16_t>{0x4380}));
  e.out_dtype = DType::kF16;
  y = reference_gemm(problem(1, 1, 2, a, a, e));
  EXPECT_EQ(y.values[0], 257.0f);
  EXPECT_EQ(y.bits, (std::vector<std::uint16_t>{0x5C04}));
  e.out_dtype = DType::kF32;
  EXPECT_EQ(reference_gemm(problem(1, 1, 2, a, a, e)).values[0], 257.0f);
  // Overflow: 127^2 * 5 = 80645 > 65504 is Inf in f16, finite in bf16.
  const Operand big = int8_row({127, 127, 127, 127, 127}, 1.0f);
  e.out_dtype = DType::kF16;
  EXPECT_EQ(reference_gemm(problem(1, 1, 5, big, big, e)).bits[0], 0x7C00);
  e.out_dtype = DType::kBF16;
  EXPECT_EQ(reference_gemm(problem(1, 1, 5, big, big, e)).values[0], 80896.0f);
  EXPECT_EQ(round_to_dtype(257.0f, DType::kBF16), 256.0f);
}

// One problem of each family on activations x [M, K] (f32 values, bf16-exact) and weights
// w [N, K]: owns the quantized operands the problem points into.
struct FamilyCase {
  const char* name;
  QType qa;
  Granularity ga;
  QType qw;
  Granularity gw;
};

constexpr FamilyCase kFamilies[] = {
    {"int8", QType::kInt8, Granularity::kPerToken, QType::kInt8, Granularity::kPerChannel},
    {"fp8", QType::kE4M3, Granularity::kPerToken, QType::kE4M3, Granularity::kPerChannel},
    {"fp8 e5m2 per_tensor", QType::kE5M2, Granularity::kPerTensor, QType::kE4M3, Granularity::kPerTensor},
    {"block_fp8", QType::kE4M3, Granularity::kGroup128, QType::kE4M3, Granularity::kBlock128},
    {"weight_only int8", QType::kNone, Granularity::kPerToken, QType::kInt8, Granularity::kPerChannel},
    {"weight_only e5m2 block", QType::kNone, Granularity::kPerToken, QType::kE5M2, Granularity::kBlock128},
};

struct Built {
  std::vector<std::uint16_t> x_bf16;
  QuantizedActs a;
  QuantizedWeights w;
  GemmProblem p;
};

Built build(const FamilyCase& c, const std::vector<float>& x, std::int64_t m, const std::vector<float>& w,
            std::int64_t n, std::int64_t k, const GemmEpilogue& e) {
  Built b;
  for (float v : x) b.x_bf16.push_back(f32_to_bf16(v));
  b.w = quantize_weights(w, n, k, c.qw, c.gw);
  if (c.qa == QType::kNone) {
    b.p = make_gemm_problem(ActView::dense(b.x_bf16.data(), DType::kBF16, m, k), b.w, e);
  } else {
    b.a = quantize_dynamic(x, m, k, c.qa, c.ga);
    b.p = make_gemm_problem(b.a, b.w, e);
  }
  return b;
}

TEST(GemmEpilogue, ZeroRowsGiveExactlyActOfBias) {
  constexpr int kM = 3, kN = 5, kK = 200;  // K: one full and one partial block
  std::vector<float> x = gaussian(kM * kK, 21);
  for (int k = 0; k < kK; ++k) x[1 * kK + k] = 0.0f;  // row 1 is zero
  const std::vector<float> w = gaussian(kN * kK, 22);
  const std::vector<std::uint16_t> bias = {f32_to_bf16(0.5f), f32_to_bf16(-1.25f), f32_to_bf16(3.0f),
                                           f32_to_bf16(-0.0f), f32_to_bf16(7.0f)};
  for (const FamilyCase& c : kFamilies) {
    for (Activation act : {Activation::kNone, Activation::kGeluTanh}) {
      for (DType out : {DType::kF32, DType::kBF16, DType::kF16}) {
        GemmEpilogue e;
        e.bias = bias.data();
        e.bias_dtype = DType::kBF16;
        e.activation = act;
        e.out_dtype = out;
        const Built b = build(c, x, kM, w, kN, kK, e);
        const GemmOutput y = reference_gemm(b.p);
        for (int n = 0; n < kN; ++n) {
          float want = bf16_to_f32(bias[n]);
          if (act == Activation::kGeluTanh) want = gelu_tanh(want);
          want = round_to_dtype(want, out);
          // -0 bias: fmaf(0, s, -0) = +0, so compare values, not bits.
          ASSERT_EQ(y.values[kN + n], want) << c.name << " " << activation_name(act) << " " << dtype_name(out);
        }
        e.bias = nullptr;  // no bias: exactly +0
        const GemmOutput y0 = reference_gemm(build(c, x, kM, w, kN, kK, e).p);
        for (int n = 0; n < kN; ++n) {
          ASSERT_EQ(y0.values[kN + n], 0.0f) << c.name;
          ASSERT_FALSE(std::signbit(y0.values[kN + n])) << c.name;
        }
      }
    }
  }
}

TEST(GemmEpilogue, NaNOrInfInputsGiveNaNOutputs) {
  // A NaN in activation row 0 and an Inf in weight channel 2: their scales are NaN and
  // every output of row 0 and of column 2 is NaN, the others finite. Weight-only has no
  // activation scale: its row 0 is NaN through the NaN activation itself.
  constexpr int kM = 3, kN = 4, kK = 150;
  std::vector<float> x = gaussian(kM * kK, 31);
  std::vector<float> w = gaussian(kN * kK, 32);
  x[0 * kK + 140] = kNaN;
  w[2 * kK + 3] = kInf;
  for (const FamilyCase& c : kFamilies) {
    const Built b = build(c, x, kM, w, kN, kK, GemmEpilogue{});
    const GemmOutput y = reference_gemm(b.p);
    for (int m = 0; m < kM; ++m) {
      for (int n = 0; n < kN; ++n) {
        bool want_nan = m == 0 || n == 2;
        // A per-tensor scale is shared by everything. A block128 scale is shared by the
        // channels of its block row (all of them here, N < 128), and its NaN reaches every
        // output through that block's partial sum.
        if ((c.qa != QType::kNone && c.ga == Granularity::kPerTensor) || c.gw == Granularity::kPerTensor ||
            c.gw == Granularity::kBlock128) {
          want_nan = true;
        }
        EXPECT_EQ(std::isnan(y.values[m * kN + n]), want_nan) << c.name << " at " << m << "," << n;
      }
    }
  }
  // Per-tensor activations: one NaN anywhere makes everything NaN.
  const QuantizedActs a = quantize_dynamic(x, kM, kK, QType::kInt8, Granularity::kPerTensor);
  const QuantizedWeights qw = quantize_weights(gaussian(kN * kK, 33), kN, kK, QType::kInt8, Granularity::kPerChannel);
  for (float v : reference_gemm(make_gemm_problem(a, qw)).values) EXPECT_TRUE(std::isnan(v));
}

TEST(GemmValidation, RejectsBadShapesAndSizes) {
  const Operand a{QType::kInt8, Granularity::kPerToken, std::vector<std::uint8_t>(6, 1), {1.0f, 1.0f}};
  const Operand w{QType::kInt8, Granularity::kPerChannel, std::vector<std::uint8_t>(9, 1), {1.0f, 1.0f, 1.0f}};
  EXPECT_NO_THROW(reference_gemm(problem(2, 3, 3, a, w)));
  // Wrong scale counts name the granularity and the layout's count.
  const Operand a_one_scale{QType::kInt8, Granularity::kPerToken, a.q, {1.0f}};
  try {
    reference_gemm(problem(2, 3, 3, a_one_scale, w));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("per_token"), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("scales"), std::string::npos) << e.message();
  }
  const Operand w_block{QType::kE4M3, Granularity::kBlock128, std::vector<std::uint8_t>(3 * 300), {1, 1}};
  const Operand a_group{QType::kE4M3, Granularity::kGroup128, std::vector<std::uint8_t>(2 * 300), {1, 1, 1, 1, 1, 1}};
  EXPECT_THROW(reference_gemm(problem(2, 3, 300, a_group, w_block)), Error);  // block128 needs 1 x 3 scales
  EXPECT_THROW(reference_gemm(problem(2, 3, 4, a, w)), Error);                // q sizes
  EXPECT_THROW(reference_gemm(problem(-1, 3, 3, a, w)), Error);
  GemmEpilogue e;
  e.out_dtype = DType::kI8;
  EXPECT_THROW(reference_gemm(problem(2, 3, 3, a, w, e)), Error);
  e.out_dtype = DType::kF32;
  e.bias_dtype = DType::kE4M3;
  EXPECT_THROW(reference_gemm(problem(2, 3, 3, a, w, e)), Error);
  // make_gemm_problem checks K.
  const QuantizedActs qa = quantize_dynamic(std::vector<float>(6, 1.0f), 2, 3, QType::kInt8, Granularity::kPerToken);
  const QuantizedWeights qw =
      quantize_weights(std::vector<float>(8, 1.0f), 2, 4, QType::kInt8, Granularity::kPerChannel);
  EXPECT_THROW(make_gemm_problem(qa, qw), Error);
  // Empty problems are fine: M = 0 gives nothing, K = 0 gives act(bias).
  const Operand empty_a{QType::kInt8, Granularity::kPerToken, {}, {}};
  EXPECT_TRUE(reference_gemm(problem(0, 3, 3, empty_a, w)).values.empty());
  const Operand k0_a{QType::kInt8, Granularity::kPerToken, {}, {1.0f}};
  const Operand k0_w{QType::kInt8, Granularity::kPerChannel, {}, {1.0f, 1.0f}};
  EXPECT_EQ(reference_gemm(problem(1, 2, 0, k0_a, k0_w)).values, (std::vector<float>{0.0f, 0.0f}));
}

}  // namespace
}  // namespace qjit::reference
