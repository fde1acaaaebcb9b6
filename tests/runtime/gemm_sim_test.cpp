// The unquantized GEMM op (runtime/ops/gemm.hpp) on the sim device — the qgemm_wo kernel with
// weights of the activation dtype — against the cpu reference (runtime/ops/gemm_reference.hpp)
// within an NMSE bound derived below; the default config's sim counters (no bank conflicts,
// coalesced loads); the op on sim and cuda (skipped with the reason without a GPU; every
// shipped config on a GPU); the op's validation on cpu and sim.
// NOTE: the sim runs ~10-25 M thread-instructions/s on one host core: shapes stay small and
// the combinations are covered pairwise (DESIGN.md section 8). The one slow test (the
// Wan-sized shape) is named GemmSim.SlowWanShape*.

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <set>

#include <fmt/format.h>

#include "common/error.hpp"
#include "runtime/ops/gemm.hpp"
#include "sim/sim_driver.hpp"
#include "tests/support/checks.hpp"
#include "tests/support/gemm_bound.hpp"
#include "tests/support/gemm_data.hpp"
#include "tests/support/sim_devices.hpp"
#include "tests/support/cuda_required.hpp"

namespace qjit {
namespace {

using jit::impls::WeightOnlyConfig;

using namespace test::wo_configs;
using namespace test;  // tests/support/

struct Problem {
  std::int64_t m = 0, n = 0, k = 0;
  DType dtype = DType::kBF16;  // x and w
  std::optional<DType> bias;   // none, or its dtype
  bool gelu = false;
  DType out = DType::kBF16;
  std::optional<WeightOnlyConfig> config;  // the heuristic's when absent
  const char* arch = "sm_89";

  std::string str() const {
    return fmt::format("{} M={} N={} K={} {} bias={} gelu={} out={} config={}", arch, m, n, k, dtype_name(dtype),
                       bias ? dtype_name(*bias) : "none", gelu, dtype_name(out), config ? config->str() : "heuristic");
  }
};

Problem problem(std::int64_t m, std::int64_t n, std::int64_t k) {
  Problem p;
  p.m = m, p.n = n, p.k = k;
  return p;
}

struct Operands {
  Tensor x, w;
  std::optional<Tensor> bias;
};

Operands make_operands(const Problem& p, unsigned seed) {
  Operands o;
  o.x = Tensor::from_vector<float>({p.m, p.k}, random_matrix(p.m, p.k, seed, true)).to_dtype(p.dtype);
  // Weights scaled like a trained layer's (~1/sqrt(K)), so outputs stay O(1).
  std::vector<float> w = random_matrix(p.n, p.k, seed + 1, false);
  for (float& v : w) v *= 0.05f;
  o.w = Tensor::from_vector<float>({p.n, p.k}, w).to_dtype(p.dtype);
  if (p.bias) o.bias = bias_tensor(p.n, *p.bias);
  return o;
}

GemmOptions options_of(const Problem& p, const Operands& o) {
  GemmOptions opt;
  opt.bias = o.bias;
  opt.gelu_tanh = p.gelu;
  opt.out_dtype = p.out;
  opt.config = p.config;
  return opt;
}

using Outputs = test::SimOutputs;

// The op on the sim device of p.arch (x there, weights and bias from the cpu) and on the cpu.
Outputs run_both(const Problem& p, const Operands& o) {
  auto driver = sim_device(p.arch);
  const GemmOptions opt = options_of(p, o);
  Outputs r;
  const Tensor y = gemm(o.x.to(Device::sim(), driver), o.w, opt);
  r.counters = driver->last_counters();
  EXPECT_EQ(y.shape(), (std::vector<std::int64_t>{p.m, p.n}));
  EXPECT_EQ(y.dtype(), p.out);
  EXPECT_TRUE(y.device() == Device::sim());
  r.sim = y.to(Device::cpu()).to_f32_vector();
  r.ref = gemm(o.x, o.w, opt).to_f32_vector();  // the cpu runs the reference
  return r;
}

// Σ (got - want)^2 / Σ want^2 in float64; positions where both are NaN or the same infinity
// are skipped, a NaN or infinity on one side only gives +Inf.
double nmse(const std::vector<float>& got, const std::vector<float>& want) {
  double num = 0, den = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(got[i]) && std::isnan(want[i])) continue;
    if (std::isinf(got[i]) || std::isinf(want[i]) || std::isnan(got[i]) || std::isnan(want[i])) {
      if (got[i] == want[i]) continue;
      return INFINITY;
    }
    const double d = static_cast<double>(got[i]) - want[i];
    num += d * d, den += static_cast<double>(want[i]) * want[i];
  }
  return den == 0 ? (num == 0 ? 0 : INFINITY) : num / den;
}

