// The linear layer op (quant_ops/linear.hpp): every rule family on cpu against the reference
// composition written out here (reference activation and weight quantization +
// reference_gemm), byte for byte; every family near the float64 ideal; pre-quantized weights;
// every validation error; and on sim the families wired there against cpu (int8 bit for
// bit, fp8 within a derived NMSE bound).

#include "quant_ops/linear.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "device_test_util.hpp"
#include "quant_ops/qgemm.hpp"
#include "quant_ops/reference/gemm.hpp"
#include "runtime/kernels.hpp"
#include "sim/sim_driver.hpp"
#include "tests/support/checks.hpp"

namespace qjit {
namespace {

using reference::Activation;
using reference::GemmFamily;

std::vector<float> gaussian(std::size_t n, unsigned seed, float sigma = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, sigma);
  std::vector<float> v(n);
  for (auto& x : v) x = normal(rng);
  return v;
}

Tensor randn(std::vector<std::int64_t> shape, DType dtype, unsigned seed, float sigma = 1.0f) {
  std::int64_t n = 1;
  for (auto s : shape) n *= s;
  return Tensor::from_vector<float>(std::move(shape), gaussian(static_cast<std::size_t>(n), seed, sigma), dtype);
}

ResolvedRule rule_of(const std::string& text) { return Rule::parse_one(text).resolve(); }

// The reference composition of one linear layer, written out from the reference API alone:
// what linear_forward on the cpu must reproduce byte for byte.
Tensor compose(const Tensor& x, const Tensor& w, const ResolvedRule& rule, const LinearOptions& o) {
  const std::int64_t k = x.size(-1), m = x.numel() / k, n = w.size(0);
  const auto xv = reference::ActView::dense(x.raw_data_ptr(), x.dtype(), m, k);
  const auto wv = reference::WeightView::dense(w.raw_data_ptr(), w.dtype(), n, k);
  const reference::QuantizedWeights qw = reference::quantize_weights(wv, rule.weight, rule.weight_granularity);
  reference::GemmEpilogue e;
  if (o.bias) e.bias = o.bias->raw_data_ptr(), e.bias_dtype = o.bias->dtype();
  e.activation = o.activation;
  e.out_dtype = o.out_dtype.value_or(rule.out_dtype);
  reference::QuantizedActs qa;
  reference::GemmOutput r;
  if (rule.act == QType::kNone) {
    r = reference::reference_gemm(reference::make_gemm_problem(xv, qw, e));
  } else {
    qa = rule.act_static_scale ? reference::quantize_static(xv, rule.act, o.act_scale->item_f32(0))
                               : reference::quantize_dynamic(xv, rule.act, rule.act_granularity);
    r = reference::reference_gemm(reference::make_gemm_problem(qa, qw, e));
  }
  if (e.out_dtype == DType::kF32) return Tensor::from_vector<float>({m, n}, r.values);
  return Tensor::from_raw({m, n}, e.out_dtype, r.bits.data());
}

void expect_same_bytes(const Tensor& got, const Tensor& want, const std::string& what) {
  ASSERT_EQ(got.dtype(), want.dtype()) << what;
  ASSERT_EQ(got.numel(), want.numel()) << what;
  const Tensor g = got.to(Device::cpu()).contiguous();
  EXPECT_EQ(std::memcmp(g.raw_data_ptr(), want.raw_data_ptr(), want.nbytes()), 0) << what;
}

struct FamilyCase {
  std::string rule;
  GemmFamily family;
  DType x_dtype;
};

// One rule per family and activation scaling; shapes with N and K not multiples of 128 (partial
// block128 blocks and group128 groups), x of rank 3 (flattened to M = 2 * 5 rows).
const std::vector<FamilyCase>& family_cases() {
  static const std::vector<FamilyCase> cases = {
      {"int8", GemmFamily::kInt8, DType::kBF16},
      {"int8-per-tensor", GemmFamily::kInt8, DType::kF32},
      {"int8-static", GemmFamily::kInt8, DType::kF16},
      {"weight=int8,weight_granularity=per_tensor,act_granularity=per_token", GemmFamily::kInt8, DType::kBF16},
      {"fp8", GemmFamily::kFp8, DType::kBF16},
      {"fp8-e5m2", GemmFamily::kFp8, DType::kF32},
      {"weight=fp8_e4m3,act_static_scale=true", GemmFamily::kFp8, DType::kBF16},
      {"weight=fp8_e5m2,act_granularity=per_tensor", GemmFamily::kFp8, DType::kBF16},
      {"fp8-block128", GemmFamily::kBlockFp8, DType::kBF16},
      {"int8-weight-only", GemmFamily::kWeightOnly, DType::kBF16},
      {"weight=fp8_e4m3,act=none,weight_granularity=per_tensor", GemmFamily::kWeightOnly, DType::kF16},
  };
  return cases;
}

LinearOptions options_for(const ResolvedRule& rule, std::int64_t n, unsigned seed) {
  LinearOptions o;
  o.bias = randn({n}, DType::kBF16, seed + 7);
  if (rule.act_static_scale) o.act_scale = Tensor::from_vector<float>({1}, std::vector<float>{3.5f / 127.0f});
  return o;
}

// On cpu:ref (the plain reference; the compiled cpu device has its own tests,
// host_linear_test.cpp and host_float_linear_test.cpp).
TEST(Linear, EveryFamilyOnCpuIsTheReferenceComposition) {
  const std::int64_t n = 144, k = 272;
  unsigned seed = 1;
  for (const FamilyCase& c : family_cases()) {
    const ResolvedRule rule = rule_of(c.rule);
    EXPECT_EQ(linear_family(rule), c.family) << c.rule;
    for (DType out : {DType::kBF16, DType::kF32}) {
      for (Activation act : {Activation::kNone, Activation::kGeluTanh}) {
        const std::string what =
            c.rule + " out=" + std::string(dtype_name(out)) + (act == Activation::kNone ? "" : " gelu");
        SCOPED_TRACE(what);
        const Tensor x = randn({2, 5, k}, c.x_dtype, ++seed);
        const Tensor w = randn({n, k}, DType::kBF16, ++seed, 0.05f);
        LinearOptions o = options_for(rule, n, seed);
        o.out_dtype = out;
        o.activation = act;
        LinearTrace trace;
        const Tensor y =
            linear_forward(x.to(Device::cpu_ref()), quantize_weight(w.to(Device::cpu_ref()), rule), rule, o, &trace);
        EXPECT_EQ(y.shape(), (std::vector<std::int64_t>{2, 5, n}));
        EXPECT_EQ(trace.family, c.family);
        EXPECT_EQ(trace.device, "cpu:ref");
        expect_same_bytes(y, compose(x, w, rule, o), what);
      }
    }
  }
}

// Accuracy against the float64 ideal (no quantization), for each family, as
// gemm_nmse_test.cpp derives it: x ~ N(0, 1), w ~ N(0, 0.05²) (the scale cancels in the
// NMSE); NMSE ≈ r_x + r_w + r_out with the relative noise power of each quantized operand:
// int8 r <= (5/127)² / 12 = 1.29e-4 (amax < 5σ for groups of <= 16384 values), e4m3
// 2^-6 / 12 = 1.30e-3, e5m2 2^-4 / 12 = 5.21e-3 (per value, fraction bits), and the f32
// output adds nothing. A static per-tensor scale of 5 / qmax (the same amax bound) has the
// int8 bound; for fp8 a static scale only moves values between binades (same relative
// error). Weight-only: x is used as given, so only r_w. Here with f32 output and x in f32
// (bf16 for weight-only, which the ideal sees exactly). Any layout or scale mix-up gives
// NMSE ~ 1.
TEST(Linear, EveryFamilyIsNearTheIdeal) {
  const std::int64_t m = 33, n = 160, k = 384;
  auto r_of = [](QType q) {
    switch (q) {
      case QType::kInt8:
        return (5.0 / 127.0) * (5.0 / 127.0) / 12.0;
      case QType::kE4M3:
        return 0x1p-6 / 12.0;
      case QType::kE5M2:
        return 0x1p-4 / 12.0;
      default:
        return 0.0;
    }
  };
  unsigned seed = 100;
  for (const FamilyCase& c : family_cases()) {
    SCOPED_TRACE(c.rule);
    const ResolvedRule rule = rule_of(c.rule);
    const DType xt = rule.act == QType::kNone ? c.x_dtype : DType::kF32;
    const Tensor x = randn({m, k}, xt, ++seed), w = randn({n, k}, DType::kF32, ++seed, 0.05f);
    LinearOptions o;
    o.out_dtype = DType::kF32;
    if (rule.act_static_scale) {
      o.act_scale = Tensor::from_vector<float>({1}, std::vector<float>{5.0f / qtype_max(rule.act)});
    }
    const auto got = linear_forward(x, quantize_weight(w, rule), rule, o).to_f32_vector();
    const auto ideal = reference::ideal_gemm(reference::ActView::dense(x.raw_data_ptr(), xt, m, k),
                                             reference::WeightView::dense(w.raw_data_ptr(), DType::kF32, n, k), {});
    const double bound = r_of(rule.act) + r_of(rule.weight);
    const double e = reference::nmse(got, ideal);
    EXPECT_LE(e, bound);
    EXPECT_GT(e, 0.0);
  }
}

TEST(Linear, PreQuantizedWeightsGiveTheSameResult) {
  const ResolvedRule rule = rule_of("int8");
  const Tensor x = randn({7, 64}, DType::kBF16, 3), w = randn({32, 64}, DType::kF32, 4);
  const QuantizedWeight qw = quantize_weight(w, rule);
  EXPECT_EQ(qw.q.dtype(), DType::kI8);
  EXPECT_EQ(qw.scales.shape(), (std::vector<std::int64_t>{32}));
  const Tensor want = linear_forward(x, qw, rule);
  // The logical layout, and vLLM's [N, 1].
  for (const Tensor& s : {qw.scales, qw.scales.reshape({32, 1})}) {
    const QuantizedWeight given = quantized_weight_from(qw.q, s, rule);
    EXPECT_EQ(given.scales.shape(), (std::vector<std::int64_t>{32}));
    expect_same_bytes(linear_forward(x, given, rule), want, s.describe());
  }
  // block128 scales of N = 144, K = 272: [2, 3].
  const ResolvedRule block = rule_of("fp8-block128");
  const QuantizedWeight bw = quantize_weight(randn({144, 272}, DType::kF32, 5), block);
  EXPECT_EQ(bw.q.dtype(), DType::kE4M3);
  EXPECT_EQ(bw.scales.shape(), (std::vector<std::int64_t>{2, 3}));
  EXPECT_NO_THROW(quantized_weight_from(bw.q, bw.scales, block));
  // per_tensor: [1], [] and [1, 1].
  const ResolvedRule pt = rule_of("int8-per-tensor");
  const QuantizedWeight tw = quantize_weight(randn({16, 32}, DType::kF32, 6), pt);
  EXPECT_EQ(tw.scales.shape(), (std::vector<std::int64_t>{1}));
  for (std::vector<std::int64_t> shape : {std::vector<std::int64_t>{}, std::vector<std::int64_t>{1, 1}}) {
    EXPECT_EQ(quantized_weight_from(tw.q, tw.scales.reshape(shape), pt).scales.shape(), (std::vector<std::int64_t>{1}));
  }
}

using test::expect_error;

// Pre-quantized codes and scales are checked as the static activation scale is: an int8 -128
// (which a large K turned into a silently wrong sign on the sim, an overflow on the cpu), an
// fp8 NaN code, and scales that are NaN, Inf, zero or negative are refused, naming where.
TEST(Linear, PreQuantizedCodesAndScalesAreValidated) {
  const ResolvedRule rule = rule_of("int8");
  const QuantizedWeight qw = quantize_weight(randn({16, 32}, DType::kF32, 8), rule);
  Tensor q = qw.q.contiguous().clone();
  q.data_ptr<std::int8_t>()[2 * 32 + 5] = -128;
  expect_error([&] { quantized_weight_from(q, qw.scales, rule); }, {"code at [2, 5] is -128", "-127..127"});
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(), 0.0f, -0.5f}) {
    Tensor sc = qw.scales.clone();
    sc.data_ptr<float>()[3] = bad;
    expect_error([&] { quantized_weight_from(qw.q, sc, rule); }, {"weight scale 3 of 16", "finite and > 0"});
  }
  const ResolvedRule fp8 = rule_of("fp8");
  const QuantizedWeight fw = quantize_weight(randn({16, 32}, DType::kF32, 9), fp8);
  Tensor fq = fw.q.contiguous().clone();
  static_cast<std::uint8_t*>(fq.raw_data_ptr())[7] = 0xff;  // e4m3's NaN
  expect_error([&] { quantized_weight_from(fq, fw.scales, fp8); }, {"code at [0, 7] is 0xff", "finite"});
}

