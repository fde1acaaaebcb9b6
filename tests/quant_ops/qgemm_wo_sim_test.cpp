// The weight-only GEMM kernel (qgemm_wo) on the sim device against the reference GEMM
// (quant_ops/reference/gemm.hpp, kWeightOnly) within NMSE bounds derived below; every config
// gives the same bits; NaN scales; the op's validation; and the main loop's sim counters (no
// shared-memory bank conflicts, coalesced global loads).
// NOTE: the sim runs ~10-25 M thread-instructions/s on one host core: shapes stay small,
// and the combinations are covered pairwise, not as a full product (DESIGN.md section 8).
// The one slow test (the Wan-sized shape) is named QGemmWoSim.SlowWanShape*.

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <random>
#include <set>

#include <fmt/format.h>

#include "common/error.hpp"
#include "quant_ops/qgemm_weight_only.hpp"
#include "quant_ops/reference/gemm.hpp"
#include "quant_ops/reference/quantize_value.hpp"
#include "runtime/float_convert.hpp"
#include "sim/sim_driver.hpp"
#include "tests/support/checks.hpp"
#include "tests/support/gemm_bound.hpp"
#include "tests/support/gemm_data.hpp"
#include "tests/support/sim_devices.hpp"

namespace qjit {
namespace {

using jit::impls::WeightOnlyConfig;
using reference::Activation;

using namespace test::wo_configs;
using namespace test;  // tests/support/

struct Problem {
  std::int64_t m = 0, n = 0, k = 0;
  QType qw = QType::kInt8;
  Granularity gw = Granularity::kPerChannel;
  DType x = DType::kBF16;     // activation dtype
  std::optional<DType> bias{};  // none, or its dtype
  Activation act = Activation::kNone;
  DType out = DType::kBF16;
  std::optional<WeightOnlyConfig> config{};  // the heuristic's when absent
  const char* arch = "sm_89";

