// The attention kernel family (templates/impls/attention.cuh) through the op
// (runtime/ops/attention.hpp) on the sim device: against a float64 ideal and against the cpu
// reference (runtime/ops/attention_reference.hpp) within NMSE bounds derived below; f32 / f16
// / bf16 inputs and outputs, head_dim 64 and 128 (and a small odd multiple of 8), query and
// key counts with tails (1 included), B = 2, H = 2..3, cross-attention shapes (Sq != Skv),
// sm_80 and sm_90; strided views; the sim/cuda-only errors; and the op on cuda (skipped with
// the reason when no GPU answers).
// NOTE: the sim interprets PTX at ~10-25 M thread-instructions/s: shapes stay small and the
// combinations are covered pairwise (DESIGN.md section 8).

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include <fmt/format.h>

#include "common/error.hpp"
#include "jit/compiler.hpp"
#include "jit/source_gen.hpp"
#include "runtime/kernels.hpp"
#include "runtime/ops/attention.hpp"
#include "tests/runtime/attention_ideal.hpp"
#include "tests/support/checks.hpp"
#include "tests/support/compile_checks.hpp"
#include "tests/support/sim_devices.hpp"
#include "tests/support/cuda_required.hpp"

namespace qjit {
namespace {

using test::gamma;
using test::Ideal;
using test::ideal;
using test::unit_roundoff;
using test::nmse;

using test::sim_device;

struct Case {
  std::int64_t b = 1, sq = 1, skv = 1, heads = 1, dh = 64;
  DType in = DType::kBF16, out = DType::kBF16;
  const char* arch = "sm_90";
  std::string str() const {
    return fmt::format("{} B={} Sq={} Skv={} H={} Dh={} {} -> {}", arch, b, sq, skv, heads, dh, dtype_name(in),
                       dtype_name(out));
  }
};

Tensor make(std::int64_t b, std::int64_t s, std::int64_t w, DType t, unsigned seed, float amp = 1.0f) {
  return test::attention_input(b, s, w, t, seed, amp);
}

// ---- float64 ideal and the bounds ------------------------------------------------------
//
// u = 2^-24, γ(n) = n u / (1 - n u); the ideal is computed from the same rounded inputs, so
// input rounding is no error. Per row (b, i, h), R = max_j |s_j| (natural-log units, s = q k
// scale), A = max_j Σ_d |q_d k_jd|, T = ceil(Skv / tile) key tiles (tile >= 16), and
// W_d = Σ_j P_j |v_jd| / Σ_j P_j (P the ideal softmax weights).
//
// The kernel (templates/impls/attention.cuh):
//  - Logits: Dh products summed in fp32 (sequential fma on CUDA cores; on tensor cores in
//    k16 chunks whose additions may truncate, up to 2u each): |δdot| <= 2 γ(Dh + 16) A; times
//    scale * log2(e), rounded to fp32 on the host (one rounding of the double product, u,
//    plus the float's, u) and one multiplication (u): natural-log logits off by
//    δ <= scale 2 γ(Dh + 16) A + 3 u R.
//  - Weights: p_j = ex2(s_j - m) times the rescales 2^(m_old - m_new) of the later tiles. The
//    running max cancels in the softmax (the rescales telescope) except through roundings:
//    each subtraction s - m or m_old - m_new rounds once, an error of at most u 2R log2(e)
//    in log2 units, i.e. u 2R in natural-log units (one per weight, one per tile); each
//    ex2.approx is off by 2^-22 relative (the PTX ISA's 2 ulp); each rescale multiplication
//    of l and acc by u. So every weight, the max's error included, is off relatively by
//    η <= 2 δ + (T + 1) (4 u R + 2^-22 + u); where the weights are rounded to the input's
//    16-bit type for a tensor-core P·V product, u_in (2^-11 f16, 2^-8 bf16) more in the
//    numerator only (counted for 16-bit inputs whichever path runs).
//  - o_d = acc_d / l: the numerator Σ p_j v_jd and the denominator Σ p_j summed in fp32 in
//    tiles (sequential, a warp's 5-level tree, or tensor cores that may truncate: 2 γ(Skv +
//    2T + 16) covers each), one division (u):
//    |δo_d| <= 1.01 ((2 η + u_in + 4 γ(Skv + 2T + 16)) W_d + u |o_d|) (1.01: second-order
//    terms), then the output rounding u_out |o_d| (2^-24 f32, 2^-11 f16, 2^-8 bf16).
// NMSE(kernel, ideal) <= Σ e_d² / Σ o_d² =: B_dev.
// The reference (derived in tests/runtime/attention_test.cpp) has a bound B_ref <= B_dev's
// (no tiles, no ex2.approx, no P rounding), so by the triangle inequality on the error
// vector's norm NMSE(kernel, reference) <= (sqrt(B_dev) + sqrt(B_ref))² <= 4 B_dev, with the
// ideal's Σ o² as the denominator of all three.
// The bound is worst-case (every rounding against the sum of magnitudes W_d, not |o_d|): the
// measured NMSE sits 10-200x below it. A wrong head or dim gives NMSE ~ 1; the tests check
// that losing one 64-key tile lands outside even 4 B_dev.
double device_bound(const Ideal& id, const Case& c, double scale) {
  return test::attention_device_bound(id, {c.skv, c.heads, c.dh, c.in, c.out}, scale);
}

std::vector<float> as_f32(const std::vector<double>& x) { return std::vector<float>(x.begin(), x.end()); }

// q, k, v on the cpu; the op on `dev` (q there, k and v moved too when `all_on_device`, else
// left on the cpu for the op to copy) against the ideal and the cpu reference.
void check_case(const Case& c, const Device& dev, const std::shared_ptr<Driver>& driver, bool all_on_device = true) {
  SCOPED_TRACE(c.str());
  const std::int64_t w = c.heads * c.dh;
  const Tensor q = make(c.b, c.sq, w, c.in, 1, 2.0f), k = make(c.b, c.skv, w, c.in, 2, 2.0f),
               v = make(c.b, c.skv, w, c.in, 3, 1.0f);
  AttentionOptions opt;
  opt.out_dtype = c.out;
  const Tensor qd = q.to(dev, driver);
  const Tensor kd = all_on_device ? k.to(dev, driver) : k, vd = all_on_device ? v.to(dev, driver) : v;
  const Tensor o = attention(qd, kd, vd, c.heads, opt);
  ASSERT_EQ(o.shape(), (std::vector<std::int64_t>{c.b, c.sq, w}));
  ASSERT_EQ(o.dtype(), c.out);
  ASSERT_TRUE(o.device() == dev);
  const std::vector<float> got = o.to(Device::cpu()).to_f32_vector();
  const std::vector<float> ref = attention(q, k, v, c.heads, opt).to_f32_vector();
  const double scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(c.dh)));
  const Ideal id = ideal(q, k, v, c.heads, scale);
  const double bound = device_bound(id, c, scale);
  if (c.skv > 64) {
    // The bound is tight enough to see a lost key tile (a missed rescale or tile bound):
    // the ideal without the first 64 keys is outside it.
    const Tensor k_tail = k.narrow(1, 64, c.skv - 64), v_tail = v.narrow(1, 64, c.skv - 64);
    EXPECT_GT(nmse(as_f32(ideal(q, k_tail, v_tail, c.heads, scale).o), as_f32(id.o), id.o), 4 * bound);
  }
  EXPECT_LE(nmse(got, as_f32(id.o), id.o), bound) << "vs the float64 ideal";
  EXPECT_LE(nmse(got, ref, id.o), 4 * bound) << "vs the fp32 reference";
}