TEST(Linear, ValidationErrorsNameTheProblem) {
  const ResolvedRule int8 = rule_of("int8"), stat = rule_of("int8-static"), wo = rule_of("int8-weight-only");
  const Tensor x = randn({4, 64}, DType::kBF16, 1), w = randn({32, 64}, DType::kF32, 2);
  const QuantizedWeight qw = quantize_weight(w, int8);
  const Tensor one = Tensor::from_vector<float>({1}, std::vector<float>{0.05f});

  expect_error([&] { quantize_weight(w, rule_of("weight=none")); }, {"weight none", "high precision"});
  expect_error([&] { linear_forward(Tensor::zeros({4, 64}, DType::kI8), qw, int8); }, {"f32, f16 or bf16", "int8"});
  expect_error([&] { linear_forward(randn({4, 48}, DType::kBF16, 1), qw, int8); }, {"K = 48", "K = 64"});
  expect_error([&] { quantize_weight(randn({40, 64}, DType::kF32, 1), int8); }, {"N = 40", "multiple of 16"});
  expect_error([&] { quantize_weight(randn({32, 40}, DType::kF32, 1), int8); }, {"K = 40", "multiple of 16"});
  expect_error([&] { quantize_weight(randn({32}, DType::kF32, 1), int8); }, {"[N, K]", "shape=[32]"});
  expect_error([&] { quantize_weight(Tensor::zeros({32, 64}, DType::kI8), int8); }, {"f32, f16 or bf16"});
  {
    LinearOptions o;
    o.bias = randn({31}, DType::kF32, 1);
    expect_error([&] { linear_forward(x, qw, int8, o); }, {"bias", "[N] = [32]", "shape=[31]"});
  }
  expect_error([&] { linear_forward(x, quantize_weight(w, stat), stat); }, {"static", "act_static_scale"});
  {
    LinearOptions o;
    o.act_scale = one;
    expect_error([&] { linear_forward(x, qw, int8, o); }, {"dynamically", "act_static_scale=true"});
    expect_error([&] { linear_forward(x, quantize_weight(w, wo), wo, o); }, {"weight-only"});
    o.act_scale = Tensor::from_vector<float>({1}, std::vector<float>{-1.0f});
    expect_error([&] { linear_forward(x, quantize_weight(w, stat), stat, o); }, {"finite and > 0"});
    o.act_scale = Tensor::from_vector<float>({2}, std::vector<float>{1.0f, 1.0f});
    expect_error([&] { linear_forward(x, quantize_weight(w, stat), stat, o); }, {"one f32 value"});
  }
  expect_error(
      [&] {
        linear_forward(randn({4, 64}, DType::kF32, 1), quantize_weight(w, wo), wo);
      },
      {"weight-only", "f16 or bf16"});
  // Weights quantized under another rule.
  expect_error([&] { linear_forward(x, quantize_weight(w, rule_of("fp8")), int8); }, {"fp8_e4m3", "int8"});
  // Pre-quantized weights: dtype and scale shape, naming what is expected.
  expect_error(
      [&] {
        quantized_weight_from(Tensor::zeros({32, 64}, DType::kE4M3), qw.scales, int8);
      },
      {"int8", "I8", "fp8_e4m3"});
  expect_error([&] { quantized_weight_from(qw.q, Tensor::zeros({16}, DType::kF32), int8); },
               {"per_channel", "[32]", "shape=[16]"});
  expect_error([&] { quantized_weight_from(qw.q, Tensor::zeros({32}, DType::kBF16), int8); }, {"f32", "bf16"});
  const ResolvedRule block = rule_of("fp8-block128");
  expect_error(
      [&] {
        quantized_weight_from(Tensor::zeros({144, 272}, DType::kE4M3), Tensor::zeros({2}, DType::kF32), block);
      },
      {"block128", "[2, 3]"});
  // int8 K bound (checked before any work, on the shapes alone).
  expect_error(
      [&] {
        check_linear(Tensor::zeros({1, 133152}, DType::kBF16), Tensor::zeros({16, 133152}, DType::kI8), int8, {});
      },
      {"K = 133152", "int32"});
  // A weight-only rule has no quantized input to dump.
  expect_error([&] { quantize_linear_input(x, wo); }, {"weight-only"});
}