  std::string str() const {
    return fmt::format("{} M={} N={} K={} x={} w={} {} bias={} act={} out={} config={}", arch, m, n, k,
                       dtype_name(x), qtype_name(qw), granularity_name(gw), bias ? dtype_name(*bias) : "none",
                       reference::activation_name(act), dtype_name(out), config ? config->str() : "heuristic");
  }
};

Problem problem(std::int64_t m, std::int64_t n, std::int64_t k, QType q = QType::kInt8) {
  Problem p;
  p.m = m, p.n = n, p.k = k;
  p.qw = q;
  return p;
}

// Operands as cpu tensors: x in its dtype, the reference quantizer's codes and scales (block128
// scales 2-D), the bias.
struct Operands {
  std::vector<float> x;  // x as f32 values (exact in x's dtype)
  reference::QuantizedWeights w;
  Tensor tx, tw, tsw;
  std::optional<Tensor> bias;
};

// specials: an Inf in weight row 5, whose scale group gets a NaN scale and zero codes.
Operands make_operands(const Problem& p, unsigned seed, bool specials = false) {
  Operands o;
  std::vector<float> w = random_matrix(p.n, p.k, seed + 1, false);
  if (specials) w[5 * p.k + 3] = std::numeric_limits<float>::infinity();
  o.tx = Tensor::from_vector<float>({p.m, p.k}, random_matrix(p.m, p.k, seed, true)).to_dtype(p.x);
  o.x = o.tx.to_f32_vector();
  o.w = reference::quantize_weights(w, p.n, p.k, p.qw, p.gw);
  o.tw = Tensor::from_raw({p.n, p.k}, qtype_storage(p.qw), o.w.q.data());
  const auto ns = static_cast<std::int64_t>(o.w.scales.size());
  o.tsw = p.gw == Granularity::kBlock128
              ? Tensor::from_vector<float>({(p.n + 127) / 128, (p.k + 127) / 128}, o.w.scales)
              : Tensor::from_vector<float>({ns}, o.w.scales);
  if (p.bias) o.bias = bias_tensor(p.n, *p.bias);
  return o;
}

WeightOnlyOptions options_of(const Problem& p, const Operands& o) {
  WeightOnlyOptions opt;
  opt.weight_granularity = p.gw;
  opt.bias = o.bias;
  opt.activation = p.act;
  opt.out_dtype = p.out;
  opt.config = p.config;
  return opt;
}

// The op on the sim device of p.arch (operands copied there) and on the cpu (the reference).
using Outputs = test::SimOutputs;

Outputs run_both(const Problem& p, const Operands& o) {
  auto driver = sim_device(p.arch);
  const WeightOnlyOptions opt = options_of(p, o);
  Outputs r;
  auto on_sim = [&](const Tensor& t) { return t.to(Device::sim(), driver); };
  const Tensor y = qgemm_weight_only(on_sim(o.tx), on_sim(o.tw), on_sim(o.tsw), opt);
  r.counters = driver->last_counters();
  EXPECT_EQ(y.shape(), (std::vector<std::int64_t>{p.m, p.n}));
  EXPECT_EQ(y.dtype(), p.out);
  r.sim = y.to(Device::cpu()).to_f32_vector();
  r.ref = qgemm_weight_only(o.tx, o.tw, o.tsw, opt).to_f32_vector();  // the cpu runs the reference
  return r;
}

// ---- NMSE bound ------------------------------------------------------------------------
//
// Both sides multiply the same operands: x (bf16/f16, exact in fp32) and the same dequantized
// weight w = round_to_x(decode(q) * s) (one fp32 multiply and one RNE rounding to x's dtype,
// the same operations on both sides), so each product p_k = x_k w_k is the same exact fp32
// number (at most 2 x 11 significant bits). They differ only in how the products are summed,
// and in approximations:
//  - Summation. The reference adds the K products sequentially from +0: K - 1 roundings, so
//    (u = 2^-24, Σ|p| = Σ_k |p_k|) |acc_ref - Σp| <= γ(K) Σ|p|, γ(n) = n u / (1 - n u).
//    The kernel runs K / 16 mma steps, each adding 16 products to the fp32 accumulator; the
//    PTX ISA does not fix the order or the rounding inside the step (tensor cores may align
//    to the largest exponent and truncate, an error of up to one ulp, 2u, per addition), so
//    we allow each step the error of 16 sequential truncating additions:
//    |acc_dev - Σp| <= 2 γ(K + 16) Σ|p|. Together
//    |acc_dev - acc_ref| <= 1.01 (3 K + 32) u Σ|p|.
//  - Epilogue (acc + bias, one rounding on each side), GELU and output rounding:
//    tests/support/gemm_bound.hpp, whose per-element bound e (test::element_error) takes
//    acc_err = 1.01 (3 K + 32) u Σ|p|. So
// NMSE = Σ (sim - ref)^2 / Σ ref^2 <= Σ e^2 / Σ ref^2: the bound the test checks. (Far below
// anything a wrong index, a lost k-step or a wrong scale produces, which gives NMSE ~ 1;
// the test also prints the measured NMSE, orders of magnitude below the bound on the sim.)
double nmse_bound(const Problem& p, const Operands& o, const std::vector<float>& ref) {
  const double u = std::ldexp(1.0, -24);
  const double acc_gamma = 1.01 * (3.0 * static_cast<double>(p.k) + 32.0) * u;
  const bool gelu = p.act == Activation::kGeluTanh;
  // The dequantized weights, as both sides use them.
  std::vector<double> w(static_cast<size_t>(p.n * p.k));
  for (std::int64_t n = 0; n < p.n; ++n) {
    for (std::int64_t k = 0; k < p.k; ++k) {
      const size_t i = static_cast<size_t>(n * p.k + k);
      w[i] = reference::round_to_dtype(reference::dequantize_value(p.qw, o.w.q[i], o.w.scale_at(n, k)), p.x);
    }
  }
  double num = 0, den = 0;
  for (std::int64_t m = 0; m < p.m; ++m) {
    for (std::int64_t n = 0; n < p.n; ++n) {
      const float r = ref[m * p.n + n];
      if (!std::isfinite(r)) continue;  // NaN and Inf: nmse() skips them when both sides agree
      double abs_sum = 0, sum = 0;
      for (std::int64_t k = 0; k < p.k; ++k) {
        const double prod = static_cast<double>(o.x[m * p.k + k]) * w[n * p.k + k];
        abs_sum += std::fabs(prod), sum += prod;
      }
      const double bias = o.bias ? o.bias->item_f32(n) : 0.0;
      const double y = sum + bias;  // the epilogue's input to GELU, near enough for a bound
      const double e = element_error(acc_gamma * abs_sum, y, r, gelu, p.out);
      num += e * e;
      den += static_cast<double>(r) * r;
    }
  }
  return den == 0 ? 0 : num / den;
}

// Checks one problem against the reference: NMSE within the bound and, without GELU, the
// all-zero activation rows bit for bit (both sides: act(+0 + bias) rounded).
void check_problem(const Problem& p, unsigned seed) {
  SCOPED_TRACE(p.str());
  const Operands o = make_operands(p, seed);
  const Outputs r = run_both(p, o);
  const double got = nmse_of(r.sim, r.ref), bound = nmse_bound(p, o, r.ref);
  EXPECT_LE(got, bound) << p.str();
  EXPECT_GT(bound, 0.0);
  if (p.act == Activation::kNone) {
    for (std::int64_t m = 3; m < p.m; m += 5) {  // random_matrix's zero rows
      const auto row = [&](const std::vector<float>& v) {
        return std::vector<float>(v.begin() + m * p.n, v.begin() + (m + 1) * p.n);
      };
      expect_same_bits(row(r.sim), row(r.ref), fmt::format("{} zero row {}", p.str(), m));
    }
  }
  std::printf("%s: NMSE %.3g (bound %.3g), sim %.2f s, %.1f M thread-instructions\n", p.str().c_str(), got, bound,
              r.counters.seconds, r.counters.thread_instructions / 1e6);
}

// ---- pairwise coverage -----------------------------------------------------------------

// Weight qtype x granularity x activation dtype x bias x GELU x out dtype x config, every
// pair of values of any two of them at least once (checked below), on shapes with tails
// (M in {1, 7, 64, 129, 300}, N and K from {16, 48, 128, 1536}) and the three archs (the
// e4m3 software decode on sm_80, cvt on sm_89 and sm_90).
TEST(QGemmWoSim, PairwiseWithinDerivedNmse) {
  const auto none = std::optional<DType>{};
  const QType i8 = QType::kInt8, e4 = QType::kE4M3, e5 = QType::kE5M2;
  const Granularity ch = Granularity::kPerChannel, ten = Granularity::kPerTensor, blk = Granularity::kBlock128;
  const DType bf = DType::kBF16, f16 = DType::kF16, f32 = DType::kF32;
  const Activation no = Activation::kNone, gelu = Activation::kGeluTanh;
  const std::vector<Problem> problems = {
      {1, 1536, 128, i8, ch, bf, none, no, bf, kSmall, "sm_80"},
      {64, 48, 128, i8, ten, f16, f32, gelu, f16, kMedium, "sm_89"},
      {129, 128, 48, e4, blk, bf, f16, gelu, f32, kLarge, "sm_90"},
      {7, 128, 1536, e5, ch, f16, bf, no, f32, kWide, "sm_89"},
      {300, 48, 16, e4, ten, bf, none, no, f16, kWide, "sm_80"},
      {7, 48, 144, e4, blk, f16, bf, gelu, bf, kSmall, "sm_89"},
      {64, 128, 256, e5, blk, bf, f32, no, bf, kMedium, "sm_80"},
      {129, 16, 128, e5, ch, f16, none, gelu, f16, kLarge, "sm_89"},
      {64, 16, 48, i8, ten, f16, f16, no, bf, kLarge, "sm_90"},
      {7, 256, 128, i8, blk, bf, bf, gelu, f16, kWide, "sm_89"},
      {1, 48, 1536, e4, ch, bf, f32, no, f32, kMedium, "sm_90"},
      {129, 48, 48, e5, ten, bf, f16, no, f16, kSmall, "sm_80"},
      {16, 128, 16, i8, ten, bf, none, no, f32, kSmall, "sm_90"},
      {300, 16, 128, i8, ch, f16, f16, gelu, bf, kWide, "sm_80"},
      {7, 128, 48, e4, ten, f16, bf, no, bf, kMedium, "sm_89"},
      {1, 128, 528, i8, blk, f16, none, no, bf, kMedium, "sm_90"},
      {129, 16, 16, e5, ch, bf, f32, gelu, bf, kSmall, "sm_89"},
      {1, 16, 1536, i8, ch, bf, f32, no, bf, kLarge, "sm_80"},
      {64, 48, 48, e4, ch, f16, f32, no, bf, kWide, "sm_90"},
      {7, 16, 128, e5, blk, bf, f16, no, bf, kMedium, "sm_80"},
      {16, 128, 48, i8, ch, bf, bf, gelu, bf, kLarge, "sm_89"},
      {300, 48, 48, e4, ch, f16, none, no, f32, std::nullopt, "sm_89"},
  };
  // Every pair of values of any two dimensions appears.
  auto values = [](const Problem& p) {
    const int cfg = !p.config ? 4 : *p.config == kSmall ? 0 : *p.config == kMedium ? 1 : *p.config == kLarge ? 2 : 3;
    return std::vector<int>{static_cast<int>(p.qw),  static_cast<int>(p.gw),  static_cast<int>(p.x),
                            p.bias ? static_cast<int>(*p.bias) + 1 : 0,       static_cast<int>(p.act),
                            static_cast<int>(p.out), cfg};
  };
  const std::vector<int> counts = {3, 3, 2, 4, 2, 3, 4};  // values per dimension (configs: the four tiles)
  std::set<std::vector<int>> seen;
  for (const Problem& p : problems) {
    const std::vector<int> v = values(p);
    for (size_t a = 0; a < v.size(); ++a)
      for (size_t b = a + 1; b < v.size(); ++b) seen.insert({static_cast<int>(a), v[a], static_cast<int>(b), v[b]});
  }
  std::set<int> distinct[7];
  for (const Problem& p : problems) {
    const std::vector<int> v = values(p);
    for (size_t d = 0; d < v.size(); ++d) distinct[d].insert(v[d]);
  }
  size_t pairs = 0;
  for (size_t a = 0; a < counts.size(); ++a) {
    EXPECT_GE(distinct[a].size(), static_cast<size_t>(counts[a])) << "dimension " << a;
    for (size_t b = a + 1; b < counts.size(); ++b)
      for (int va : distinct[a])
        for (int vb : distinct[b]) {
          if (va == 4 && a == 6) continue;  // the heuristic is an extra config value, not required
          if (vb == 4 && b == 6) continue;
          ++pairs;
          EXPECT_TRUE(seen.count({static_cast<int>(a), va, static_cast<int>(b), vb}))
              << "pair not covered: dimension " << a << " = " << va << ", dimension " << b << " = " << vb;
        }
  }
  EXPECT_GT(pairs, 100u);
  unsigned seed = 1;
  for (const Problem& p : problems) check_problem(p, seed++);
}

// One Wan2.1-1.3B-sized layer (M=256, N=K=1536), int8 per_channel (the int8-weight-only
// preset), the heuristic's config. The slowest sim test of the family.
TEST(QGemmWoSim, SlowWanShapeWithinDerivedNmse) {
  Problem p = problem(256, 1536, 1536);
  p.bias = DType::kBF16;
  const auto t0 = std::chrono::steady_clock::now();
  check_problem(p, 77);
  std::printf("%.1f s in all\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

// ---- configs never change results ------------------------------------------------------

// (Each config's main loop is also free of bank conflicts.)
TEST(QGemmWoSim, EveryConfigGivesTheSameBits) {
  Problem p = problem(33, 256, 272, QType::kE4M3);
  p.gw = Granularity::kBlock128, p.bias = DType::kBF16, p.out = DType::kF32;
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
      EXPECT_LE(nmse_of(r.sim, r.ref), nmse_bound(p, o, r.ref));
    } else {
      expect_same_bits(r.sim, first, p.str());
    }
  }
}

// ---- NaN scales ------------------------------------------------------------------------

// An Inf in weight row 5 gives its scale group a NaN scale and zero codes; decode(0) * NaN is
// NaN, so every output that group feeds is NaN, as the reference gives: column 5
// (per_channel), everything (per_tensor), the columns of block row 0 (block128, the block
// holding (5, 3) spans every M row). The rest is untouched.
TEST(QGemmWoSim, NanScalesGiveNanOutputsAsTheReference) {
  for (Granularity g : {Granularity::kPerChannel, Granularity::kPerTensor, Granularity::kBlock128}) {
    Problem p = problem(7, 144, 64, QType::kE5M2);
    p.gw = g, p.bias = DType::kF32, p.config = kSmall;
    SCOPED_TRACE(p.str());
    const Operands o = make_operands(p, 41, /*specials=*/true);
    const Outputs r = run_both(p, o);
    for (std::int64_t m = 0; m < p.m; ++m) {
      for (std::int64_t n = 0; n < p.n; ++n) {
        const bool want = g == Granularity::kPerChannel ? n == 5 : g == Granularity::kPerTensor ? true : n < 128;
        EXPECT_EQ(std::isnan(r.ref[m * p.n + n]), want) << m << ", " << n;
        EXPECT_EQ(std::isnan(r.sim[m * p.n + n]), want) << m << ", " << n;
      }
    }
    EXPECT_LE(nmse_of(r.sim, r.ref), nmse_bound(p, o, r.ref));
  }
}

// Dequantized weights beyond the f16 range round to ±Inf on both sides (f16 activations):
// channel 3's weights are 1e5 times the others', so its dequantized values overflow f16 and
// column 3 is NaN (±Inf products of both signs, and 0 * Inf in the all-zero rows), as the
// reference gives; the other columns are untouched.
TEST(QGemmWoSim, F16OverflowingWeightsAsTheReference) {
  Problem p = problem(6, 32, 64, QType::kE5M2);
  p.x = DType::kF16, p.config = kSmall, p.out = DType::kF32;
  SCOPED_TRACE(p.str());
  Operands o = make_operands(p, 51);
  std::vector<float> w = random_matrix(p.n, p.k, 52, false);
  for (std::int64_t k = 0; k < p.k; ++k) w[3 * p.k + k] *= 1e5f;
  o.w = reference::quantize_weights(w, p.n, p.k, p.qw, p.gw);
  o.tw = Tensor::from_raw({p.n, p.k}, qtype_storage(p.qw), o.w.q.data());
  o.tsw = Tensor::from_vector<float>({p.n}, o.w.scales);
  const Outputs r = run_both(p, o);
  for (std::int64_t m = 0; m < p.m; ++m) {
    for (std::int64_t n = 0; n < p.n; ++n) {
      EXPECT_EQ(std::isnan(r.ref[m * p.n + n]), n == 3) << m << ", " << n;
      EXPECT_EQ(std::isnan(r.sim[m * p.n + n]), n == 3) << m << ", " << n;
    }
  }
  EXPECT_LE(nmse_of(r.sim, r.ref), nmse_bound(p, o, r.ref));
}

// NaN codes (e4m3 S.1111.111, e5m2 exponent all ones) decode to NaN on every path (the
// software e4m3 decode of sm_80, the cvt of sm_89), in their columns only.
TEST(QGemmWoSim, NanCodesGiveNanColumns) {
  for (const char* arch : {"sm_80", "sm_89"}) {
    for (QType q : {QType::kE4M3, QType::kE5M2}) {
      Problem p = problem(5, 32, 32, q);
      p.arch = arch, p.config = kSmall, p.out = DType::kF32;
      SCOPED_TRACE(p.str());
      Operands o = make_operands(p, 9);
      o.w.q[3 * p.k + 7] = q == QType::kE4M3 ? 0xff : 0x7e;  // -NaN e4m3; NaN e5m2
      o.w.q[9 * p.k + 1] = 0x7f;                             // +NaN in both
      o.tw = Tensor::from_raw({p.n, p.k}, qtype_storage(q), o.w.q.data());
      const Outputs r = run_both(p, o);
      for (std::int64_t m = 0; m < p.m; ++m) {
        for (std::int64_t n = 0; n < p.n; ++n) {
          const bool want = n == 3 || n == 9;
          EXPECT_EQ(std::isnan(r.ref[m * p.n + n]), want) << m << ", " << n;
          EXPECT_EQ(std::isnan(r.sim[m * p.n + n]), want) << m << ", " << n;
        }
      }
      EXPECT_LE(nmse_of(r.sim, r.ref), nmse_bound(p, o, r.ref));
    }
  }
}

// Activation rows with a stride (a view of a wider matrix) are read in place.
TEST(QGemmWoSim, ReadsStridedActivationRows) {
  Problem p = problem(9, 32, 64);
  p.config = kSmall, p.out = DType::kF32;
  const Operands o = make_operands(p, 43);
  auto driver = sim_device("sm_89");
  // x in columns [32, 96) of a [9, 128] bf16 matrix.
  std::vector<float> wide(static_cast<size_t>(p.m * 128), 3.0f);
  for (std::int64_t m = 0; m < p.m; ++m) std::copy_n(&o.x[m * p.k], p.k, &wide[m * 128 + 32]);
  const Tensor view = Tensor::from_vector<float>({p.m, 128}, wide).to_dtype(DType::kBF16).to(Device::sim(), driver)
                          .narrow(1, 32, 64);
  ASSERT_EQ(view.stride(0), 128);
  const WeightOnlyOptions opt = options_of(p, o);
  const std::vector<float> got = qgemm_weight_only(view, o.tw, o.tsw, opt).to(Device::cpu()).to_f32_vector();
  const std::vector<float> want = qgemm_weight_only(o.tx, o.tw, o.tsw, opt).to_f32_vector();
  EXPECT_LE(nmse_of(got, want), nmse_bound(p, o, want));
}

// A view starting 8 bytes past a 16-byte boundary (not cp.async-able in place) is copied.
TEST(QGemmWoSim, CopiesMisalignedActivations) {
  Problem p = problem(3, 32, 32);
  p.config = kSmall, p.out = DType::kF32;
  const Operands o = make_operands(p, 45);
  auto driver = sim_device("sm_89");
  std::vector<float> wide(static_cast<size_t>(p.m * 36), 3.0f);
  for (std::int64_t m = 0; m < p.m; ++m) std::copy_n(&o.x[m * p.k], p.k, &wide[m * 36 + 4]);
  const Tensor view =
      Tensor::from_vector<float>({p.m, 36}, wide).to_dtype(DType::kBF16).to(Device::sim(), driver).narrow(1, 4, 32);
  const WeightOnlyOptions opt = options_of(p, o);
  const std::vector<float> got = qgemm_weight_only(view, o.tw, o.tsw, opt).to(Device::cpu()).to_f32_vector();
  const std::vector<float> want = qgemm_weight_only(o.tx, o.tw, o.tsw, opt).to_f32_vector();
  EXPECT_LE(nmse_of(got, want), nmse_bound(p, o, want));
}

// K = 0: an empty sum, so every output is act(+0 + bias), as the reference gives.
TEST(QGemmWoSim, EmptyKGivesTheEpilogueOfZero) {
  Problem p = problem(5, 32, 0);
  p.config = kSmall, p.bias = DType::kF32, p.out = DType::kF32;
  const Operands o = make_operands(p, 47);
  const Outputs r = run_both(p, o);
  expect_same_bits(r.sim, r.ref, p.str());
  EXPECT_EQ(r.ref[1], o.bias->item_f32(1));
}

// ---- validation ------------------------------------------------------------------------

TEST(QGemmWoSim, RejectsBadInputsNamingThem) {
  auto bf = [](std::int64_t r, std::int64_t c) { return Tensor::zeros({r, c}, DType::kBF16); };
  auto q8 = [](std::int64_t r, std::int64_t c) { return Tensor::zeros({r, c}, DType::kI8); };
  auto f32 = [](std::vector<std::int64_t> s) { return Tensor::zeros(s, DType::kF32); };
  const auto has = expect_error_mentions;
  has([&] { qgemm_weight_only(bf(4, 32), q8(40, 32), f32({40})); }, "N = 40");
  has([&] { qgemm_weight_only(bf(4, 40), q8(48, 40), f32({48})); }, "K = 40");
  has([&] { qgemm_weight_only(bf(4, 32), q8(48, 48), f32({48})); }, "K differs");
  has([&] { qgemm_weight_only(f32({4, 32}), q8(48, 32), f32({48})); }, "activations must be bf16 or f16");
  has([&] { qgemm_weight_only(Tensor::zeros({4, 32}, DType::kI8), q8(48, 32), f32({48})); },
      "activations must be bf16 or f16");
  has([&] { qgemm_weight_only(bf(4, 32), bf(48, 32), f32({48})); }, "weights must hold int8");
  has([&] { qgemm_weight_only(bf(4, 32), q8(48, 32), f32({47})); }, "per_channel needs [48]");
  has([&] { qgemm_weight_only(bf(4, 32), q8(48, 32), Tensor::zeros({48}, DType::kBF16)); }, "f32 tensor");
  WeightOnlyOptions per_tensor;
  per_tensor.weight_granularity = Granularity::kPerTensor;
  has([&] { qgemm_weight_only(bf(4, 32), q8(48, 32), f32({48}), per_tensor); }, "per_tensor needs [1]");
  WeightOnlyOptions block;
  block.weight_granularity = Granularity::kBlock128;
  has([&] { qgemm_weight_only(bf(4, 272), q8(144, 272), f32({2, 2}), block); }, "block128 needs [2, 3]");
  EXPECT_EQ(error_of([&] { qgemm_weight_only(bf(4, 272), q8(144, 272), f32({2, 3}), block); }), "");
  WeightOnlyOptions per_token;
  per_token.weight_granularity = Granularity::kPerToken;
  has([&] { qgemm_weight_only(bf(4, 32), q8(48, 32), f32({48}), per_token); }, "weight granularity per_token");
  WeightOnlyOptions bad_bias;
  bad_bias.bias = f32({47});
  has([&] { qgemm_weight_only(bf(4, 32), q8(48, 32), f32({48}), bad_bias); }, "bias must be [N] = [48]");
  WeightOnlyOptions bad_out;
  bad_out.out_dtype = DType::kI8;
  has([&] { qgemm_weight_only(bf(4, 32), q8(48, 32), f32({48}), bad_out); }, "output dtype");
}

// ---- sim counters of the main loop -----------------------------------------------------

// The default config of a small-M (decode-like) and a mid-M problem: no shared-memory bank
// conflicts anywhere in the kernel, coalesced global loads, nothing in local memory.
TEST(QGemmWoSim, DefaultConfigHasNoBankConflictsAndCoalescedLoads) {
  for (std::int64_t m : {16, 64}) {
    Problem p = problem(m, 256, 1536, m == 16 ? QType::kE4M3 : QType::kInt8);
    p.x = m == 16 ? DType::kF16 : DType::kBF16;
    const Operands o = make_operands(p, 31);
    const Outputs r = run_both(p, o);
    SCOPED_TRACE(p.str());
    const auto& c = r.counters;
    expect_clean_main_loop(c);
    EXPECT_LE(nmse_of(r.sim, r.ref), nmse_bound(p, o, r.ref));
    std::printf("%s: %s\n", p.str().c_str(), c.str().c_str());
  }
}

}  // namespace
}  // namespace qjit