// Pairwise over (dtype in, dtype out, Dh, Sq, Skv, B/H, arch): every tail kind (1, below a
// tile, a tile and a bit) meets every dtype and head_dim.
TEST(AttentionSim, MatchesIdealAndReference) {
  const std::vector<Case> cases = {
      // dtype,         Dh,  Sq,  Skv: self- and cross-attention, tails and ones
      {2, 5, 37, 2, 64, DType::kBF16, DType::kBF16, "sm_90"},
      {1, 1, 1, 3, 64, DType::kF16, DType::kF32, "sm_80"},
      {2, 3, 1, 2, 128, DType::kBF16, DType::kF32, "sm_80"},
      {1, 7, 7, 2, 128, DType::kF16, DType::kF16, "sm_90"},
      {2, 2, 33, 3, 64, DType::kF32, DType::kF32, "sm_80"},
      {1, 6, 20, 2, 128, DType::kF32, DType::kBF16, "sm_90"},
      {1, 9, 5, 3, 24, DType::kF32, DType::kF16, "sm_90"},
      // Several key tiles (64 on tensor cores, 32 on CUDA cores: the online rescaling) with
      // a tail, and two query blocks on tensor cores (64 rows per CTA) with a tail.
      {1, 70, 130, 2, 64, DType::kBF16, DType::kBF16, "sm_80"},
      {2, 3, 150, 2, 128, DType::kF16, DType::kF16, "sm_90"},
      {1, 5, 70, 2, 64, DType::kF32, DType::kF32, "sm_90"},
      // 16-bit inputs with Dh not a multiple of 16: the CUDA-core kernel.
      {1, 4, 9, 2, 40, DType::kBF16, DType::kBF16, "sm_80"},
  };
  for (const Case& c : cases) check_case(c, Device::sim(), sim_device(c.arch));
}

