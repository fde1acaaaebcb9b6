// The cpu device's f16 / f32 GEMM (templates/host/gemm_f32.h) through gemm() against cpu:ref's
// reference, bit for bit, on each ISA: f16 and f32 operands, every output dtype, biases of
// each dtype and none, M past a block (48) and a register tile (6) with tails, N with an odd
// panel count and past a block (256), K past the K step (512) and K = 0; strided inputs; NaN
// rows (the canonical NaN, as every GEMM kernel writes); a Linear's packed weights reused. With GELU: the same bits on the portable path and
// the derived bound of the vector paths' tanh16.

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <optional>
#include <random>
#include <vector>

#include <fmt/format.h>

#include "runtime/linear.hpp"
#include "jit/impls/tuning_space.hpp"
#include "runtime/ops/gemm.hpp"
#include "runtime/ops/host_gemm_f32.hpp"
#include "tests/support/checks.hpp"
#include "tests/support/host_isa.hpp"
#include "tests/support/random_tensor.hpp"

namespace qjit {
namespace {

using HostGemmF32 = test::HostIsaTest;
using test::IsaScope;

using test::randn;

void expect_same_bytes(const Tensor& got, const Tensor& want, const std::string& what) {
  ASSERT_EQ(got.dtype(), want.dtype()) << what;
  ASSERT_EQ(got.shape(), want.shape()) << what;
  const Tensor g = got.contiguous(), w = want.to(Device::cpu()).contiguous();
  EXPECT_EQ(std::memcmp(g.raw_data_ptr(), w.raw_data_ptr(), w.nbytes()), 0) << what;
}

GemmOptions options(std::optional<Tensor> bias, DType out, bool gelu = false) {
  GemmOptions o;
  o.bias = std::move(bias);
  o.out_dtype = out;
  o.gelu_tanh = gelu;
  return o;
}

GemmOptions on_ref(GemmOptions o) {
  if (o.bias) o.bias = o.bias->to(Device::cpu_ref());
  return o;
}

TEST_P(HostGemmF32, IsBitIdenticalToTheReference) {
  IsaScope isa(GetParam());
  struct Case {
    DType in, out;
    std::optional<DType> bias;
    std::int64_t m, n, k;
  };
  unsigned seed = 700;
  for (const Case& c : {Case{DType::kF16, DType::kF16, DType::kF16, 53, 272, 600},
                        Case{DType::kF32, DType::kF32, std::nullopt, 7, 300, 1100},
                        Case{DType::kF16, DType::kF32, DType::kBF16, 1, 16, 9},
                        Case{DType::kF32, DType::kBF16, DType::kF32, 100, 40, 64},
                        Case{DType::kF16, DType::kBF16, std::nullopt, 49, 48, 1},
                        Case{DType::kF32, DType::kF16, DType::kF16, 6, 17, 513}}) {
    const std::string what = fmt::format("{} -> {} bias {} m={} n={} k={}", dtype_name(c.in), dtype_name(c.out),
                                         c.bias ? dtype_name(*c.bias) : "none", c.m, c.n, c.k);
    const Tensor x = randn({c.m, c.k}, c.in, ++seed), w = randn({c.n, c.k}, c.in, ++seed, 0.1f);
    const GemmOptions o = options(c.bias ? std::optional<Tensor>(randn({c.n}, *c.bias, ++seed)) : std::nullopt, c.out);
    expect_same_bytes(gemm(x, w, o), gemm(x.to(Device::cpu_ref()), w.to(Device::cpu_ref()), on_ref(o)), what);
  }
}

TEST_P(HostGemmF32, StridedInputsNanRowsAndEmptyK) {
  IsaScope isa(GetParam());
  for (DType t : {DType::kF16, DType::kF32}) {
    const Tensor xt = randn({70, 9}, t, 81).transpose(0, 1);  // [9, 70], column stride 9
    const Tensor wt = randn({70, 20}, t, 82, 0.1f).transpose(0, 1);
    const GemmOptions o = options(randn({20}, DType::kF32, 83), DType::kF32);
    expect_same_bytes(gemm(xt, wt, o), gemm(xt.to(Device::cpu_ref()), wt.to(Device::cpu_ref()), on_ref(o)),
                      fmt::format("strided {}", dtype_name(t)));
    std::vector<float> v = randn({4, 33}, DType::kF32, 84).to_f32_vector();
    v[33 + 5] = std::nanf(""), v[2 * 33] = INFINITY;  // row 1 NaN; row 2 Inf
    const Tensor x = Tensor::from_vector<float>({4, 33}, v, t), w = randn({20, 33}, t, 85, 0.1f);
    // NOTE: the kernel writes the canonical NaN (DESIGN.md section 5), the reference whichever
    // NaN propagates: NaNs compare as NaNs, everything else bit for bit.
    const Tensor got = gemm(x, w, o);
    test::expect_same_bits(got.to_f32_vector(),
                           gemm(x.to(Device::cpu_ref()), w.to(Device::cpu_ref()), on_ref(o)).to_f32_vector(),
                           fmt::format("NaN / Inf rows {}", dtype_name(t)));
    for (float f : got.narrow(0, 1, 1).to_f32_vector()) EXPECT_EQ(std::bit_cast<std::uint32_t>(f), 0x7fffffffu);
    // M = 0 and N = 0: empty results.
    EXPECT_EQ(gemm(Tensor::empty({0, 8}, t, Device::cpu()), randn({4, 8}, t, 87)).shape(),
              (std::vector<std::int64_t>{0, 4}));
    EXPECT_EQ(gemm(randn({2, 8}, t, 88), Tensor::empty({0, 8}, t, Device::cpu())).shape(),
              (std::vector<std::int64_t>{2, 0}));
    const Tensor x0 = Tensor::empty({3, 0}, t, Device::cpu()), w0 = Tensor::empty({5, 0}, t, Device::cpu());
    const GemmOptions ob = options(randn({5}, DType::kBF16, 86), DType::kF32);
    expect_same_bytes(gemm(x0, w0, ob), gemm(x0.to(Device::cpu_ref()), w0.to(Device::cpu_ref()), on_ref(ob)),
                      fmt::format("K = 0 {}", dtype_name(t)));
  }
}

TEST_P(HostGemmF32, GeluIsTheReferenceFormula) {
  IsaScope isa(GetParam());
  const Tensor x = randn({11, 96}, DType::kF16, 91, 2.0f), w = randn({40, 96}, DType::kF16, 92, 0.1f);
  const Tensor xr = x.to(Device::cpu_ref()), wr = w.to(Device::cpu_ref());
  const GemmOptions o = options(randn({40}, DType::kF32, 93), DType::kF32, true);
  GemmOptions no_gelu = o;
  no_gelu.gelu_tanh = false;
  const Tensor pre = gemm(xr, wr, on_ref(no_gelu));  // GELU's input: the same bits on every path
  const Tensor y = gemm(x, w, o), want = gemm(xr, wr, on_ref(o));
  if (std::string(GetParam()) == "generic" || std::string(GetParam()) == "avx2") {  // the portable code
    expect_same_bytes(y, want, "gelu");
    return;
  }
  // As tests/quant_ops/host_linear_test.cpp derives: tanh16 is within 2^-21 of tanhf, so GELU =
  // (0.5 p)(1 + t) moves by at most 0.5 |p| 2^-21, and the last product rounds once more.
  const std::vector<float> p = pre.to_f32_vector(), g = y.to_f32_vector(), r = want.to_f32_vector();
  ASSERT_EQ(g.size(), r.size());
  for (std::size_t i = 0; i < g.size(); ++i) {
    const double bound = 0.5 * std::fabs(p[i]) * std::ldexp(1.0, -21) + std::ldexp(std::fabs(r[i]), -23);
    EXPECT_LE(std::fabs(static_cast<double>(g[i]) - r[i]), bound) << "element " << i << " pre " << p[i];
  }
}

TEST_P(HostGemmF32, ALinearPacksItsWeightsOnce) {
  IsaScope isa(GetParam());
  Linear layer(randn({24, 40}, DType::kF16, 95, 0.1f), randn({24}, DType::kF16, 96));
  const Tensor x = randn({5, 40}, DType::kF16, 97);
  const Tensor first = layer.forward(x), again = layer.forward(x);
  expect_same_bytes(again, first, "the packed weights reused");
  Linear ref(randn({24, 40}, DType::kF16, 95, 0.1f).to(Device::cpu_ref()), randn({24}, DType::kF16, 96).to(Device::cpu_ref()));
  expect_same_bytes(first, ref.forward(x.to(Device::cpu_ref())), "against cpu:ref");
}

// A config (what `qjit autotune` searches: register tile, blocks, K step, threads) changes
// speed, never bits: the tuning space's first candidates, a one-thread run and K steps shorter
// than K all give the reference's output.
TEST_P(HostGemmF32, EveryTuningCandidateGivesTheReferenceBits) {
  IsaScope isa(GetParam());
  const std::int64_t m = 61, n = 200, k = 1100;
  const Tensor x = randn({m, k}, DType::kF16, 98), w = randn({n, k}, DType::kF16, 99, 0.1f);
  const std::optional<Tensor> bias = randn({n}, DType::kF32, 100);
  const Tensor want = gemm(x.to(Device::cpu_ref()), w.to(Device::cpu_ref()), on_ref(options(bias, DType::kBF16)));
  const HostF32Weight packed = pack_host_f32_weight(w);
  const jit::impls::HostGemmF32Desc desc = host_gemm_f32_desc(packed, bias, Activation::kNone, DType::kBF16);
  const auto list = jit::impls::host_gemm_f32_candidates(desc, m, n, k, 2);
  std::vector<jit::impls::HostGemmF32Config> configs(list.begin(), list.begin() + 8);
  for (const auto& c : list) {
    if (c.threads == 1 || (c.mr != list.front().mr && c.kc == 2048)) configs.push_back(c);
    if (configs.size() == 10) break;
  }
  ASSERT_EQ(configs.size(), 10u);
  for (const auto& c : configs) {
    expect_same_bytes(host_gemm_f32(packed, x, bias, Activation::kNone, DType::kBF16, c), want,
                      jit::impls::host_gemm_f32_label(c));
  }
}

INSTANTIATE_TEST_SUITE_P(Isa, HostGemmF32, ::testing::Values("amx", "avx512_vnni", "avx2", "generic"), test::isa_test_name);

}  // namespace
}  // namespace qjit