// ---- NMSE bound ------------------------------------------------------------------------
//
// Both sides multiply the same bf16/f16 values widened exactly to fp32, so each product
// p_k = x_k w_k is the same exact fp32 number (at most 2 x 11 significant bits, exponents in
// range). They differ in how the products are summed, and in approximations:
//  - Summation. The reference adds the K products sequentially from +0: K - 1 roundings,
//    |acc_ref - Σp| <= γ(K) Σ|p| (u = 2^-24, γ(n) = n u / (1 - n u)). The kernel runs K / 16
//    mma steps, each adding 16 products to the fp32 accumulator in an order and with a
//    rounding the PTX ISA does not fix (tensor cores may align to the largest exponent and
//    truncate: up to one ulp, 2u, per addition), so each step gets the error of 16
//    sequential truncating additions: |acc_dev - Σp| <= 2 γ(K + 16) Σ|p|. Together
//    |acc_dev - acc_ref| <= 1.01 (3 K + 32) u Σ|p|.
//  - Epilogue (acc + bias, one rounding on each side), GELU and output rounding:
//    tests/support/gemm_bound.hpp, whose per-element bound e (test::element_error) takes
//    acc_err = 1.01 (3 K + 32) u Σ|p|. And
// NMSE <= Σ e^2 / Σ ref^2, the bound checked. A wrong index, a lost k-step or a swapped
// fragment gives NMSE ~ 1, far above it.
double nmse_bound(const Problem& p, const Operands& o, const std::vector<float>& ref) {
  const double u = std::ldexp(1.0, -24);
  const double acc_gamma = 1.01 * (3.0 * static_cast<double>(p.k) + 32.0) * u;
  const std::vector<float> x = o.x.to_f32_vector(), w = o.w.to_f32_vector();
  const std::vector<float> b = o.bias ? o.bias->to_f32_vector() : std::vector<float>(static_cast<size_t>(p.n), 0.0f);
  double num = 0, den = 0;
  for (std::int64_t m = 0; m < p.m; ++m) {
    for (std::int64_t n = 0; n < p.n; ++n) {
      const float r = ref[m * p.n + n];
      if (!std::isfinite(r)) continue;
      double abs_sum = 0, sum = 0;
      for (std::int64_t k = 0; k < p.k; ++k) {
        const double prod = static_cast<double>(x[m * p.k + k]) * w[n * p.k + k];
        abs_sum += std::fabs(prod), sum += prod;
      }
      const double y = sum + b[n];
      const double e = element_error(acc_gamma * abs_sum, y, r, p.gelu, p.out);
      num += e * e;
      den += static_cast<double>(r) * r;
    }
  }
  return den == 0 ? 0 : num / den;
}

// One problem against the reference: NMSE within the bound and, without GELU, the all-zero
// activation rows bit for bit (both sides: +0 + bias, rounded).
void check_problem(const Problem& p, unsigned seed) {
  SCOPED_TRACE(p.str());
  const Operands o = make_operands(p, seed);
  const Outputs r = run_both(p, o);
  const double got = nmse(r.sim, r.ref), bound = nmse_bound(p, o, r.ref);
  EXPECT_LE(got, bound);
  EXPECT_GT(bound, 0.0);
  if (!p.gelu) {
    for (std::int64_t m = 3; m < p.m; m += 5) {
      for (std::int64_t n = 0; n < p.n; ++n) {
        ASSERT_EQ(std::memcmp(&r.sim[m * p.n + n], &r.ref[m * p.n + n], 4), 0) << "zero row " << m << ", col " << n;
      }
    }
  }
  std::printf("%s: NMSE %.3g (bound %.3g), sim %.2f s, %.1f M thread-instructions\n", p.str().c_str(), got, bound,
              r.counters.seconds, r.counters.thread_instructions / 1e6);
}

