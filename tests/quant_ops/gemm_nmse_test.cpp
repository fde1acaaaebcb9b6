// Accuracy of every reference GEMM family against the float64 ideal (no quantization), by
// NMSE on random Gaussian problems, with bounds derived from the formats' precision; and the
// semantics of nmse() itself.
//
// Derivation. x ~ N(0, 1) [M, K] and w ~ N(0, 1) [N, K], independent; quantization replaces
// them by x + ex and w + ew with zero-mean errors independent of the data. Then
//   y' - y = Σ_k (ex·w + x·ew + ex·ew),  E[(y' - y)^2] ≈ K (E[ex²] + E[ew²])   (E[x²] = E[w²] = 1)
// and E[y^2] = K, so NMSE ≈ r_x + r_w, the relative noise power of each operand (the ex·ew
// term is second order), plus r_out for the output rounding.
// - int8, step Δ = amax / 127, error uniform in ±Δ/2: r = (amax / 127)² / 12. A Gaussian
//   group of up to 16384 values has amax < 5 (P(|x| > 5) = 5.7e-7 per value), so
//   r_int8 <= (5 / 127)² / 12 = 1.29e-4.
// - fp8 with p fraction bits: x in [2^e, 2^(e+1)) has ulp 2^(e-p) and error uniform in ±ulp/2,
//   so ex² / x² <= 2^(-2p) / 12: r_e4m3 <= 2^-6 / 12 = 1.30e-3, r_e5m2 <= 2^-4 / 12 = 5.21e-3.
//   Values in the fp8 subnormal range (|x| < 2^-6 of qmax's scale, ~1e-4 here) add
//   < (2^-9 · 5 / 448)² / 12 ≈ 4e-11: negligible.
// - bf16 (7 fraction bits) rounding of the output or of a dequantized weight:
//   r_bf16 <= 2^-14 / 12 = 5.1e-6.
// - fp32 accumulation of K = 256..300 products: relative error ~ K · 2^-24 ≈ 2e-5, squared
//   negligible.
// - GELU (one case): errors pass through |gelu'| <= 1.13, and Σ gelu(y)² >= Σ_{y>0} y², about
//   half of Σ y² for these zero-mean outputs: the bound grows by 2 · 1.13² ≈ 2.6.
// The bounds are these sums, with no further margin: the worst case per binade already
// overestimates the mean error of a spread of values by about 2x.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdint>
#include <limits>
#include <vector>

#include "common/error.hpp"
#include "gemm_test_util.hpp"
#include "quant_ops/reference/gemm.hpp"
#include "runtime/float_convert.hpp"

