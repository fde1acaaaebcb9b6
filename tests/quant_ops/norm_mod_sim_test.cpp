// The norm + modulation kernel (templates/impls/norm_mod.cuh) on the sim device against the
// reference (runtime/ops/norm_mod_reference.hpp), bit for bit: LayerNorm (plain and affine)
// and RMSNorm, f32 / f16 / bf16 in and out, D in {16, 48, 1536}, M in {1, 7, 129}, shift and
// scale per batch element ([B, D]); the fused quantized output
// equals norm_modulate to bf16 followed by quantize_activations, bit for bit; NaN / Inf rows;
// every error before any work.

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>

#include <fmt/format.h>

#include "common/error.hpp"
#include "quant_ops/norm_mod.hpp"
#include "runtime/ops/norm_mod_reference.hpp"
#include "sim/sim_driver.hpp"
#include "tests/support/checks.hpp"

namespace qjit {
namespace {

std::shared_ptr<sim::SimDriver> sim_driver() {
  static auto d = std::make_shared<sim::SimDriver>(sim::SimDeviceConfig::for_arch("sm_90"));
  return d;
}

// Rows with an offset and a few large channels (as DiT activations have), so the mean matters.
std::vector<float> rows(std::int64_t m, std::int64_t d, unsigned seed) {
  std::vector<float> x(static_cast<size_t>(m * d));
  for (std::int64_t i = 0; i < m * d; ++i) {
    const float v = std::sin(0.37f * static_cast<float>(i) + static_cast<float>(seed)) * (1 + i % 7) + 0.3f;
    x[i] = i % d == 5 ? 40.0f * v : v;
  }
  return x;
}

std::vector<float> vec(std::int64_t d, float base, float amp) {
  std::vector<float> v(static_cast<size_t>(d));
  for (std::int64_t i = 0; i < d; ++i) v[i] = base + amp * std::cos(0.11f * static_cast<float>(i));
  return v;
}

NormModArgs make_args(NormKind kind, std::int64_t d) {
  NormModArgs a;
  a.kind = kind;
  a.shift = Tensor::from_vector<float>({d}, vec(d, 0.05f, 0.2f));
  a.scale = Tensor::from_vector<float>({d}, vec(d, -0.1f, 0.3f));
  if (kind == NormKind::kRmsNorm) a.weight = Tensor::from_vector<float>({d}, vec(d, 1.0f, 0.25f));
  return a;
}

// Same values bit for bit (every NaN counts as the same value: NaN payloads are not specified).
void expect_same(const Tensor& got, const Tensor& want, const std::string& what) {
  ASSERT_EQ(got.dtype(), want.dtype()) << what;
  const auto g = got.to(Device::cpu()).to_f32_vector(), w = want.to(Device::cpu()).to_f32_vector();
  ASSERT_EQ(g.size(), w.size()) << what;
  for (size_t i = 0; i < g.size(); ++i) {
    if (std::isnan(w[i])) ASSERT_TRUE(std::isnan(g[i])) << what << " at " << i;
    else ASSERT_EQ(std::bit_cast<std::uint32_t>(g[i]), std::bit_cast<std::uint32_t>(w[i])) << what << " at " << i;
  }
}

void expect_same_codes(const QuantizedActivations& got, const QuantizedActivations& want, const std::string& what) {
  const Tensor gq = got.q.to(Device::cpu()), wq = want.q.to(Device::cpu());
  ASSERT_EQ(gq.numel(), wq.numel()) << what;
  ASSERT_EQ(std::memcmp(gq.raw_data_ptr(), wq.raw_data_ptr(), static_cast<size_t>(gq.numel())), 0) << what;
  expect_same(got.scales, want.scales, what + " scales");
}

const char* norm_name(NormKind k) { return k == NormKind::kLayerNorm ? "layernorm" : "rmsnorm"; }

TEST(NormModSim, FloatOutputBitIdenticalToReference) {
  struct Case {
    std::int64_t m, d;
    DType in, out;
  };
  // A cover of shapes x dtypes, the Wan-sized D = 1536 once per dtype pair that matters.
  const Case cases[] = {{1, 16, DType::kF32, DType::kF32},     {7, 48, DType::kBF16, DType::kBF16},
                        {129, 16, DType::kF16, DType::kF16},   {7, 16, DType::kF32, DType::kBF16},
                        {1, 48, DType::kBF16, DType::kF32},    {129, 48, DType::kF32, DType::kF16},
                        {7, 1536, DType::kBF16, DType::kBF16}, {1, 1536, DType::kF32, DType::kF32},
                        {129, 1536, DType::kBF16, DType::kBF16}};
  for (NormKind kind : {NormKind::kLayerNorm, NormKind::kRmsNorm}) {
    for (const Case& c : cases) {
      if (c.m == 129 && c.d == 1536 && kind == NormKind::kRmsNorm) continue;  // one Wan-sized run is enough
      const std::string what = fmt::format("{} {}x{} {} -> {}", norm_name(kind), c.m, c.d, dtype_name(c.in),
                                           dtype_name(c.out));
      SCOPED_TRACE(what);
      const Tensor host = Tensor::from_vector<float>({c.m, c.d}, rows(c.m, c.d, 3)).to_dtype(c.in);
      const NormModArgs a = make_args(kind, c.d);
      const Tensor want = norm_modulate(host, a, c.out);
      const Tensor got = norm_modulate(host.to(Device::sim(), sim_driver()), a, c.out);
      EXPECT_EQ(got.device(), Device::sim());
      expect_same(got, want, what);
    }
  }
}

// The reference itself, on a case small enough to check by hand: x = [1, 2, 3, 4] (LayerNorm:
// mean 2.5, var 1.25) and the 32-way order of the sums.
TEST(NormModSim, ReferenceFormula) {
  const Tensor x = Tensor::from_vector<float>({1, 4}, std::vector<float>{1, 2, 3, 4});
  NormModArgs p;
  p.shift = Tensor::zeros({4}, DType::kF32);
  p.scale = Tensor::zeros({4}, DType::kF32);
  const auto y = ops::norm_mod_reference(x, p, DType::kF32).to_f32_vector();
  const float rstd = 1.0f / std::sqrt(1.25f + 1e-6f);
  EXPECT_EQ(y[0], -1.5f * rstd);
  EXPECT_EQ(y[3], 1.5f * rstd);
  const Tensor w = Tensor::from_vector<float>({4}, std::vector<float>{1, 1, 1, 2});
  p.weight = w;  // affine LayerNorm (Wan's norm3): n * weight
  EXPECT_EQ(ops::norm_mod_reference(x, p, DType::kF32).to_f32_vector()[3], (1.5f * rstd) * 2.0f);
  p.kind = NormKind::kRmsNorm;
  const auto r = ops::norm_mod_reference(x, p, DType::kF32).to_f32_vector();
  const float rs = 1.0f / std::sqrt(7.5f + 1e-6f);  // (1 + 4 + 9 + 16) / 4
  EXPECT_EQ(r[3], (4.0f * rs) * 2.0f);
  // 64 values: partial l = v[l] + v[l + 32]; then the partials left to right.
  std::vector<float> v(64);
  for (int i = 0; i < 64; ++i) v[i] = i % 2 ? 1e8f : 1.0f;
  float partial[32], want = 0;
  for (int l = 0; l < 32; ++l) partial[l] = v[l] + v[l + 32];
  want = partial[0];
  for (int l = 1; l < 32; ++l) want = want + partial[l];
  EXPECT_EQ(ops::ordered_sum(v.data(), 64), want);
}

// Wan's norm3 (affine LayerNorm: weight, bias as the shift, zero scale) and the per-batch
// modulation ([B, D] shift / scale over x [B, S, D]): sim equals the cpu bit for bit, and a
// batched call equals one call per batch element with that element's [D] rows.
TEST(NormModSim, AffineLayerNormAndBatchedModulation) {
  const std::int64_t b = 3, s = 5, d = 48;
  const Tensor x = Tensor::from_vector<float>({b, s, d}, rows(b * s, d, 7), DType::kBF16);
  for (NormKind kind : {NormKind::kLayerNorm, NormKind::kRmsNorm}) {
    NormModArgs a = make_args(kind, d);
    a.weight = Tensor::from_vector<float>({d}, vec(d, 0.9f, 0.3f));
    std::vector<float> shift, scale;
    for (std::int64_t i = 0; i < b; ++i) {
      const auto sh = vec(d, 0.1f * static_cast<float>(i), 0.2f), sc = vec(d, -0.2f * static_cast<float>(i), 0.5f);
      shift.insert(shift.end(), sh.begin(), sh.end());
      scale.insert(scale.end(), sc.begin(), sc.end());
    }
    a.shift = Tensor::from_vector<float>({b, d}, shift);
    a.scale = Tensor::from_vector<float>({b, d}, scale);
    const Tensor want = norm_modulate(x, a, DType::kBF16);
    expect_same(norm_modulate(x.to(Device::sim(), sim_driver()), a, DType::kBF16), want, norm_name(kind));
    for (std::int64_t i = 0; i < b; ++i) {
      NormModArgs one = a;
      one.shift = a.shift.select(0, i);
      one.scale = a.scale.select(0, i);
      expect_same(norm_modulate(x.select(0, i), one, DType::kBF16), want.narrow(0, i * s, s).contiguous(),
                  fmt::format("{} batch {}", norm_name(kind), i));
    }
    const auto fused = norm_modulate_quantized(x.to(Device::sim(), sim_driver()), a, DType::kBF16, QType::kInt8,
                                               ActScale::kDynamicPerToken);
    expect_same_codes(fused, quantize_activations(want, QType::kInt8, ActScale::kDynamicPerToken),
                      fmt::format("{} fused", norm_name(kind)));
  }
}

TEST(NormModSim, FusedQuantizedEqualsSeparate) {
  for (NormKind kind : {NormKind::kLayerNorm, NormKind::kRmsNorm}) {
    for (const auto& [m, d] : {std::pair<std::int64_t, std::int64_t>{7, 48}, {129, 16}, {7, 1536}}) {
      for (QType q : {QType::kInt8, QType::kE4M3}) {
        for (ActScale mode : {ActScale::kDynamicPerToken, ActScale::kStaticPerTensor}) {
          for (DType round_to : {DType::kBF16, DType::kF32}) {
            if (d == 1536 && (round_to == DType::kF32 || q == QType::kE4M3)) continue;  // keep the suite quick
            const std::string what = fmt::format("{} {}x{} -> {} {} {}", norm_name(kind), m, d, dtype_name(round_to),
                                                 qtype_name(q),
                                                 mode == ActScale::kDynamicPerToken ? "per-token" : "static");
            SCOPED_TRACE(what);
            const Tensor host = Tensor::from_vector<float>({m, d}, rows(m, d, 5)).to_dtype(DType::kBF16);
            const Tensor x = host.to(Device::sim(), sim_driver());
            const NormModArgs a = make_args(kind, d);
            std::optional<Tensor> s;
            if (mode == ActScale::kStaticPerTensor) s = Tensor::from_vector<float>({1}, std::vector<float>{0.03f});
            const auto fused = norm_modulate_quantized(x, a, round_to, q, mode, s);
            const auto separate = quantize_activations(norm_modulate(x, a, round_to), q, mode, s);
            expect_same_codes(fused, separate, what + " (sim fused vs sim separate)");
            const auto cpu = norm_modulate_quantized(host, a, round_to, q, mode, s);
            expect_same_codes(fused, cpu, what + " (sim fused vs cpu)");
          }
        }
      }
    }
  }
}

// Strided rows (a column slice of a wider tensor, row stride 2D) and a 3-D input flattened to
// rows; the sm_80 sim (integer fp8 rounding, not the cvt instruction) for the fused fp8 path.
TEST(NormModSim, StridedRowsAndSm80) {
  const std::int64_t m = 7, d = 48;
  const Tensor wide = Tensor::from_vector<float>({m, 2 * d}, rows(m, 2 * d, 9)).to_dtype(DType::kBF16);
  const Tensor host = wide.narrow(1, d, d);
  ASSERT_EQ(host.stride(0), 2 * d);
  for (NormKind kind : {NormKind::kLayerNorm, NormKind::kRmsNorm}) {
    SCOPED_TRACE(norm_name(kind));
    const NormModArgs a = make_args(kind, d);
    const Tensor want = norm_modulate(host.contiguous(), a, DType::kBF16);
    expect_same(norm_modulate(host, a, DType::kBF16), want, "cpu strided");
    expect_same(norm_modulate(wide.to(Device::sim(), sim_driver()).narrow(1, d, d), a, DType::kBF16), want,
                "sim strided");
    const Tensor x3 = host.contiguous().reshape({1, m, d});
    expect_same(norm_modulate(x3.to(Device::sim(), sim_driver()), a, DType::kBF16), want, "sim [1, M, D]");
    auto sm80 = std::make_shared<sim::SimDriver>(sim::SimDeviceConfig::for_arch("sm_80"));
    for (QType q : {QType::kE4M3, QType::kE5M2}) {
      const auto got = norm_modulate_quantized(host.to(Device::sim(), sm80), a, DType::kBF16, q,
                                               ActScale::kDynamicPerToken);
      expect_same_codes(got, norm_modulate_quantized(host, a, DType::kBF16, q, ActScale::kDynamicPerToken),
                        fmt::format("sm_80 fused {}", qtype_name(q)));
    }
  }
}

// A NaN anywhere in a row makes its statistics NaN: the whole row's y is NaN, its per-token
// scale NaN and its int8 codes 0 (act_quant's rule). An Inf makes a LayerNorm row all NaN
// (var = NaN); an RMSNorm row gets rstd 0: NaN at the Inf (Inf * 0), shift elsewhere. Either
// way the sim matches the reference; the other rows are untouched.
TEST(NormModSim, NanAndInfRows) {
  const std::int64_t m = 4, d = 48;
  std::vector<float> v = rows(m, d, 1);
  v[1 * d + 7] = std::numeric_limits<float>::quiet_NaN();
  v[2 * d + 0] = std::numeric_limits<float>::infinity();
  const Tensor host = Tensor::from_vector<float>({m, d}, v);
  for (NormKind kind : {NormKind::kLayerNorm, NormKind::kRmsNorm}) {
    SCOPED_TRACE(norm_name(kind));
    const NormModArgs a = make_args(kind, d);
    const Tensor want = norm_modulate(host, a, DType::kBF16);
    const auto y = want.to_f32_vector();
    for (std::int64_t i = 0; i < d; ++i) {
      EXPECT_TRUE(std::isnan(y[1 * d + i])) << i;
      if (kind == NormKind::kLayerNorm) EXPECT_TRUE(std::isnan(y[2 * d + i])) << i;
      EXPECT_TRUE(std::isfinite(y[0 * d + i]) && std::isfinite(y[3 * d + i])) << i;
    }
    expect_same(norm_modulate(host.to(Device::sim(), sim_driver()), a, DType::kBF16), want, "nan rows");
    const auto got = norm_modulate_quantized(host.to(Device::sim(), sim_driver()), a, DType::kBF16, QType::kInt8,
                                             ActScale::kDynamicPerToken);
    const auto scales = got.scales.to(Device::cpu()).to_f32_vector();
    EXPECT_TRUE(std::isnan(scales[1]));
    EXPECT_TRUE(std::isfinite(scales[0]) && std::isfinite(scales[3]));
    const Tensor codes = got.q.to(Device::cpu());
    for (std::int64_t i = 0; i < d; ++i) EXPECT_EQ(codes.data_ptr<std::int8_t>()[1 * d + i], 0) << i;
    expect_same_codes(got, norm_modulate_quantized(host, a, DType::kBF16, QType::kInt8, ActScale::kDynamicPerToken),
                      "nan rows quantized");
  }
}

TEST(NormModSim, Errors) {
  using test::expect_error_mentions;
  const Tensor x = Tensor::from_vector<float>({2, 16}, rows(2, 16, 0));
  const NormModArgs ln = make_args(NormKind::kLayerNorm, 16);
  NormModArgs bad = ln;
  bad.shift = Tensor::from_vector<float>({8}, vec(8, 0, 1));
  expect_error_mentions([&] { norm_modulate(x, bad, DType::kBF16); }, "shift must be f32 [16]");
  bad = ln;
  bad.scale = ln.scale.to_dtype(DType::kBF16);
  expect_error_mentions([&] { norm_modulate(x, bad, DType::kBF16); }, "scale must be f32 of shift's shape");
  bad = make_args(NormKind::kRmsNorm, 16);
  bad.weight.reset();
  expect_error_mentions([&] { norm_modulate(x, bad, DType::kBF16); }, "RMSNorm needs its weight");
  bad = ln;
  bad.weight = Tensor::zeros({8}, DType::kF32);
  expect_error_mentions([&] { norm_modulate(x, bad, DType::kBF16); }, "weight must be f32 [16]");
  bad = ln;
  bad.shift = Tensor::zeros({3, 16}, DType::kF32);
  bad.scale = Tensor::zeros({3, 16}, DType::kF32);
  expect_error_mentions([&] { norm_modulate(x, bad, DType::kBF16); }, "3 batch rows, which do not divide the 2 rows");
  bad = ln;
  bad.eps = std::numeric_limits<float>::quiet_NaN();
  expect_error_mentions([&] { norm_modulate(x, bad, DType::kBF16); }, "eps");
  expect_error_mentions([&] { norm_modulate(x, ln, DType::kI8); }, "output dtype");
  expect_error_mentions([&] { norm_modulate(Tensor::zeros({2, 16}, DType::kI32), ln, DType::kBF16); }, "x must be f32, f16 or bf16");
  expect_error_mentions([&] { norm_modulate(Tensor::empty({2, 0}, DType::kF32), ln, DType::kBF16); }, "empty rows");
  const Tensor xs = x.to(Device::sim(), sim_driver());
  expect_error_mentions(
      [&] { norm_modulate_quantized(xs, ln, DType::kBF16, QType::kInt8, ActScale::kDynamicGroup128); },
      "dynamic per-token or static per-tensor only");
  expect_error_mentions([&] { norm_modulate_quantized(xs, ln, DType::kBF16, QType::kInt8, ActScale::kStaticPerTensor); },
                        "static quantization needs one f32 scale");
  expect_error_mentions(
      [&] {
        norm_modulate_quantized(xs, ln, DType::kBF16, QType::kInt8, ActScale::kStaticPerTensor,
                                Tensor::from_vector<float>({1}, std::vector<float>{-1.0f}));
      },
      "must be finite and > 0");
  expect_error_mentions(
      [&] {
        norm_modulate_quantized(xs, ln, DType::kBF16, QType::kInt8, ActScale::kDynamicPerToken,
                                Tensor::from_vector<float>({1}, std::vector<float>{1.0f}));
      },
      "computes its scales");
  expect_error_mentions([&] { norm_modulate_quantized(xs, ln, DType::kBF16, QType::kNone, ActScale::kDynamicPerToken); },
                        "nothing to quantize");
}

}  // namespace
}  // namespace qjit