TEST(Linear, QuantizedInputHasTheLogicalLayouts) {
  const Tensor x = randn({3, 2, 272}, DType::kBF16, 9);
  const auto per_token = quantize_linear_input(x, rule_of("int8"));
  EXPECT_EQ(per_token.q.shape(), (std::vector<std::int64_t>{6, 272}));
  EXPECT_EQ(per_token.scales.shape(), (std::vector<std::int64_t>{6}));
  const auto group = quantize_linear_input(x, rule_of("fp8-block128"));
  EXPECT_EQ(group.q.dtype(), DType::kE4M3);
  EXPECT_EQ(group.scales.shape(), (std::vector<std::int64_t>{6, 3}));
  EXPECT_EQ(quantize_linear_input(x, rule_of("int8-per-tensor")).scales.shape(), (std::vector<std::int64_t>{1}));
  const Tensor s = Tensor::from_vector<float>({1}, std::vector<float>{0.25f});
  const auto stat = quantize_linear_input(x, rule_of("int8-static"), s);
  EXPECT_EQ(stat.scales.item_f32(0), 0.25f);
  // The bytes the reference gives.
  const Tensor flat = x.reshape({6, 272});
  const auto ref = reference::quantize_dynamic(reference::ActView::dense(flat.raw_data_ptr(), DType::kBF16, 6, 272),
                                               QType::kInt8, Granularity::kPerToken);
  EXPECT_EQ(std::memcmp(per_token.q.raw_data_ptr(), ref.q.data(), ref.q.size()), 0);
  EXPECT_EQ(per_token.scales.to_f32_vector(), ref.scales);
}