// dtype x bias x GELU x out x config, every pair of values of any two of them at least once
// (checked below), on shapes with tails (M in {1, 7, 129}, N and K from {16, 48, 128, 1536})
// and the three archs; one more row runs the fourth shipped config (kWide).
TEST(GemmSim, PairwiseWithinDerivedNmse) {
  const auto none = std::optional<DType>{};
  const DType bf = DType::kBF16, f16 = DType::kF16, f32 = DType::kF32;
  const std::vector<Problem> problems = {
      {1, 1536, 128, bf, f32, true, f32, kMedium, "sm_80"},
      {129, 48, 128, f16, bf, false, bf, kLarge, "sm_89"},
      {7, 128, 1536, bf, f16, false, f16, kSmall, "sm_90"},
      {129, 16, 48, f16, none, true, f16, kSmall, "sm_80"},
      {1, 48, 1536, f16, f16, true, bf, kMedium, "sm_89"},
      {7, 1536, 16, bf, none, false, f32, kLarge, "sm_90"},
      {129, 128, 48, bf, bf, true, f32, kSmall, "sm_89"},
      {7, 16, 128, f16, f32, false, f16, kLarge, "sm_80"},
      {1, 128, 16, bf, none, false, bf, kMedium, "sm_90"},
      {129, 48, 1536, f16, f16, true, f32, kLarge, "sm_80"},
      {7, 48, 48, bf, f32, true, bf, kSmall, "sm_89"},
      {1, 16, 1536, f16, bf, true, f16, kMedium, "sm_90"},
      {129, 256, 128, bf, bf, false, bf, kWide, "sm_89"},
  };
  auto values = [](const Problem& p) {
    const int cfg = *p.config == kSmall ? 0 : *p.config == kMedium ? 1 : *p.config == kLarge ? 2 : 3;
    return std::vector<int>{static_cast<int>(p.dtype), p.bias ? static_cast<int>(*p.bias) + 1 : 0, p.gelu ? 1 : 0,
                            static_cast<int>(p.out), cfg};
  };
  const std::vector<int> counts = {2, 4, 2, 3, 3};  // values per dimension (configs: small, medium, large)
  std::set<std::vector<int>> seen;
  std::vector<std::set<int>> distinct(counts.size());
  for (const Problem& p : problems) {
    const std::vector<int> v = values(p);
    for (size_t a = 0; a < v.size(); ++a) {
      distinct[a].insert(v[a]);
      for (size_t b = a + 1; b < v.size(); ++b) seen.insert({static_cast<int>(a), v[a], static_cast<int>(b), v[b]});
    }
  }
  size_t pairs = 0;
  for (size_t a = 0; a < counts.size(); ++a) {
    EXPECT_GE(distinct[a].size(), static_cast<size_t>(counts[a])) << "dimension " << a;
    for (size_t b = a + 1; b < counts.size(); ++b)
      for (int va : distinct[a])
        for (int vb : distinct[b]) {
          if ((a == 4 && va == 3) || (b == 4 && vb == 3)) continue;  // kWide is an extra value
          ++pairs;
          EXPECT_TRUE(seen.count({static_cast<int>(a), va, static_cast<int>(b), vb}))
              << "pair not covered: dimension " << a << " = " << va << ", dimension " << b << " = " << vb;
        }
  }
  EXPECT_EQ(pairs, 2u * 4 + 2 * 2 + 2 * 3 + 2 * 3 + 4 * 2 + 4 * 3 + 4 * 3 + 2 * 3 + 2 * 3 + 3 * 3);
  unsigned seed = 1;
  for (const Problem& p : problems) check_problem(p, seed++);
}

