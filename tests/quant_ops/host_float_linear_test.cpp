// The cpu device's float GEMM kernel (templates/host/gemm_bf16.h) and its fp8 activation
// quantization against the plain reference (cpu:ref), on the AVX-512 path and the portable one:
//   - fp8 activation values (e4m3, e5m2; per-token, per-tensor, group128, static) are the
//     reference's codes exactly, edge values included;
//   - weight-only on f16 activations is bit-identical (the f16 / f32 kernel, exact products in
//     the reference's order);
//   - fp8 W8A8, block fp8, weight-only and the unquantized bf16 GEMM agree with the reference
//     within an NMSE bound derived from the one thing that differs, the order of the f32
//     additions (the products are exact in f32: bf16 x bf16 has at most 16 significant bits).
//
// The bound. Each f32 addition errs by at most u = 2^-24 of its result, and every partial sum
// of either order is at most S = Σ|a_k w_k|, so one output moves by |Δ| <= 2 K u S between the
// two orders. With zero-mean random operands E[S^2] ~ K^2 (E|p|)^2 and E[y^2] = K E[p^2], and
// for a product of two Gaussians (E|p|)^2 / E[p^2] = (2/π)^2 < 0.41, so the f32 NMSE is at
// most 4 K^2 u^2 * 0.41 K < 1.7 K^3 u^2. Rounding the output then moves an element by at most
// one more unit of the output's last place: 2^-7 of it in bf16, 2^-10 in f16 (0 in f32), so
// the bound adds that ulp squared.

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "tests/support/host_isa.hpp"
#include "tests/support/random_tensor.hpp"
#include "jit/host_compiler.hpp"
#include "jit/impls/host_qgemm.hpp"
#include "quant_ops/host_linear.hpp"
#include "quant_ops/reference/act_quant.hpp"
#include "quant_ops/reference/quantize_value.hpp"
#include "runtime/float_convert.hpp"
#include "runtime/host_driver.hpp"
#include "runtime/kernels.hpp"
#include "runtime/ops/gemm.hpp"