// ---- sim and cuda (skipped with the reason without a GPU) ---------------------------------

bool sim_ready(std::string& why) { return test::device_available(Device::sim(), why); }

class LinearOnDevice : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    dev_ = Device::parse(GetParam());
    std::string why;
    if (!test::device_available(dev_, why)) GTEST_SKIP() << "device " << GetParam() << " unavailable: " << why;
  }
  Device dev_;
};

// int8 W8A8 without GELU: bit-identical to the cpu (DESIGN.md section 5), for dynamic
// per-token and static per-tensor activations, per-channel and per-tensor weights, with
// tails (M = 7) and a rank-3 input.
TEST_P(LinearOnDevice, Int8IsBitIdenticalToTheCpu) {
  const std::int64_t n = 48, k = 160;
  unsigned seed = 20;
  for (const std::string text : {"int8", "int8-static", "weight=int8,weight_granularity=per_tensor"}) {
    for (DType out : {DType::kBF16, DType::kF32}) {
      SCOPED_TRACE(text + " " + std::string(dtype_name(out)));
      const ResolvedRule rule = rule_of(text);
      const Tensor x = randn({1, 7, k}, DType::kBF16, ++seed), w = randn({n, k}, DType::kF32, ++seed, 0.05f);
      LinearOptions o = options_for(rule, n, seed);
      o.out_dtype = out;
      const QuantizedWeight qw = quantize_weight(w, rule);
      const Tensor want = linear_forward(x, qw, rule, o);
      LinearTrace trace;
      const Tensor y = linear_forward(x.to(dev_), qw, rule, o, &trace);
      EXPECT_EQ(y.device(), dev_);
      EXPECT_EQ(y.shape(), want.shape());
      EXPECT_EQ(trace.device, dev_.str());
      EXPECT_FALSE(trace.arch.empty());
      ASSERT_FALSE(trace.steps.empty());
      EXPECT_EQ(trace.steps.back().rfind("qgemm ", 0), 0u) << trace.steps.back();
      expect_same_bytes(y, want, text);
      if (rule.act_static_scale) continue;
      // Both ways of quantizing dynamic per-token activations give these bits: the fused
      // prologue and the separate act_quant pass (options.config's fusion).
      for (const auto fusion : {jit::impls::GemmFusion::kFused, jit::impls::GemmFusion::kSeparate}) {
        const Tensor xd = x.to(dev_).reshape({7, k});
        QGemmOptions g;
        g.weight_granularity = qw.granularity;
        g.bias = o.bias;
        g.out_dtype = out;
        jit::impls::GemmConfig config =
            jit::impls::qgemm_heuristic(qgemm_desc(xd, ActQuant{rule.act, rule.act_granularity, std::nullopt}, qw.q, g),
                                        target_arch(*xd.driver()));
        config.fusion = fusion;
        LinearOptions of = o;
        of.config = config;
        LinearTrace t;
        expect_same_bytes(linear_forward(x.to(dev_), qw, rule, of, &t), want, text + " " + config.str());
        EXPECT_EQ(t.steps.size(), fusion == jit::impls::GemmFusion::kSeparate ? 2u : 1u);
      }
    }
  }
}