// f16 / bf16 with Dh % 16 == 0 run on tensor cores (mma, ldmatrix.trans, cp.async) with a
// clean main loop: no bank conflicts, nothing in local memory; f32 on CUDA cores (no mma).
TEST(AttentionSim, PathsAndCounters) {
  auto driver = sim_device("sm_90");
  Case c;
  c.b = 1, c.sq = 64, c.skv = 128, c.heads = 1, c.dh = 128;
  check_case(c, Device::sim(), driver);
  const sim::SimCounters tc = driver->last_counters();
  EXPECT_GT(tc.mma, 0u);
  EXPECT_GT(tc.ldmatrix, 0u);
  EXPECT_GT(tc.cp_async, 0u);
  EXPECT_EQ(tc.bank_conflicts(), 0u) << tc.str();
  EXPECT_EQ(tc.local_accesses, 0u) << tc.str();
  c.sq = 4, c.skv = 40, c.dh = 64, c.in = c.out = DType::kF32;
  check_case(c, Device::sim(), driver);
  const sim::SimCounters cc = driver->last_counters();
  EXPECT_EQ(cc.mma, 0u);
  EXPECT_EQ(cc.bank_conflicts(), 0u) << cc.str();
  EXPECT_EQ(cc.local_accesses, 0u) << cc.str();
  EXPECT_GE(cc.global_load_efficiency(), 0.9) << cc.str();
}

// Both kernels across several key tiles on a sim that reports shared-memory races between
// barriers (K / V tiles overwritten while a warp still reads the previous ones).
TEST(AttentionSim, NoSharedMemoryRaces) {
  sim::SimDeviceConfig config = sim::SimDeviceConfig::for_arch("sm_90");
  config.options.race_check = true;
  const auto driver = std::make_shared<sim::SimDriver>(config);
  Case c;
  c.b = 1, c.sq = 20, c.skv = 140, c.heads = 1, c.dh = 64;
  check_case(c, Device::sim(), driver);  // tensor cores
  c.sq = 5, c.skv = 70, c.in = c.out = DType::kF32;
  check_case(c, Device::sim(), driver);  // CUDA cores
  c.sq = 3, c.skv = 40, c.dh = 256;       // 16-key tiles (Dh > 128): half the lanes hold no key
  check_case(c, Device::sim(), driver);
  c.in = c.out = DType::kBF16, c.dh = 192;  // 16-bit above 128: the CUDA-core kernel too
  check_case(c, Device::sim(), driver);
}

