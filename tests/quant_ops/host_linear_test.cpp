// The cpu device's compiled int8 linear (quant_ops/host_linear.hpp) against the plain
// reference (cpu:ref): bit-identical for every activation scaling, weight granularity, input
// and output dtype, with and without bias, on shapes with tails in M, N and K, on AMX tiles,
// on the AVX-512 VNNI path and on the portable path; GELU bit-identical on the portable path
// and within its derived bound on the vector paths.

#include "tests/support/host_isa.hpp"
#include "tests/support/random_tensor.hpp"
#include "quant_ops/host_linear.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "jit/host_compiler.hpp"
#include "quant_ops/reference/gemm.hpp"
#include "runtime/host_driver.hpp"

namespace qjit {
namespace {

using test::randn;

ResolvedRule rule_of(const std::string& text) { return Rule::parse_one(text).resolve(); }

void expect_same_bytes(const Tensor& got, const Tensor& want, const std::string& what) {
  ASSERT_EQ(got.dtype(), want.dtype()) << what;
  ASSERT_EQ(got.shape(), want.shape()) << what;
  const Tensor g = got.to(Device::cpu()).contiguous(), w = want.to(Device::cpu()).contiguous();
  EXPECT_EQ(std::memcmp(g.raw_data_ptr(), w.raw_data_ptr(), w.nbytes()), 0) << what;
}

using HostLinear = test::HostIsaTest;
using test::IsaScope;

struct Case {
  const char* rule;
  DType x_dtype, out_dtype;
  std::optional<DType> bias;
  std::int64_t m, n, k;
};

// Pairwise over rule x dtypes x bias x shape: M below, at and past a block (48; 64 on AMX) and
// a register tile (6; 16 and 32 rows of AMX tiles, whose last partial tile is copied); N with
// an odd count of 16-channel panels and a partial block (256); K not a multiple
// of 64 (the padding) and past the K step (2048); and weights of 8 Mi or more, whose blocks
// are 288 rows (the last case: M past one such block, two K steps, an odd panel count).
const std::vector<Case>& cases() {
  static const std::vector<Case> c = {
      {"int8", DType::kBF16, DType::kBF16, DType::kBF16, 1, 48, 160},
      {"int8", DType::kF32, DType::kF32, std::nullopt, 7, 272, 2064},
      {"int8", DType::kF16, DType::kF16, DType::kF32, 53, 16, 48},
      {"int8-per-tensor", DType::kF32, DType::kBF16, DType::kF16, 13, 304, 208},
      {"int8-per-tensor", DType::kBF16, DType::kF16, std::nullopt, 100, 64, 4112},
      {"int8-static", DType::kF16, DType::kF32, DType::kBF16, 6, 96, 64},
      {"int8-static", DType::kBF16, DType::kBF16, std::nullopt, 49, 528, 1552},
      {"weight=int8,weight_granularity=per_tensor", DType::kBF16, DType::kBF16, DType::kF32, 97, 80, 176},
      {"weight=int8,weight_granularity=per_tensor,act_granularity=per_tensor", DType::kF16, DType::kF32,
       DType::kBF16, 5, 32, 32},
      {"int8", DType::kF32, DType::kBF16, DType::kF32, 29, 176, 112},
      {"int8-static", DType::kF32, DType::kF32, DType::kF16, 65, 112, 2112},
      {"int8", DType::kBF16, DType::kBF16, DType::kBF16, 301, 4112, 2064},
  };
  return c;
}

TEST_P(HostLinear, Int8IsBitIdenticalToTheReference) {
  IsaScope isa(GetParam());
  unsigned seed = 300;
  for (const Case& c : cases()) {
    const std::string what = fmt::format("{} x {} -> {} m={} n={} k={}", c.rule, dtype_name(c.x_dtype),
                                         dtype_name(c.out_dtype), c.m, c.n, c.k);
    SCOPED_TRACE(what);
    const ResolvedRule rule = rule_of(c.rule);
    const Tensor x = randn({c.m, c.k}, c.x_dtype, ++seed);
    const Tensor w = randn({c.n, c.k}, DType::kF32, ++seed, 0.05f);
    LinearOptions o;
    o.out_dtype = c.out_dtype;
    if (c.bias) o.bias = randn({c.n}, *c.bias, ++seed);
    if (rule.act_static_scale) o.act_scale = Tensor::from_vector<float>({1}, std::vector<float>{2.5f / 127.0f});
    const QuantizedWeight qw = quantize_weight(w, rule);
    ASSERT_NE(qw.host_packed, nullptr);
    LinearTrace trace;
    const Tensor y = linear_forward(x, qw, rule, o, &trace);
    ASSERT_EQ(trace.steps.size(), 2u);
    EXPECT_NE(trace.steps[1].find(GetParam()), std::string::npos) << trace.steps[1];
    const Tensor want = linear_forward(x.to(Device::cpu_ref()), quantize_weight(w.to(Device::cpu_ref()), rule), rule, o);
    expect_same_bytes(y, want, what);
  }
}

// A tuned thread count (the autotuner's candidates on fewer threads) changes speed only: the
// same bits on one thread as on all of them, and the trace says how many ran.
TEST(HostLinearThreads, FewerThreadsGiveTheSameBits) {
  std::string why;
  if (!jit::host_compiler_available(&why)) GTEST_SKIP() << why;
  const std::int64_t m = 301, n = 4112, k = 2064;
  const Tensor x = randn({m, k}, DType::kBF16, 71);
  for (const char* text : {"int8", "fp8"}) {
    SCOPED_TRACE(text);
    const ResolvedRule rule = rule_of(text);
    const QuantizedWeight qw = quantize_weight(randn({n, k}, DType::kF32, 72, 0.05f), rule);
    LinearOptions all;
    all.out_dtype = DType::kBF16;
    LinearOptions one = all;
    if (std::string(text) == "int8") {
      const jit::impls::HostQGemmDesc desc{DType::kBF16, std::nullopt, Activation::kNone, jit::impls::host_isa()};
      all.host_int8_config = one.host_int8_config = jit::impls::host_qgemm_heuristic(desc, m, n, k);
      one.host_int8_config->threads = 1;
    } else {
      const jit::impls::HostGemmBf16Desc desc = host_float_gemm_desc(rule, DType::kBF16);
      all.host_bf16_config = one.host_bf16_config = jit::impls::host_gemm_bf16_heuristic(desc, m, n, k);
      one.host_bf16_config->threads = 1;
    }
    LinearTrace trace_all, trace_one;
    const Tensor y_all = linear_forward(x, qw, rule, all, &trace_all);
    const Tensor y_one = linear_forward(x, qw, rule, one, &trace_one);
    expect_same_bytes(y_one, y_all, "1 thread against all");
    EXPECT_NE(trace_one.steps.back().find(", 1 threads)"), std::string::npos) << trace_one.steps.back();
    EXPECT_NE(trace_all.steps.back().find(fmt::format(", {} threads)", host_driver()->threads())), std::string::npos)
        << trace_all.steps.back();
  }
}

// NaN and Inf rows: scale NaN, the canonical NaN in every output of the row (per-token), or
// everywhere (per-tensor); a static scale maps NaN to 0 and Inf to ±127.
TEST_P(HostLinear, NanAndInfRowsAreBitIdentical) {
  IsaScope isa(GetParam());
  const std::int64_t m = 9, n = 48, k = 96;
  for (const char* text : {"int8", "int8-per-tensor", "int8-static"}) {
    SCOPED_TRACE(text);
    const ResolvedRule rule = rule_of(text);
    Tensor x = randn({m, k}, DType::kF32, 41);
    x.data_ptr<float>()[1 * k + 7] = std::numeric_limits<float>::quiet_NaN();
    x.data_ptr<float>()[4 * k + 90] = -std::numeric_limits<float>::infinity();
    LinearOptions o;
    o.out_dtype = DType::kBF16;
    if (rule.act_static_scale) o.act_scale = Tensor::from_vector<float>({1}, std::vector<float>{0.02f});
    const Tensor w = randn({n, k}, DType::kF32, 42, 0.05f);
    const Tensor y = linear_forward(x, quantize_weight(w, rule), rule, o);
    const Tensor want = linear_forward(x.to(Device::cpu_ref()), quantize_weight(w.to(Device::cpu_ref()), rule), rule, o);
    expect_same_bytes(y, want, text);
  }
}

TEST_P(HostLinear, GeluIsTheReferenceFormula) {
  IsaScope isa(GetParam());
  const ResolvedRule rule = rule_of("int8");
  const Tensor x = randn({11, 64}, DType::kBF16, 51, 3.0f), w = randn({32, 64}, DType::kF32, 52, 0.1f);
  LinearOptions o;
  o.out_dtype = DType::kF32;
  o.bias = randn({32}, DType::kF32, 53);
  const QuantizedWeight qw = quantize_weight(w, rule), qw_ref = quantize_weight(w.to(Device::cpu_ref()), rule);
  const Tensor pre = linear_forward(x.to(Device::cpu_ref()), qw_ref, rule, o);  // the bit-identical input of GELU
  o.activation = Activation::kGeluTanh;
  const Tensor y = linear_forward(x, qw, rule, o);
  const Tensor want = linear_forward(x.to(Device::cpu_ref()), qw_ref, rule, o);
  if (std::string(GetParam()) == "generic" || std::string(GetParam()) == "avx2") {
    // NOTE: the same operations in the same order, tanhf from the same libm: the same bits.
    expect_same_bytes(y, want, "gelu");
    return;
  }
  // The vector paths take tanh16 for tanhf (|error| < 2^-21, templates/host/vec512.h), the
  // rest in the reference's order: GELU = (0.5 p)(1 + t) moves by at most 0.5 |p| 2^-21, and
  // the last product rounds once more (half an ulp of the result, below 2^-24 |result|).
  const std::vector<float> p = pre.to_f32_vector(), g = y.to_f32_vector(), r = want.to_f32_vector();
  ASSERT_EQ(g.size(), r.size());
  double worst = 0.0;
  for (std::size_t i = 0; i < g.size(); ++i) {
    const double bound = 0.5 * std::fabs(p[i]) * std::ldexp(1.0, -21) + std::ldexp(std::fabs(r[i]), -23);
    EXPECT_LE(std::fabs(static_cast<double>(g[i]) - r[i]), bound) << "element " << i << " pre " << p[i];
    worst = std::max(worst, std::fabs(static_cast<double>(g[i]) - r[i]));
  }
  EXPECT_GT(worst, 0.0) << "the vector GELU is not the scalar one: some element should differ";
}

INSTANTIATE_TEST_SUITE_P(Isa, HostLinear, ::testing::Values("amx", "avx512_vnni", "avx2", "generic"),
                         test::isa_test_name);

TEST(HostLinearRef, CpuRefRunsTheReference) {
  const ResolvedRule rule = rule_of("int8");
  const Tensor x = randn({3, 32}, DType::kBF16, 61).to(Device::cpu_ref());
  const QuantizedWeight qw = quantize_weight(randn({16, 32}, DType::kF32, 62).to(Device::cpu_ref()), rule);
  EXPECT_EQ(qw.host_packed, nullptr);
  LinearTrace trace;
  linear_forward(x, qw, rule, {}, &trace);
  ASSERT_EQ(trace.steps.size(), 1u);
  EXPECT_EQ(trace.steps[0].rfind("reference", 0), 0u) << trace.steps[0];
  EXPECT_EQ(trace.device, "cpu:ref");
}

// Every preset has cpu kernels for every activation dtype it takes (weight-only takes f16 and
// bf16: linear_forward refuses f32 before any work).
TEST(HostLinearRef, EveryPresetHasCpuKernels) {
  for (const char* preset : {"int8", "int8-per-tensor", "int8-static", "int8-weight-only", "fp8", "fp8-e5m2",
                             "fp8-block128", "weight=fp8_e4m3,act=fp8_e5m2"}) {
    const ResolvedRule rule = rule_of(preset);
    for (DType x : {DType::kF32, DType::kF16, DType::kBF16}) {
      if (rule.act == QType::kNone && x == DType::kF32) continue;
      EXPECT_TRUE(host_kernels_support(rule, x)) << preset << " on " << dtype_name(x);
    }
  }
  EXPECT_FALSE(host_kernels_support(rule_of("int8-weight-only"), DType::kF32));
}

}  // namespace
}  // namespace qjit