namespace qjit::reference {
namespace {

using test::gaussian;

constexpr double kRInt8 = (5.0 / 127.0) * (5.0 / 127.0) / 12.0;
constexpr double kRE4M3 = 0x1p-6 / 12.0;
constexpr double kRE5M2 = 0x1p-4 / 12.0;
constexpr double kRBf16 = 0x1p-14 / 12.0;
constexpr double kGeluGrowth = 2.0 * 1.13 * 1.13;

double r_of(QType q) {
  switch (q) {
    case QType::kInt8: return kRInt8;
    case QType::kE4M3: return kRE4M3;
    case QType::kE5M2: return kRE5M2;
    case QType::kNone: return 0.0;  // weight-only: x is given in bf16, exactly as the ideal sees it
  }
  return 0.0;
}

struct NmseCase {
  const char* name;
  QType qa;
  Granularity ga;
  QType qw;
  Granularity gw;
  int m, n, k;
  Activation act = Activation::kNone;
};

// The derived bound of a case: operand noise, the bf16 output, and for weight-only the bf16
// rounding of the dequantized weight.
double bound_of(const NmseCase& c) {
  double b = r_of(c.qa) + r_of(c.qw) + kRBf16;
  if (c.qa == QType::kNone) b += kRBf16;
  return c.act == Activation::kGeluTanh ? b * kGeluGrowth : b;
}

double run_nmse(const NmseCase& c, std::uint32_t seed) {
  const std::vector<float> x = gaussian(static_cast<std::size_t>(c.m) * c.k, seed);
  const std::vector<float> w = gaussian(static_cast<std::size_t>(c.n) * c.k, seed + 1000);
  GemmEpilogue e;  // bf16 output, no bias
  e.activation = c.act;
  const QuantizedWeights qw = quantize_weights(w, c.n, c.k, c.qw, c.gw);
  const WeightView wv = WeightView::dense(w.data(), DType::kF32, c.n, c.k);
  if (c.qa == QType::kNone) {
    std::vector<std::uint16_t> xb(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) xb[i] = f32_to_bf16(x[i]);
    const ActView xv = ActView::dense(xb.data(), DType::kBF16, c.m, c.k);
    return nmse(reference_gemm(make_gemm_problem(xv, qw, e)).values, ideal_gemm(xv, wv, e));
  }
  const QuantizedActs qa = quantize_dynamic(x, c.m, c.k, c.qa, c.ga);
  const ActView xv = ActView::dense(x.data(), DType::kF32, c.m, c.k);
  return nmse(reference_gemm(make_gemm_problem(qa, qw, e)).values, ideal_gemm(xv, wv, e));
}

constexpr NmseCase kCases[] = {
    {"int8 per_token x per_channel", QType::kInt8, Granularity::kPerToken, QType::kInt8, Granularity::kPerChannel,
     16, 64, 256},
    {"int8 per_tensor x per_tensor", QType::kInt8, Granularity::kPerTensor, QType::kInt8, Granularity::kPerTensor,
     16, 64, 256},
    {"int8 gelu", QType::kInt8, Granularity::kPerToken, QType::kInt8, Granularity::kPerChannel, 16, 64, 256,
     Activation::kGeluTanh},
    {"fp8 e4m3 x e4m3", QType::kE4M3, Granularity::kPerToken, QType::kE4M3, Granularity::kPerChannel, 16, 64, 256},
    {"fp8 e5m2 act x e4m3 weight", QType::kE5M2, Granularity::kPerToken, QType::kE4M3, Granularity::kPerChannel, 16,
     64, 256},
    {"fp8 e5m2 x e5m2 per_tensor", QType::kE5M2, Granularity::kPerTensor, QType::kE5M2, Granularity::kPerTensor, 16,
     64, 256},
    {"block_fp8 e4m3", QType::kE4M3, Granularity::kGroup128, QType::kE4M3, Granularity::kBlock128, 16, 200, 300},
    {"weight_only int8 per_channel", QType::kNone, Granularity::kPerToken, QType::kInt8, Granularity::kPerChannel, 16,
     64, 256},
    {"weight_only e4m3 block128", QType::kNone, Granularity::kPerToken, QType::kE4M3, Granularity::kBlock128, 16, 200,
     300},
    {"weight_only e5m2 per_tensor", QType::kNone, Granularity::kPerToken, QType::kE5M2, Granularity::kPerTensor, 16,
     64, 256},
};

TEST(GemmNmse, EveryFamilyWithinItsDerivedBound) {
  for (const NmseCase& c : kCases) {
    const double got = run_nmse(c, 42);
    const double bound = bound_of(c);
    EXPECT_LT(got, bound) << c.name;
    // A failure of quantization that still stays below the bound would be a silent loss of
    // accuracy; the measured value is printed for the record.
    std::printf("  %-32s nmse %.3e  bound %.3e\n", c.name, got, bound);
  }
}

TEST(GemmNmse, Semantics) {
  EXPECT_EQ(nmse({1.0f, 2.0f}, {1.0, 2.0}), 0.0);
  EXPECT_DOUBLE_EQ(nmse({1.0f, 3.0f}, {1.0, 2.0}), 1.0 / 5.0);
  constexpr float kNaNf = std::numeric_limits<float>::quiet_NaN();
  constexpr double kNaNd = std::numeric_limits<double>::quiet_NaN();
  constexpr double kInf = std::numeric_limits<double>::infinity();
  EXPECT_DOUBLE_EQ(nmse({kNaNf, 3.0f}, {kNaNd, 2.0}), 0.25);  // both NaN: skipped
  EXPECT_EQ(nmse({kNaNf, 2.0f}, {1.0, 2.0}), kInf);            // NaN on one side: fails any bound
  EXPECT_EQ(nmse({1.0f, 2.0f}, {kNaNd, 2.0}), kInf);
  EXPECT_EQ(nmse({static_cast<float>(kInf), 2.0f}, {kInf, 2.0}), 0.0);  // the same infinity matches
  EXPECT_EQ(nmse({static_cast<float>(kInf)}, {1.0}), kInf);
  EXPECT_EQ(nmse({0.0f}, {0.0}), 0.0);  // zero denominator
  EXPECT_EQ(nmse({1.0f}, {0.0}), kInf);
  EXPECT_EQ(nmse({}, {}), 0.0);
  EXPECT_THROW(nmse({1.0f}, {1.0, 2.0}), Error);
}

TEST(GemmNmse, IdealGemmKnownAnswer) {
  // x = [[1, 2], [3, -1]], w = [[1, 1], [0.5, -2]], bias {1, -1}:
  // y = [[4, -4.5], [3, 2.5]]; with GELU, gelu of each (in float64).
  const std::vector<float> x = {1, 2, 3, -1};
  const std::vector<float> w = {1, 1, 0.5f, -2};
  const std::vector<float> bias = {1, -1};
  GemmEpilogue e;
  e.bias = bias.data();
  const ActView xv = ActView::dense(x.data(), DType::kF32, 2, 2);
  const WeightView wv = WeightView::dense(w.data(), DType::kF32, 2, 2);
  EXPECT_EQ(ideal_gemm(xv, wv, e), (std::vector<double>{4.0, -4.5, 3.0, 2.5}));
  e.activation = Activation::kGeluTanh;
  const std::vector<double> g = ideal_gemm(xv, wv, e);
  EXPECT_NEAR(g[0], 3.9999297540518075, 1e-12);
  EXPECT_NEAR(g[1], -5.136737411925996e-06, 1e-15);
  EXPECT_NEAR(g[3], 2.484915733910001, 1e-12);
  EXPECT_THROW(ideal_gemm(xv, WeightView::dense(w.data(), DType::kF32, 1, 4), e), Error);
}

}  // namespace
}  // namespace qjit::reference