// A NaN logit makes its (batch, head)'s every row NaN, as in the reference (NaN-propagating
// max); a NaN value only its head dim; the other head stays finite.
TEST(AttentionSim, NaNPropagatesAsInTheReference) {
  auto driver = sim_device("sm_90");
  for (const DType t : {DType::kBF16, DType::kF32}) {
    SCOPED_TRACE(dtype_name(t));
    std::vector<float> kv = test::attention_values(1 * 6 * 128, 2, 2.0f), vv = test::attention_values(1 * 6 * 128, 3, 1.0f);
    kv[3 * 128 + 5] = NAN;       // key 3, head 0
    vv[4 * 128 + 64 + 7] = NAN;  // key 4, head 1, dim 7
    const Tensor q = make(1, 3, 128, t, 1, 2.0f);
    const Tensor k = Tensor::from_vector<float>({1, 6, 128}, kv).to_dtype(t);
    const Tensor v = Tensor::from_vector<float>({1, 6, 128}, vv).to_dtype(t);
    const std::vector<float> got =
        attention(q.to(Device::sim(), driver), k.to(Device::sim(), driver), v.to(Device::sim(), driver), 2)
            .to(Device::cpu())
            .to_f32_vector();
    const std::vector<float> ref = attention(q, k, v, 2).to_f32_vector();
    for (size_t i = 0; i < got.size(); ++i) {
      const std::int64_t col = static_cast<std::int64_t>(i % 128);
      const bool nan = col < 64 || col == 64 + 7;
      EXPECT_EQ(std::isnan(got[i]), nan) << "element " << i;
      EXPECT_EQ(std::isnan(ref[i]), nan) << "element " << i;
    }
  }
}

TEST(AttentionSim, KeysAndValuesOnTheCpuAreCopied) {
  Case c;
  c.b = 2, c.sq = 3, c.skv = 4, c.heads = 2, c.dh = 64;
  check_case(c, Device::sim(), sim_device("sm_90"), /*all_on_device=*/false);
}

TEST(AttentionSim, StridedViewsEqualTheirContiguousCopies) {
  // q, k and v as column slices of one fused [B, S, 3W] projection on the device, as a model
  // gets them (last dimension contiguous, row stride 3W): read in place.
  auto driver = sim_device("sm_90");
  const std::int64_t w = 128;
  const Tensor qkv = make(2, 5, 3 * w, DType::kBF16, 12, 2.0f).to(Device::sim(), driver);
  const Tensor q = qkv.narrow(2, 0, w), k = qkv.narrow(2, w, w), v = qkv.narrow(2, 2 * w, w);
  EXPECT_TRUE(test::same_bits(attention(q, k, v, 2), attention(q.contiguous(), k.contiguous(), v.contiguous(), 2)));
  // Rows that do not start 16-byte aligned (a slice 4 elements in): copied for the tensor
  // cores' 16-byte loads, the same result.
  const Tensor wide = make(2, 5, w + 4, DType::kBF16, 13, 2.0f).to(Device::sim(), driver);
  const Tensor q4 = wide.narrow(2, 4, w);
  EXPECT_TRUE(test::same_bits(attention(q4, k, v, 2), attention(q4.contiguous(), k, v, 2)));
}

TEST(AttentionSim, RejectsWhatOnlyTheKernelCannotRun) {
  auto driver = sim_device("sm_90");
  auto on_sim = [&](std::int64_t b, std::int64_t s, std::int64_t w) {
    return Tensor::zeros({b, s, w}, DType::kBF16).to(Device::sim(), driver);
  };
  const auto has = test::expect_error_mentions;
  // head_dim 12 (not a multiple of 8) and 264 (above 256) run on the cpu only.
  has([&] { attention(on_sim(1, 2, 24), on_sim(1, 3, 24), on_sim(1, 3, 24), 2); }, "head_dim 12");
  has([&] { attention(on_sim(1, 2, 264), on_sim(1, 3, 264), on_sim(1, 3, 264), 1); }, "head_dim 264");
  EXPECT_EQ(test::error_of([&] {
              attention(Tensor::zeros({1, 2, 24}, DType::kBF16), Tensor::zeros({1, 3, 24}, DType::kBF16),
                        Tensor::zeros({1, 3, 24}, DType::kBF16), 2);
            }),
            "");
  // q on the cpu with k on the device.
  has([&] { attention(Tensor::zeros({1, 2, 64}, DType::kBF16), on_sim(1, 3, 64), on_sim(1, 3, 64), 1); },
      "q is on the cpu but k");
}