// One Wan2.1-1.3B-sized layer (M=256, N=K=1536), bf16 with a bf16 bias, the heuristic's
// config. The slowest sim test of the op.
TEST(GemmSim, SlowWanShapeWithinDerivedNmse) {
  Problem p = problem(256, 1536, 1536);
  p.bias = DType::kBF16;
  const auto t0 = std::chrono::steady_clock::now();
  check_problem(p, 77);
  std::printf("%.1f s in all\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

// The default config of a small-M (decode-like) and a mid-M problem: no shared-memory bank
// conflicts anywhere in the kernel, >= 90 % of the global bytes moved are used, nothing in
// local memory.
TEST(GemmSim, DefaultConfigHasNoBankConflictsAndCoalescedLoads) {
  for (std::int64_t m : {16, 64}) {
    Problem p = problem(m, 256, 512);
    p.dtype = m == 16 ? DType::kF16 : DType::kBF16;
    const Operands o = make_operands(p, 31);
    const Outputs r = run_both(p, o);
    SCOPED_TRACE(p.str());
    const auto& c = r.counters;
    expect_clean_main_loop(c);
    EXPECT_LE(nmse(r.sim, r.ref), nmse_bound(p, o, r.ref));
    std::printf("%s: %s\n", p.str().c_str(), c.str().c_str());
  }
}

// Configs never change results (the same k16 mma steps in the same order), and every main
// loop is free of bank conflicts: the shipped ones and others, tile_k 128 (256-byte rows,
// the capped swizzle) among them.
TEST(GemmSim, EveryConfigGivesTheSameBitsWithoutBankConflicts) {
  Problem p = problem(33, 256, 272);
  p.bias = DType::kBF16, p.out = DType::kF32;
  const Operands o = make_operands(p, 500);
  std::vector<float> first;
  const std::vector<WeightOnlyConfig> configs = {
      kSmall, kMedium, kLarge, kWide, {32, 64, 128, 2, 2, 2}, {64, 64, 32, 2, 2, 5}, {16, 128, 64, 1, 4, 3},
      {64, 128, 64, 2, 2, 4}, {128, 128, 64, 2, 4, 3}};
  for (const WeightOnlyConfig& c : configs) {
    p.config = c;
    SCOPED_TRACE(p.str());
    const Outputs r = run_both(p, o);
    EXPECT_EQ(r.counters.bank_conflicts(), 0u) << r.counters.str();
    if (first.empty()) {
      first = r.sim;
      EXPECT_LE(nmse(r.sim, r.ref), nmse_bound(p, o, r.ref));
    } else {
      ASSERT_EQ(r.sim.size(), first.size());
      EXPECT_EQ(std::memcmp(r.sim.data(), first.data(), 4 * first.size()), 0);
    }
  }
}

// A strided activation view is read in place; a misaligned one is copied; K = 0 gives the
// epilogue of zero, act(bias).
TEST(GemmSim, ViewsAndEmptyK) {
  auto driver = sim_device("sm_89");
  Problem p = problem(9, 32, 64);
  p.out = DType::kF32;
  const Operands o = make_operands(p, 43);
  const std::vector<float> want = gemm(o.x, o.w, options_of(p, o)).to_f32_vector();
  for (std::int64_t offset : {32, 4}) {  // 64-byte (in place) and 8-byte (copied) aligned starts
    std::vector<float> wide(static_cast<size_t>(p.m * 128), 3.0f);
    const std::vector<float> xf = o.x.to_f32_vector();
    for (std::int64_t m = 0; m < p.m; ++m) std::copy_n(&xf[m * p.k], p.k, &wide[m * 128 + offset]);
    const Tensor wide_x = Tensor::from_vector<float>({p.m, 128}, wide).to_dtype(DType::kBF16);
    const Tensor view = wide_x.to(Device::sim(), driver).narrow(1, offset, 64);
    const std::vector<float> got = gemm(view, o.w, options_of(p, o)).to(Device::cpu()).to_f32_vector();
    EXPECT_LE(nmse(got, want), nmse_bound(p, o, want)) << "offset " << offset;
  }
  Problem e = problem(5, 32, 0);
  e.bias = DType::kF32, e.gelu = true, e.out = DType::kF32;
  const Operands oe = make_operands(e, 47);
  const Outputs r = run_both(e, oe);
  EXPECT_LE(nmse(r.sim, r.ref), nmse_bound(e, oe, r.ref));  // GELU's tanh.approx only
}

// ---- every device ----------------------------------------------------------------------

// The op on the device named by the parameter against the cpu within the derived bound (the
// bound covers any tensor-core summation order, so it holds on a GPU too): on sim the
// heuristic's config on two small problems; on cuda (skipped with the reason when no GPU
// answers) every shipped config and Wan-sized shapes as well.
class GemmOnDevice : public ::testing::TestWithParam<const char*> {};

TEST_P(GemmOnDevice, IsWithinTheDerivedBound) {
  const Device dev = Device::parse(GetParam());
  try {
    driver_for(dev);
  } catch (const Error& e) {
    if (dev.kind == DeviceKind::kCuda && test::cuda_required()) FAIL() << "cuda required: " << e.message();
    GTEST_SKIP() << "device " << GetParam() << " unavailable: " << e.message();
  }
  std::vector<Problem> problems = {problem(7, 48, 128), problem(129, 128, 272)};
  problems[1].dtype = DType::kF16, problems[1].bias = DType::kF32, problems[1].gelu = true;
  if (dev.kind == DeviceKind::kCuda) {
    problems.push_back(problem(512, 1536, 1536));
    for (const WeightOnlyConfig& c : jit::impls::qgemm_wo_shipped_configs()) {
      Problem p = problem(300, 1536, 512);
      p.config = c, p.out = DType::kF32, p.bias = DType::kBF16;
      problems.push_back(p);
    }
  }
  for (const Problem& p : problems) {
    SCOPED_TRACE(p.str());
    const Operands o = make_operands(p, 3);
    const GemmOptions opt = options_of(p, o);
    const Tensor y = gemm(o.x.to(dev), o.w.to(dev), opt);
    EXPECT_EQ(y.device(), dev);
    const std::vector<float> got = y.to(Device::cpu()).to_f32_vector(), want = gemm(o.x, o.w, opt).to_f32_vector();
    EXPECT_LE(nmse(got, want), nmse_bound(p, o, want));
  }
}

INSTANTIATE_TEST_SUITE_P(Devices, GemmOnDevice, ::testing::Values("cuda", "sim"),
                         [](const auto& info) { return std::string(info.param); });

// ---- validation ------------------------------------------------------------------------

TEST(GemmSim, RejectsBadInputsNamingThem) {
  auto driver = sim_device("sm_89");
  auto t = [](std::int64_t r, std::int64_t c, DType d = DType::kBF16) { return Tensor::zeros({r, c}, d); };
  auto on_sim = [&](const Tensor& x) { return x.to(Device::sim(), driver); };
  const auto has = expect_error_mentions;
  has([&] { gemm(Tensor::zeros({4}, DType::kBF16), t(16, 4)); }, "activations must be [M, K]");
  has([&] { gemm(t(4, 32), Tensor::zeros({32}, DType::kBF16)); }, "weights must be [N, K]");
  has([&] { gemm(t(4, 32, DType::kI8), t(16, 32, DType::kI8)); }, "activations must be bf16, f16 or f32");
  has([&] { gemm(t(4, 32), t(16, 32, DType::kF16)); }, "weights must have the activations' dtype bf16");
  has([&] { gemm(t(4, 32), t(16, 48)); }, "K differs");
  GemmOptions bad_bias;
  bad_bias.bias = Tensor::zeros({15}, DType::kF32);
  has([&] { gemm(t(4, 32), t(16, 32), bad_bias); }, "bias must be [N] = [16]");
  bad_bias.bias = Tensor::zeros({16}, DType::kI8);
  has([&] { gemm(t(4, 32), t(16, 32), bad_bias); }, "bias must be f32, f16 or bf16");
  GemmOptions bad_out;
  bad_out.out_dtype = DType::kI8;
  has([&] { gemm(t(4, 32), t(16, 32), bad_out); }, "output dtype int8");
  // The cpu takes any N and K and f32; the kernel needs multiples of 16 and bf16/f16.
  EXPECT_EQ(error_of([&] { gemm(t(4, 40), t(24, 40)); }), "");
  EXPECT_EQ(error_of([&] { gemm(t(4, 40, DType::kF32), t(24, 40, DType::kF32)); }), "");
  has([&] { gemm(on_sim(t(4, 32)), t(24, 32)); }, "N = 24");
  has([&] { gemm(on_sim(t(4, 40)), t(32, 40)); }, "K = 40");
  has([&] { gemm(on_sim(t(4, 32, DType::kF32)), t(32, 32, DType::kF32)); }, "run on the cpu only");
  has([&] { gemm(t(4, 32), on_sim(t(32, 32))); }, "activations are on the cpu but weights");
}

}  // namespace
}  // namespace qjit