// "Same bits on every device" holds in NaN rows too: a NaN (or Inf) in a row makes its
// dynamic scale NaN, and every device writes the one canonical NaN (0x7fffffff, 0x7fff in
// bf16 / f16), not the cpu's 0x7fc00000 beside the GPU's 0x7fffffff.
TEST_P(LinearOnDevice, Int8NanRowsAreBitIdenticalToTheCpu) {
  const std::int64_t n = 48, k = 160;
  const ResolvedRule rule = rule_of("int8");
  Tensor x = randn({5, k}, DType::kF32, 91);
  x.data_ptr<float>()[1 * k + 7] = std::numeric_limits<float>::quiet_NaN();
  x.data_ptr<float>()[3 * k + 100] = std::numeric_limits<float>::infinity();
  const QuantizedWeight qw = quantize_weight(randn({n, k}, DType::kF32, 92, 0.05f), rule);
  for (DType out : {DType::kF32, DType::kBF16, DType::kF16}) {
    SCOPED_TRACE(std::string(dtype_name(out)));
    LinearOptions o;
    o.out_dtype = out;
    const Tensor want = linear_forward(x, qw, rule, o);
    const Tensor row1 = want.to_dtype(DType::kF32);
    EXPECT_TRUE(std::isnan(row1.data_ptr<float>()[1 * n]));
    EXPECT_FALSE(std::isnan(row1.data_ptr<float>()[0]));
    if (out == DType::kF32) {
      std::uint32_t bits = 0;
      std::memcpy(&bits, want.data_ptr<float>() + 3 * n, 4);
      EXPECT_EQ(bits, 0x7fffffffu) << "the canonical NaN";
    } else {
      EXPECT_EQ(static_cast<const std::uint16_t*>(want.raw_data_ptr())[3 * n], 0x7fffu) << "the canonical NaN";
    }
    expect_same_bytes(linear_forward(x.to(dev_), qw, rule, o), want, "NaN rows");
  }
}