// The program compiles (cubins, ptxas) with no spills and no stack: Wan's bf16 Dh 128 on
// tensor cores for sm_80, sm_89 and sm_90; f16 Dh 64 and the widest CUDA-core case (f32,
// Dh 256) for sm_90. Both kernels of each program are checked (the unselected one is empty).
TEST(AttentionSim, CompilesWithoutSpills) {
  struct Build {
    const char* arch;
    jit::impls::AttentionDesc desc;
  };
  const std::vector<Build> builds = {{"sm_80", {DType::kBF16, DType::kBF16, 128}}, {"sm_89", {DType::kBF16, DType::kBF16, 128}},
                                     {"sm_90", {DType::kBF16, DType::kBF16, 128}}, {"sm_90", {DType::kF16, DType::kF32, 64}},
                                     {"sm_90", {DType::kF32, DType::kF32, 256}}};
  for (const Build& b : builds) {
    const jit::KernelSpec spec =
        jit::impls::attention_spec(b.desc, jit::impls::attention_heuristic(b.desc), jit::Arch::parse(b.arch));
    SCOPED_TRACE(spec.summary());
    const jit::Artifact a = jit::compile(jit::build_program(spec));
    ASSERT_EQ(a.kernels.size(), 2u);
    for (const jit::KernelInfo& k : a.kernels) test::expect_no_spills(a, k);
  }
  test::expect_error([] { jit::impls::attention_spec({DType::kF32, DType::kI8, 64}, {}, jit::Arch::parse("sm_90")); },
                     {"attention: output dtype 'int8'"});
  test::expect_error([] { jit::impls::attention_spec({DType::kBF16, DType::kBF16, 12}, {}, jit::Arch::parse("sm_90")); },
                     {"head_dim 12"});
  test::expect_error([] { jit::impls::attention_spec({DType::kBF16, DType::kBF16, 64}, {9}, jit::Arch::parse("sm_90")); },
                     {"warps 9"});
}

// The op on the device named by the parameter against the ideal and the cpu reference (the
// bounds cover any tensor-core summation order and ex2.approx's 2 ulp, so they hold on a GPU):
// skipped with the reason when the device does not answer; Wan-sized heads on cuda.
class AttentionOnDevice : public ::testing::TestWithParam<const char*> {};

TEST_P(AttentionOnDevice, IsWithinTheDerivedBounds) {
  const Device dev = Device::parse(GetParam());
  std::shared_ptr<Driver> driver;
  try {
    driver = driver_for(dev);
  } catch (const Error& e) {
    if (dev.kind == DeviceKind::kCuda && test::cuda_required()) FAIL() << "cuda required: " << e.message();
    GTEST_SKIP() << "device " << GetParam() << " unavailable: " << e.message();
  }
  std::vector<Case> cases = {{2, 3, 19, 2, 64, DType::kBF16, DType::kBF16, "sm_90"}};
  if (dev.kind == DeviceKind::kCuda) {
    cases.push_back({1, 300, 257, 3, 128, DType::kBF16, DType::kBF16, ""});
    cases.push_back({2, 129, 512, 2, 128, DType::kF16, DType::kF32, ""});
    cases.push_back({1, 65, 70, 2, 64, DType::kF32, DType::kF32, ""});
  }
  for (const Case& c : cases) check_case(c, dev, dev.kind == DeviceKind::kCuda ? driver : sim_device(c.arch));
}

INSTANTIATE_TEST_SUITE_P(Devices, AttentionOnDevice, ::testing::Values("cuda", "sim"),
                         [](const auto& info) { return std::string(info.param); });

}  // namespace
}  // namespace qjit