namespace qjit {
namespace {

using test::randn;

ResolvedRule rule_of(const std::string& text) { return Rule::parse_one(text).resolve(); }

double nmse(const Tensor& got, const Tensor& want) {
  const std::vector<float> g = got.to_f32_vector(), w = want.to_f32_vector();
  double num = 0, den = 0;
  for (std::size_t i = 0; i < w.size(); ++i) {
    num += (static_cast<double>(g[i]) - w[i]) * (static_cast<double>(g[i]) - w[i]);
    den += static_cast<double>(w[i]) * w[i];
  }
  return den > 0 ? num / den : num;
}

// The bound of the header comment for a K-long sum rounded to `out`.
double order_bound(std::int64_t k, DType out) {
  const double u = std::ldexp(1.0, -24);
  const double ulp = out == DType::kBF16 ? std::ldexp(1.0, -7) : out == DType::kF16 ? std::ldexp(1.0, -10) : 0.0;
  return 1.7 * static_cast<double>(k) * static_cast<double>(k) * static_cast<double>(k) * u * u + ulp * ulp;
}

using HostFloat = test::HostIsaTest;
using test::IsaScope;

// --- fp8 activation values: the reference's codes, exactly ------------------------------

// Rows of edge values: ties at both fp8 grids, subnormals, the saturation boundary, Inf,
// NaN, zeros, and random spread values.
std::vector<float> edge_rows(std::int64_t rows, std::int64_t k) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> mant(-1.0f, 1.0f);
  std::uniform_int_distribution<int> exp(-30, 20);
  std::vector<float> v(static_cast<std::size_t>(rows * k));
  for (auto& x : v) x = std::ldexp(mant(rng), exp(rng));
  const float specials[] = {0.0f, -0.0f, 1.0625f, 1.1875f, -1.0625f, 0.0029296875f, std::ldexp(1.0f, -10),
                            std::ldexp(3.0f, -11), 464.0f, 448.0f, 480.0f, 57344.0f, 61440.0f, 1e-40f, -3e-39f};
  for (std::size_t i = 0; i < std::size(specials); ++i) v[i * 3] = specials[i];
  return v;
}

struct ActCase {
  QType q;
  ActScale mode;
  DType in;
};

// The host act_quant family run directly: values as bf16 bits [m, kp] and scales.
void run_host_act_quant(const Tensor& x, const ActCase& c, std::int64_t kp, std::vector<std::uint16_t>& values,
                        std::vector<float>& scales, float static_scale) {
  const std::int64_t m = x.size(0), k = x.size(1);
  values.assign(static_cast<std::size_t>(m * kp), 0xffff);
  scales.assign(c.mode == ActScale::kDynamicGroup128 ? static_cast<std::size_t>(m * ((k + 127) / 128))
                : c.mode == ActScale::kDynamicPerToken ? static_cast<std::size_t>(m)
                                                       : 1,
                static_scale);
  std::vector<float> row_amax(static_cast<std::size_t>(m));
  const jit::impls::HostActQuantConfig qc{.rows_per_block = 3};
  const jit::KernelSpec spec = jit::impls::host_act_quant_spec({c.in, c.mode, c.q, jit::impls::host_isa()}, qc);
  jit::impls::HostActQuantParams p;
  p.x = reinterpret_cast<std::uintptr_t>(x.raw_data_ptr());
  p.x_row_stride = k;
  p.q = reinterpret_cast<std::uintptr_t>(values.data());
  p.q_row_stride = kp * 2;
  p.scales = reinterpret_cast<std::uintptr_t>(scales.data());
  p.row_amax = reinterpret_cast<std::uintptr_t>(row_amax.data());
  p.m = static_cast<std::int32_t>(m);
  p.k = static_cast<std::int32_t>(k);
  p.k_padded = static_cast<std::int32_t>(kp);
  p.rows_per_block = qc.rows_per_block;
  LaunchConfig launch;
  launch.grid.x = static_cast<unsigned>((m + 2) / 3);
  KernelCache& cache = KernelCache::global();
  if (c.mode == ActScale::kDynamicPerTensor) cache.get(host_driver(), spec, jit::impls::kHostActAmaxRows).launch(launch, p);
  cache.get(host_driver(), spec, jit::impls::kHostActQuantRows).launch(launch, p);
}

TEST_P(HostFloat, Fp8ActivationValuesAreTheReferenceCodes) {
  IsaScope isa(GetParam());
  const std::int64_t m = 7, k = 300, kp = 300;
  const std::vector<float> rows = edge_rows(m, k);
  for (const ActCase& c : {ActCase{QType::kE4M3, ActScale::kDynamicPerToken, DType::kF32},
                           ActCase{QType::kE5M2, ActScale::kDynamicPerToken, DType::kBF16},
                           ActCase{QType::kE4M3, ActScale::kDynamicPerTensor, DType::kF16},
                           ActCase{QType::kE4M3, ActScale::kDynamicGroup128, DType::kF32},
                           ActCase{QType::kE5M2, ActScale::kDynamicGroup128, DType::kF16},
                           ActCase{QType::kE4M3, ActScale::kStaticPerTensor, DType::kF32},
                           ActCase{QType::kE5M2, ActScale::kStaticPerTensor, DType::kBF16}}) {
    const std::string what = fmt::format("{} mode {} from {}", qtype_name(c.q), static_cast<int>(c.mode), dtype_name(c.in));
    SCOPED_TRACE(what);
    std::vector<float> v = rows;
    // NOTE: a NaN or Inf poisons a dynamic scale (codes 0, scale NaN): keep them to the static
    // rows and to one row / group of the dynamic ones.
    if (c.mode != ActScale::kStaticPerTensor && c.mode != ActScale::kDynamicPerTensor) {
      v[2 * k + 5] = std::numeric_limits<float>::quiet_NaN();
      v[4 * k + 200] = -std::numeric_limits<float>::infinity();
    } else if (c.mode == ActScale::kStaticPerTensor) {
      v[2 * k + 5] = std::numeric_limits<float>::quiet_NaN();
      v[4 * k + 200] = -std::numeric_limits<float>::infinity();
      v[5 * k + 7] = 1e30f;  // saturates
    }
    const Tensor x = Tensor::from_vector<float>({m, k}, v, c.in);
    const float static_scale = 0.37f;
    std::vector<std::uint16_t> values;
    std::vector<float> scales;
    run_host_act_quant(x, c, kp, values, scales, static_scale);
    const Tensor xf = x.to_dtype(DType::kF32).contiguous();
    const auto view = reference::ActView::dense(xf.raw_data_ptr(), DType::kF32, m, k);
    const Granularity g = c.mode == ActScale::kDynamicPerTensor  ? Granularity::kPerTensor
                          : c.mode == ActScale::kDynamicGroup128 ? Granularity::kGroup128
                                                                 : Granularity::kPerToken;
    const reference::QuantizedActs want = c.mode == ActScale::kStaticPerTensor
                                              ? reference::quantize_static(view, c.q, static_scale)
                                              : reference::quantize_dynamic(view, c.q, g);
    int bad = 0;
    for (std::int64_t i = 0; i < m * k && bad < 5; ++i) {
      const float ref = reference::decode_value(c.q, want.q[static_cast<std::size_t>(i)]);
      const std::uint16_t got = values[static_cast<std::size_t>((i / k) * kp + i % k)];
      const bool same = std::isnan(ref) ? std::isnan(bf16_to_f32(got)) : got == static_cast<std::uint16_t>(std::bit_cast<std::uint32_t>(ref) >> 16);
      if (!same) {
        ++bad;
        ADD_FAILURE() << "element " << i << " (x = " << v[static_cast<std::size_t>(i)] << "): got " << bf16_to_f32(got)
                      << ", the reference " << ref;
      }
    }
    if (c.mode != ActScale::kStaticPerTensor) {
      ASSERT_EQ(scales.size(), want.scales.size());
      for (std::size_t i = 0; i < scales.size(); ++i) {
        EXPECT_TRUE(std::bit_cast<std::uint32_t>(scales[i]) == std::bit_cast<std::uint32_t>(want.scales[i]) ||
                    (std::isnan(scales[i]) && std::isnan(want.scales[i])))
            << "scale " << i << ": " << scales[i] << " against " << want.scales[i];
      }
    }
  }
}

// --- the GEMMs against the reference ----------------------------------------------------

struct LinearCase {
  const char* rule;
  DType x_dtype, out_dtype;
  std::optional<DType> bias;
  std::int64_t m, n, k;
  bool gelu = false;
};

// Pairwise over family x scales x dtypes x bias x shape: M below, at and past a block (48; 64
// on AMX) and a register tile (6; 16 and 32 rows of AMX tiles, the last partial one copied);
// N past a block (256) and with a partial 128 scale block; K (a multiple of 16, as quantized
// linears take) not a multiple of 32 or 128 and past the K step (1024; 2048 on AMX). Odd K is
// the unquantized GEMM's (below).
const std::vector<LinearCase>& linear_cases() {
  static const std::vector<LinearCase> c = {
      {"fp8", DType::kBF16, DType::kBF16, DType::kBF16, 1, 48, 160},
      {"fp8", DType::kF32, DType::kF32, std::nullopt, 7, 272, 1104},
      {"fp8-e5m2", DType::kF16, DType::kF16, DType::kF32, 53, 16, 48, true},
      {"weight=fp8_e4m3,act=fp8_e4m3,weight_granularity=per_tensor,act_granularity=per_tensor", DType::kBF16,
       DType::kBF16, std::nullopt, 13, 304, 208},
      {"weight=fp8_e4m3,act=fp8_e4m3,act_static_scale=true", DType::kF32, DType::kBF16, DType::kF16, 49, 96, 272},
      {"fp8-block128", DType::kBF16, DType::kBF16, DType::kBF16, 50, 208, 1312},
      {"fp8-block128", DType::kF32, DType::kF32, std::nullopt, 3, 144, 144},
      {"int8-weight-only", DType::kBF16, DType::kBF16, DType::kBF16, 97, 80, 176, true},
      {"weight=fp8_e4m3,act=none", DType::kBF16, DType::kF32, std::nullopt, 6, 528, 1552},
      {"weight=int8,act=none,weight_granularity=per_tensor", DType::kBF16, DType::kBF16, DType::kF32, 48, 32, 32},
      {"weight=fp8_e5m2,act=none,weight_granularity=per_tensor", DType::kBF16, DType::kBF16, std::nullopt, 9, 272, 304},
      {"fp8-block128", DType::kF32, DType::kBF16, DType::kF32, 33, 48, 2320},
      {"int8-weight-only", DType::kBF16, DType::kF32, std::nullopt, 70, 112, 2096},
      {"fp8", DType::kBF16, DType::kF32, DType::kBF16, 17, 32, 4112},
  };
  return c;
}

TEST_P(HostFloat, QuantizedLinearsAgreeWithTheReference) {
  IsaScope isa(GetParam());
  unsigned seed = 900;
  for (const LinearCase& c : linear_cases()) {
    const std::string what = fmt::format("{} x {} -> {} m={} n={} k={}", c.rule, dtype_name(c.x_dtype),
                                         dtype_name(c.out_dtype), c.m, c.n, c.k);
    SCOPED_TRACE(what);
    const ResolvedRule rule = rule_of(c.rule);
    const Tensor x = randn({c.m, c.k}, c.x_dtype, ++seed);
    const Tensor w = randn({c.n, c.k}, DType::kF32, ++seed, 0.05f);
    LinearOptions o;
    o.out_dtype = c.out_dtype;
    if (c.bias) o.bias = randn({c.n}, *c.bias, ++seed);
    if (c.gelu) o.activation = Activation::kGeluTanh;
    if (rule.act_static_scale) o.act_scale = Tensor::from_vector<float>({1}, std::vector<float>{3.0f / 448.0f});
    const QuantizedWeight qw = quantize_weight(w, rule);
    ASSERT_NE(qw.host_packed, nullptr);
    LinearTrace trace;
    const Tensor y = linear_forward(x, qw, rule, o, &trace);
    ASSERT_FALSE(trace.steps.empty());
    EXPECT_NE(trace.steps.back().find("host gemm_bf16"), std::string::npos) << trace.steps.back();
    EXPECT_NE(trace.steps.back().find(GetParam()), std::string::npos) << trace.steps.back();
    const Tensor want = linear_forward(x.to(Device::cpu_ref()), quantize_weight(w.to(Device::cpu_ref()), rule), rule, o);
    ASSERT_EQ(y.dtype(), want.dtype());
    ASSERT_EQ(y.shape(), want.shape());
    // NOTE: GELU's tanhf is the same libm call on both sides: it adds no error of its own.
    EXPECT_LE(nmse(y, want), order_bound(c.k, c.out_dtype));
  }
}

// NaN and Inf rows: the row's outputs are the canonical NaN (dynamic scales) as in the
// reference; a static scale keeps NaN and saturates Inf.
TEST_P(HostFloat, NanRowsGiveNanOutputs) {
  IsaScope isa(GetParam());
  const std::int64_t m = 5, n = 32, k = 256;
  for (const char* text : {"fp8", "fp8-block128", "weight=fp8_e4m3,act=fp8_e4m3,act_static_scale=true"}) {
    SCOPED_TRACE(text);
    const ResolvedRule rule = rule_of(text);
    Tensor x = randn({m, k}, DType::kF32, 71);
    x.data_ptr<float>()[1 * k + 3] = std::numeric_limits<float>::quiet_NaN();
    LinearOptions o;
    o.out_dtype = DType::kF32;
    if (rule.act_static_scale) o.act_scale = Tensor::from_vector<float>({1}, std::vector<float>{0.01f});
    const Tensor w = randn({n, k}, DType::kF32, 72, 0.05f);
    const Tensor y = linear_forward(x, quantize_weight(w, rule), rule, o);
    const Tensor want = linear_forward(x.to(Device::cpu_ref()), quantize_weight(w.to(Device::cpu_ref()), rule), rule, o);
    const std::vector<float> g = y.to_f32_vector(), r = want.to_f32_vector();
    for (std::size_t i = 0; i < g.size(); ++i) {
      ASSERT_EQ(std::isnan(g[i]), std::isnan(r[i])) << "element " << i;
      if (std::isnan(g[i])) EXPECT_EQ(std::bit_cast<std::uint32_t>(g[i]), 0x7fffffffu) << "element " << i;
    }
  }
}

TEST_P(HostFloat, UnquantizedBf16GemmAgreesWithTheReference) {
  IsaScope isa(GetParam());
  struct G {
    std::int64_t m, n, k;
    std::optional<DType> bias;
    bool gelu;
    DType out;
  };
  unsigned seed = 1200;
  for (const G& c : {G{1, 16, 2, std::nullopt, false, DType::kBF16}, G{50, 300, 1537, DType::kBF16, true, DType::kF32},
                     G{7, 1536, 96, DType::kF32, false, DType::kF16}, G{97, 40, 2050, std::nullopt, false, DType::kBF16}}) {
    const std::string what = fmt::format("m={} n={} k={}", c.m, c.n, c.k);
    SCOPED_TRACE(what);
    const Tensor x = randn({c.m, c.k}, DType::kBF16, ++seed), w = randn({c.n, c.k}, DType::kBF16, ++seed, 0.05f);
    GemmOptions o;
    if (c.bias) o.bias = randn({c.n}, *c.bias, ++seed);
    o.gelu_tanh = c.gelu;
    o.out_dtype = c.out;
    std::shared_ptr<const HostBf16Weight> slot;
    o.host_weight = &slot;
    const Tensor y = gemm(x, w, o);
    ASSERT_NE(slot, nullptr);  // packed once, for the call site's next call
    const HostBf16Weight* packed = slot.get();
    const Tensor again = gemm(x, w, o);
    EXPECT_EQ(slot.get(), packed);
    EXPECT_EQ(std::memcmp(y.raw_data_ptr(), again.raw_data_ptr(), y.nbytes()), 0);
    GemmOptions ro = o;
    ro.host_weight = nullptr;
    const Tensor want = gemm(x.to(Device::cpu_ref()), w.to(Device::cpu_ref()), ro);
    EXPECT_LE(nmse(y, want), order_bound(c.k, c.out));
  }
}

// Weight-only on f16 activations runs the f16 / f32 GEMM kernel on the reference's operand
// (decode(q) * scale rounded to f16): exact products summed in the reference's order, so the
// reference's bits (no GELU), for int8, e4m3 and e5m2 weights, per-channel and per-tensor,
// biases and outputs of each dtype, K past the kernel's step (512).
TEST_P(HostFloat, WeightOnlyOnF16IsBitIdentical) {
  IsaScope isa(GetParam());
  unsigned seed = 1300;
  for (const char* text : {"int8-weight-only", "weight=fp8_e4m3,act=none", "weight=int8,weight_granularity=per_tensor,act=none",
                           "weight=fp8_e5m2,weight_granularity=per_tensor,act=none"}) {
    for (const auto& [m, n, k, bias, out] : {std::tuple{7, 48, 608, DType::kF32, DType::kF16},
                                             std::tuple{50, 272, 96, DType::kF16, DType::kBF16},
                                             std::tuple{3, 16, 32, DType::kBF16, DType::kF32}}) {
      const std::string what = fmt::format("{} m={} n={} k={} bias {} out {}", text, m, n, k, dtype_name(bias),
                                           dtype_name(out));
      SCOPED_TRACE(what);
      const ResolvedRule rule = rule_of(text);
      const Tensor x = randn({m, k}, DType::kF16, ++seed), w = randn({n, k}, DType::kF32, ++seed, 0.05f);
      LinearOptions o;
      o.out_dtype = out;
      o.bias = randn({n}, bias, ++seed);
      const QuantizedWeight qw = quantize_weight(w, rule);
      LinearTrace trace;
      const Tensor y = linear_forward(x, qw, rule, o, &trace);
      ASSERT_FALSE(trace.steps.empty());
      EXPECT_NE(trace.steps.back().find("host gemm_f32 f16"), std::string::npos) << trace.steps.back();
      const Tensor again = linear_forward(x, qw, rule, o);  // the packed f16 weights reused
      const Tensor want = linear_forward(x.to(Device::cpu_ref()), quantize_weight(w.to(Device::cpu_ref()), rule), rule, o);
      EXPECT_EQ(std::memcmp(y.raw_data_ptr(), want.raw_data_ptr(), want.nbytes()), 0);
      EXPECT_EQ(std::memcmp(again.raw_data_ptr(), want.raw_data_ptr(), want.nbytes()), 0);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Isa, HostFloat, ::testing::Values("amx", "avx512_vnni", "avx2", "generic"),
                         test::isa_test_name);

// A transposed (strided) bf16 input, and f16 / f32 GEMMs (the cpu's f32-panel kernel, bit for
// bit: tests/runtime/host_gemm_f32_test.cpp).
TEST(HostFloatRef, StridedInputsAndOtherDtypes) {
  std::string why;
  if (!jit::host_compiler_available(&why)) GTEST_SKIP() << "no cpu compiler: " << why;
  const Tensor xt = randn({64, 9}, DType::kBF16, 81).transpose(0, 1);  // [9, 64], column stride 9
  const Tensor w = randn({24, 64}, DType::kBF16, 82, 0.1f);
  const Tensor y = gemm(xt, w);
  const Tensor want = gemm(xt.to(Device::cpu_ref()), w.to(Device::cpu_ref()));
  EXPECT_LE(nmse(y, want), order_bound(64, DType::kBF16));
  for (DType t : {DType::kF16, DType::kF32}) {
    const Tensor a = randn({5, 40}, t, 83), b = randn({8, 40}, t, 84);
    const Tensor got = gemm(a, b), ref = gemm(a.to(Device::cpu_ref()), b.to(Device::cpu_ref()));
    EXPECT_EQ(std::memcmp(got.raw_data_ptr(), ref.raw_data_ptr(), ref.nbytes()), 0) << dtype_name(t);
  }
}

}  // namespace
}  // namespace qjit