// Every family on sim (and cuda) against the cpu: int8 W8A8 bit for bit; the others within
// the bound of their summation order, derived as in qgemm_sim_test.cpp / qgemm_wo_sim_test.cpp.
// Both sides multiply the same operands (activation and weight quantization give the same
// codes and scales on every device; weight-only dequantizes w to x's dtype the same way), so
// each product p_k is the same exact fp32 number, and with u = 2^-24 and
// A = Σ_k |a_k w_k| over the dequantized operands (= |s| Σ_k |p_k| up to the one rounding of
// each dequantized value: the factor 1.01 covers it):
//  - fp8: the reference rounds <= 127 times per 128-K block and 2 nb times across the
//    nb = ceil(K/128) blocks, the mma at most 4 times per block: |Δacc| <= 1.01 (131 + 2 nb) u A.
//  - block-fp8: the same, plus the scaling of each block's partial (one rounding each side):
//    1.01 (133 + 2 nb) u A.
//  - weight-only: the reference's K - 1 sequential roundings against K / 16 mma steps allowed
//    16 truncating additions each: 1.01 (3 K + 32) u A.
//  - On a real GPU the fp8 tensor cores keep fewer bits in their partial sums (the reason
//    for the promotion every 128 K; DeepGEMM measures about 14 on Hopper): allowing each of
//    the 4 mma accumulations per block a relative error of 2^-13 = 2^11 u turns the 4 into
//    4 * 2^11 = 8192 for fp8 and block-fp8 on cuda.
// The epilogue's fma rounds once on each side (2 u |y|); the f32 output adds nothing. So
// e_i = 1.01 γ A_i + 2 u |y_i| and NMSE <= Σ e_i² / Σ y_i². (A wrong index, scale or block
// gives NMSE ~ 1.)
double summation_bound(const Tensor& x, const Tensor& w, const ResolvedRule& rule, const LinearOptions& o,
                       const std::vector<float>& want, bool real_gpu) {
  const std::int64_t k = x.size(-1), m = x.numel() / k, n = w.size(0);
  const auto xv = reference::ActView::dense(x.raw_data_ptr(), x.dtype(), m, k);
  const auto qw = reference::quantize_weights(reference::WeightView::dense(w.raw_data_ptr(), w.dtype(), n, k),
                                              rule.weight, rule.weight_granularity);
  std::vector<float> wd = reference::dequantize(qw), ad;
  const GemmFamily family = linear_family(rule);
  if (family == GemmFamily::kWeightOnly) {
    for (auto& v : wd) v = reference::round_to_dtype(v, x.dtype());
    ad = x.to_f32_vector();
  } else {
    ad =
        reference::dequantize(rule.act_static_scale ? reference::quantize_static(xv, rule.act, o.act_scale->item_f32(0))
                                                    : reference::quantize_dynamic(xv, rule.act, rule.act_granularity));
  }
  const double u = 0x1p-24, nb = static_cast<double>((k + 127) / 128);
  const double mma = real_gpu ? 8192 : 4;  // roundings (in units of u) per 128-K block in the mma
  const double gamma = family == GemmFamily::kWeightOnly ? 1.01 * (3.0 * k + 32) * u
                       : family == GemmFamily::kBlockFp8 ? 1.01 * (129 + mma + 2 * nb) * u
                       : family == GemmFamily::kFp8      ? 1.01 * (127 + mma + 2 * nb) * u
                                                         : 0.0;
  double num = 0, den = 0;
  for (std::int64_t i = 0; i < m; ++i) {
    for (std::int64_t j = 0; j < n; ++j) {
      double a = 0;
      for (std::int64_t kk = 0; kk < k; ++kk) a += std::fabs(double(ad[i * k + kk]) * wd[j * k + kk]);
      const double y = want[i * n + j];
      const double e = 1.01 * gamma * a + 2 * u * std::fabs(y);
      num += e * e, den += y * y;
    }
  }
  return den == 0 ? 0 : num / den;
}

TEST_P(LinearOnDevice, EveryFamilyMatchesTheCpu) {
  const bool fp8_mma = target_arch(*driver_for(dev_)).number >= 89;
  const std::int64_t m = 7, n = 48, k = 272;  // tails: a partial M tile, block and group
  unsigned seed = 60;
  int ran = 0;
  for (const FamilyCase& c : family_cases()) {
    SCOPED_TRACE(c.rule);
    const ResolvedRule rule = rule_of(c.rule);
    if (!fp8_mma && rule.act != QType::kNone && rule.weight != QType::kInt8) continue;
    const Tensor x = randn({m, k}, c.x_dtype, ++seed), w = randn({n, k}, DType::kF32, ++seed, 0.05f);
    LinearOptions o = options_for(rule, n, seed);
    o.out_dtype = c.family == GemmFamily::kInt8 ? DType::kBF16 : DType::kF32;
    const QuantizedWeight qw = quantize_weight(w, rule);
    const Tensor want = linear_forward(x, qw, rule, o);
    LinearTrace trace;
    const Tensor got = linear_forward(x.to(dev_), qw, rule, o, &trace).to(Device::cpu());
    EXPECT_EQ(trace.family, c.family);
    ++ran;
    if (c.family == GemmFamily::kInt8) {
      expect_same_bytes(got, want, c.rule);
      continue;
    }
    const auto want_f = want.to_f32_vector();
    const double e = reference::nmse(got.to_f32_vector(), std::vector<double>(want_f.begin(), want_f.end()));
    const double bound = summation_bound(x, w, rule, o, want_f, dev_.kind == DeviceKind::kCuda);
    EXPECT_LE(e, bound);
    EXPECT_GT(bound, 0.0);
    std::printf("%s on %s: NMSE %.3g (bound %.3g)\n", c.rule.c_str(), GetParam(), e, bound);
  }
  // Every family is wired today: int8 (4 rules), fp8 (4), block-fp8 (1), weight-only (2).
  EXPECT_EQ(ran, fp8_mma ? 11 : 6);
}

// Edge shapes: no rows gives an empty [0, N] (no work, no error); a rank-1 input is one row
// and gives [N]; the same on the device as on the cpu.
TEST_P(LinearOnDevice, ZeroRowsAndRankOneInputs) {
  for (const std::string text : {"int8", "int8-weight-only", "fp8-block128"}) {
    SCOPED_TRACE(text);
    const ResolvedRule rule = rule_of(text);
    if (linear_family(rule) == GemmFamily::kBlockFp8 && target_arch(*driver_for(dev_)).number < 89) continue;
    const QuantizedWeight qw = quantize_weight(randn({32, 128}, DType::kF32, 1), rule);
    const Tensor empty = Tensor::zeros({0, 128}, DType::kBF16);
    EXPECT_EQ(linear_forward(empty, qw, rule).shape(), (std::vector<std::int64_t>{0, 32}));
    EXPECT_EQ(linear_forward(empty.to(dev_), qw, rule).shape(), (std::vector<std::int64_t>{0, 32}));
    const Tensor row = randn({128}, DType::kBF16, 2);
    const Tensor want = linear_forward(row, qw, rule);
    EXPECT_EQ(want.shape(), (std::vector<std::int64_t>{32}));
    const Tensor got = linear_forward(row.to(dev_), qw, rule);
    EXPECT_EQ(got.shape(), want.shape());
    if (linear_family(rule) == GemmFamily::kInt8) expect_same_bytes(got, want, text);
  }
}

INSTANTIATE_TEST_SUITE_P(Devices, LinearOnDevice, ::testing::Values("sim", "cuda"),
                         [](const auto& info) { return std::string(info.param); });

// fp8 W8A8 (and block-fp8) on a device older than sm_89: an error naming the rule, the
// family and the arch, before any work (weight-only fp8 dequantizes in software and runs).
TEST(LinearSim, Fp8BelowSm89SaysSo) {
  std::string why;
  if (!sim_ready(why)) GTEST_SKIP() << "sim unavailable: " << why;
  const auto sm80 = std::make_shared<sim::SimDriver>(sim::SimDeviceConfig::for_arch("sm_80"));
  const Tensor x = randn({4, 128}, DType::kBF16, 1).to(Device::sim(), sm80);
  const Tensor w = randn({32, 128}, DType::kF32, 2);
  for (const std::string text : {"fp8", "fp8-block128"}) {
    const ResolvedRule rule = rule_of(text);
    expect_error([&] { linear_forward(x, quantize_weight(w, rule), rule); },
                 {text, std::string(reference::gemm_family_name(linear_family(rule))), "sm_89", "sm_80"});
  }
}

}  // namespace
}  // namespace qjit
