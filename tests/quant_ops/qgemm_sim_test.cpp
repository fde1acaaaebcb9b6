// The W8A8 qgemm kernel on the sim device against the reference GEMM
// (quant_ops/reference/gemm.hpp): int8 bit for bit, fp8 and GELU within NMSE bounds derived
// below; every config gives the same bits; the op's validation; and the main loop's sim
// counters (no shared-memory bank conflicts, coalesced global loads).
// NOTE: the sim runs ~10-25 M thread-instructions/s on one host core: shapes stay small,
// and the combinations are covered pairwise, not as a full product (DESIGN.md section 8).

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <random>

#include <fmt/format.h>

#include "common/error.hpp"
#include "quant_ops/qgemm.hpp"
#include "quant_ops/reference/gemm.hpp"
#include "runtime/float_convert.hpp"
#include "runtime/sim/sim_driver.hpp"

namespace qjit {
namespace {

using jit::impls::GemmConfig;
using reference::Activation;

constexpr GemmConfig kSmall{16, 64, 64, 1, 2, 4};
constexpr GemmConfig kMedium{64, 128, 64, 2, 2, 4};
constexpr GemmConfig kLarge{128, 128, 64, 2, 4, 4};
constexpr GemmConfig kWide{128, 256, 64, 2, 4, 3};

std::shared_ptr<sim::SimDriver> sim_device(const char* arch) {
  static std::map<std::string, std::shared_ptr<sim::SimDriver>> devices;
  auto& d = devices[arch];
  if (!d) d = std::make_shared<sim::SimDriver>(sim::SimDeviceConfig::for_arch(arch));
  return d;
}

// Data with some structure: a per-row and per-column magnitude, a few all-zero activation
// rows (their output is exactly act(bias)) and one large outlier per row.
std::vector<float> random_matrix(std::int64_t rows, std::int64_t cols, unsigned seed, bool zero_rows) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(rows * cols));
  for (std::int64_t r = 0; r < rows; ++r) {
    const float row_mag = 0.25f + static_cast<float>(r % 7);
    for (std::int64_t c = 0; c < cols; ++c) x[r * cols + c] = row_mag * normal(rng);
    x[r * cols + (r * 13) % cols] *= 8.0f;
    if (zero_rows && r % 5 == 3) std::fill(x.begin() + r * cols, x.begin() + (r + 1) * cols, 0.0f);
  }
  return x;
}

struct Problem {
  std::int64_t m, n, k;
  QType qa = QType::kInt8, qw = QType::kInt8;
  Granularity ga = Granularity::kPerToken, gw = Granularity::kPerChannel;
  std::optional<DType> bias;  // none, or its dtype
  Activation act = Activation::kNone;
  DType out = DType::kBF16;
  std::optional<GemmConfig> config;  // the heuristic's when absent
  const char* arch = "sm_89";

  std::string str() const {
    return fmt::format("{} M={} N={} K={} {}x{} {}/{} bias={} act={} out={} config={}", arch, m, n, k, qtype_name(qa),
                       qtype_name(qw), granularity_name(ga), granularity_name(gw),
                       bias ? dtype_name(*bias) : "none", reference::activation_name(act), dtype_name(out),
                       config ? config->str() : "heuristic");
  }
};

// A problem with the defaults above (int8, per_token x per_channel, no bias, bf16 out).
Problem problem(std::int64_t m, std::int64_t n, std::int64_t k, QType q = QType::kInt8) {
  Problem p{m, n, k, q, q, Granularity::kPerToken, Granularity::kPerChannel, std::nullopt, Activation::kNone,
            DType::kBF16, std::nullopt, "sm_89"};
  return p;
}

// Quantized operands (by the reference quantizers) as cpu tensors, plus the bias.
struct Operands {
  reference::QuantizedActs a;
  reference::QuantizedWeights w;
  Tensor ta, tsa, tw, tsw;
  std::optional<Tensor> bias;
};

// specials: a NaN in activation row 2 and an Inf in weight row 5, whose groups get NaN
// scales and zero codes (DESIGN.md section 5).
Operands make_operands(const Problem& p, unsigned seed, bool specials = false) {
  Operands o;
  std::vector<float> x = random_matrix(p.m, p.k, seed, true), w = random_matrix(p.n, p.k, seed + 1, false);
  if (specials) {
    x[2 * p.k + 1] = std::numeric_limits<float>::quiet_NaN();
    w[5 * p.k + 3] = std::numeric_limits<float>::infinity();
  }
  o.a = reference::quantize_dynamic(x, p.m, p.k, p.qa, p.ga);
  o.w = reference::quantize_weights(w, p.n, p.k, p.qw, p.gw);
  o.ta = Tensor::from_raw({p.m, p.k}, qtype_storage(p.qa), o.a.q.data());
  o.tw = Tensor::from_raw({p.n, p.k}, qtype_storage(p.qw), o.w.q.data());
  o.tsa = Tensor::from_vector<float>({static_cast<std::int64_t>(o.a.scales.size())}, o.a.scales);
  o.tsw = Tensor::from_vector<float>({static_cast<std::int64_t>(o.w.scales.size())}, o.w.scales);
  if (p.bias) {
    std::vector<float> b(static_cast<size_t>(p.n));
    for (std::int64_t i = 0; i < p.n; ++i) b[i] = 0.5f * std::sin(0.7f * static_cast<float>(i));
    o.bias = Tensor::from_vector<float>({p.n}, b).to_dtype(*p.bias);
  }
  return o;
}

QGemmOptions options_of(const Problem& p, const Operands& o) {
  QGemmOptions opt;
  opt.act_granularity = p.ga, opt.weight_granularity = p.gw;
  opt.bias = o.bias;
  opt.activation = p.act;
  opt.out_dtype = p.out;
  opt.config = p.config;
  return opt;
}

// The op on the sim device of p.arch (operands copied there) and on the cpu (the reference).
struct Outputs {
  std::vector<float> sim, ref;
  sim::SimCounters counters;
};

Outputs run_both(const Problem& p, const Operands& o) {
  auto driver = sim_device(p.arch);
  const QGemmOptions opt = options_of(p, o);
  Outputs r;
  auto on_sim = [&](const Tensor& t) { return t.to(Device::sim(), driver); };
  const Tensor y = qgemm(on_sim(o.ta), on_sim(o.tsa), on_sim(o.tw), on_sim(o.tsw), opt);
  r.counters = driver->last_counters();
  EXPECT_EQ(y.shape(), (std::vector<std::int64_t>{p.m, p.n}));
  EXPECT_EQ(y.dtype(), p.out);
  r.sim = y.to(Device::cpu()).to_f32_vector();
  r.ref = qgemm(o.ta, o.tsa, o.tw, o.tsw, opt).to_f32_vector();  // the cpu runs the reference
  return r;
}

// Same bits, NaN matching any NaN (its payload is not specified).
void expect_same_bits(const std::vector<float>& got, const std::vector<float>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  size_t bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const bool same = std::memcmp(&got[i], &want[i], 4) == 0 || (std::isnan(got[i]) && std::isnan(want[i]));
    if (!same && ++bad <= 5) ADD_FAILURE() << what << ": element " << i << " is " << got[i] << ", want " << want[i];
  }
  EXPECT_EQ(bad, 0u) << what;
}

// ---- int8: bit-identical ---------------------------------------------------------------

// Pairwise cover of (granularities, bias dtype, output dtype, config, tails in M / N / K).
TEST(QGemmSim, Int8IsBitIdenticalToTheReference) {
  const auto none = std::optional<DType>{};
  const QType i8 = QType::kInt8;
  const Activation no = Activation::kNone;
  const Granularity tok = Granularity::kPerToken, ten = Granularity::kPerTensor, ch = Granularity::kPerChannel;
  const std::vector<Problem> problems = {
      {1, 48, 128, i8, i8, tok, ch, none, no, DType::kBF16, kSmall, "sm_89"},
      {7, 128, 48, i8, i8, ten, ch, DType::kF32, no, DType::kF16, kSmall, "sm_89"},
      {64, 48, 16, i8, i8, tok, ten, DType::kBF16, no, DType::kF32, kMedium, "sm_89"},
      {129, 128, 128, i8, i8, ten, ten, DType::kF16, no, DType::kBF16, kLarge, "sm_89"},
      {129, 16, 400, i8, i8, tok, ch, DType::kBF16, no, DType::kF16, kMedium, "sm_89"},
      {7, 48, 1536, i8, i8, tok, ten, none, no, DType::kF32, kLarge, "sm_89"},
      {300, 48, 48, i8, i8, tok, ch, DType::kF32, no, DType::kBF16, kWide, "sm_89"},
      {64, 128, 128, i8, i8, ten, ch, none, no, DType::kF16, std::nullopt, "sm_80"},
      {1, 16, 16, i8, i8, tok, ch, DType::kF16, no, DType::kF32, kLarge, "sm_90"},
      {300, 1536, 16, i8, i8, ten, ch, none, no, DType::kBF16, std::nullopt, "sm_90"},
      {1, 1536, 1536, i8, i8, tok, ch, DType::kBF16, no, DType::kF16, kSmall, "sm_80"},
  };
  unsigned seed = 1;
  for (const Problem& p : problems) {
    SCOPED_TRACE(p.str());
    const Operands o = make_operands(p, seed++);
    const Outputs r = run_both(p, o);
    expect_same_bits(r.sim, r.ref, p.str());
  }
}

// One Wan2.1-1.3B-sized layer (M=256, N=K=1536), the heuristic's config.
TEST(QGemmSim, Int8WanShapeIsBitIdentical) {
  Problem p = problem(256, 1536, 1536);
  p.bias = DType::kBF16;
  const Operands o = make_operands(p, 77);
  const auto t0 = std::chrono::steady_clock::now();
  const Outputs r = run_both(p, o);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  expect_same_bits(r.sim, r.ref, p.str());
  std::printf("%s: %.1f s (sim %.1f s, %.1f M thread-instructions)\n", p.str().c_str(), s, r.counters.seconds,
              r.counters.thread_instructions / 1e6);
}

// ---- fp8 and GELU: NMSE ----------------------------------------------------------------
//
// The kernel and the reference multiply the same codes, so each product is the same exact
// fp32 number p_k; they differ only in how the products are summed and in approximations:
//  - Summation. The reference sums a 128-K block sequentially (<= 127 roundings), then adds
//    blocks (nb = ceil(K/128) roundings); the kernel's fp32-accumulating mma rounds at most
//    once per 32-k step (<= 4 per block) and adds blocks in the same order. With u = 2^-24
//    and Σ|p| = Σ_k |p_k|, each differs from the exact sum by at most (n u / (1 - n u)) Σ|p|
//    for its n roundings, so |acc_sim - acc_ref| <= γ Σ|p| with γ = 1.01 (127 + 4 + 2 nb) u.
//    The epilogue multiplies by |s| = |scale_a scale_w| (the same rounded s on both sides;
//    the fma adds one relative rounding u of the result on each side: 2 u |y|).
//  - GELU. tanh.approx.f32 has relative error <= 2^-10.987 (PTX ISA), so (0.5 y)(1 + t)
//    moves by <= 0.5 |y| 2^-10.987 |tanh| <= 0.5 |y| 2^-10.98 (plus 2u for the reference's
//    own tanhf and the add); GELU's slope is within
//    [-0.13, 1.13], so an input error e becomes <= 1.13 e.
//  - Output rounding. round(a) - round(b) <= |a - b| + u_out (|a| + |b|), u_out = 2^-9
//    (bf16), 2^-11 (f16), 2^-24 (f32), plus half the smallest subnormal for f16.
// Per element, |sim - ref| <= e = (1 + u_out) (L (γ |s| Σ|p| + 2 u |y|) + G) + 2 u_out |ref| + d_out,
// where L = 1.13 and G the tanh term with GELU (L = 1, G = 0 without), so
// NMSE = Σ (sim - ref)^2 / Σ ref^2 <= Σ e^2 / Σ ref^2: the bound the test checks. (Far below
// anything a wrong index or a lost block produces, which gives NMSE ~ 1.)
double nmse_bound(const Problem& p, const Operands& o, const std::vector<float>& ref) {
  const double u = std::ldexp(1.0, -24);
  const double nb = static_cast<double>((p.k + 127) / 128);
  const double gamma = 1.01 * (127 + 4 + 2 * nb) * u;
  const double u_out = p.out == DType::kBF16 ? std::ldexp(1.0, -9) : p.out == DType::kF16 ? std::ldexp(1.0, -11) : u;
  const double d_out = p.out == DType::kF16 ? std::ldexp(1.0, -25) : 0.0;
  const bool gelu = p.act == Activation::kGeluTanh;
  auto decode = [](QType q, const std::vector<std::uint8_t>& codes) {
    std::vector<double> v(codes.size());
    for (size_t i = 0; i < codes.size(); ++i) {
      const std::uint8_t b = codes[i];
      v[i] = q == QType::kInt8 ? static_cast<std::int8_t>(b) : q == QType::kE4M3 ? e4m3_to_f32(b) : e5m2_to_f32(b);
    }
    return v;
  };
  const std::vector<double> qa = decode(p.qa, o.a.q), qw = decode(p.qw, o.w.q);
  double num = 0, den = 0;
  for (std::int64_t m = 0; m < p.m; ++m) {
    for (std::int64_t n = 0; n < p.n; ++n) {
      if (std::isnan(ref[m * p.n + n])) continue;  // NaN groups: nmse() skips NaN on both sides
      double abs_sum = 0, sum = 0;
      for (std::int64_t k = 0; k < p.k; ++k) {
        const double prod = qa[m * p.k + k] * qw[n * p.k + k];
        abs_sum += std::fabs(prod), sum += prod;
      }
      const double s = static_cast<double>(o.a.scales[p.ga == Granularity::kPerToken ? m : 0]) *
                       o.w.scales[p.gw == Granularity::kPerChannel ? n : 0];
      const double bias = o.bias ? o.bias->item_f32(n) : 0.0;
      const double y = sum * s + bias;  // the epilogue's input to GELU, near enough for a bound
      const double acc_err = p.qa == QType::kInt8 ? 0.0 : gamma * std::fabs(s) * abs_sum;
      const double tanh_err = gelu ? 0.5 * std::fabs(y) * (std::pow(2.0, -10.98) + 2 * u) : 0.0;
      const double e = (1 + u_out) * ((gelu ? 1.13 : 1.0) * (acc_err + 2 * u * std::fabs(y)) + tanh_err) +
                       2 * u_out * std::fabs(ref[m * p.n + n]) + d_out;
      num += e * e;
      den += static_cast<double>(ref[m * p.n + n]) * ref[m * p.n + n];
    }
  }
  return den == 0 ? 0 : num / den;
}

double nmse_of(const std::vector<float>& got, const std::vector<float>& want) {
  return reference::nmse(got, std::vector<double>(want.begin(), want.end()));
}

TEST(QGemmSim, Fp8AndGeluWithinDerivedNmse) {
  const auto none = std::optional<DType>{};
  const Granularity tok = Granularity::kPerToken, ten = Granularity::kPerTensor, ch = Granularity::kPerChannel;
  const QType i8 = QType::kInt8;
  const Activation no = Activation::kNone, gelu = Activation::kGeluTanh;
  const QType e4 = QType::kE4M3, e5 = QType::kE5M2;
  const std::vector<Problem> problems = {
      {7, 128, 400, e4, e4, tok, ch, none, no, DType::kF32, kSmall, "sm_89"},
      {64, 48, 256, e5, e4, tok, ch, DType::kBF16, no, DType::kBF16, kMedium, "sm_89"},
      {129, 48, 144, e4, e5, ten, ten, DType::kF32, gelu, DType::kF16, kLarge, "sm_89"},
      {1, 128, 1536, e5, e5, tok, ten, DType::kF16, no, DType::kF32, kMedium, "sm_89"},
      {16, 48, 128, e4, e4, ten, ch, DType::kBF16, gelu, DType::kBF16, std::nullopt, "sm_90"},
      {7, 48, 128, i8, i8, tok, ch, DType::kF32, gelu, DType::kF32, kSmall, "sm_89"},
      {129, 16, 48, i8, i8, ten, ten, none, gelu, DType::kBF16, kMedium, "sm_80"},
      {300, 16, 1536, e4, e4, tok, ch, DType::kF32, no, DType::kBF16, std::nullopt, "sm_89"},
      {300, 1536, 48, e5, e4, ten, ch, none, gelu, DType::kF32, std::nullopt, "sm_90"},
  };
  unsigned seed = 100;
  for (const Problem& p : problems) {
    SCOPED_TRACE(p.str());
    const Operands o = make_operands(p, seed++);
    const Outputs r = run_both(p, o);
    const double got = nmse_of(r.sim, r.ref), bound = nmse_bound(p, o, r.ref);
    EXPECT_LE(got, bound) << p.str();
    EXPECT_GT(bound, 0.0);
    std::printf("%s: NMSE %.3g (bound %.3g)\n", p.str().c_str(), got, bound);
  }
}

// The Wan2.1-1.3B-sized layer in fp8 (e4m3 x e4m3, the `fp8` preset), the heuristic's config.
TEST(QGemmSim, Fp8WanShapeWithinDerivedNmse) {
  Problem p = problem(256, 1536, 1536, QType::kE4M3);
  p.bias = DType::kBF16;
  const Operands o = make_operands(p, 78);
  const auto t0 = std::chrono::steady_clock::now();
  const Outputs r = run_both(p, o);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double got = nmse_of(r.sim, r.ref), bound = nmse_bound(p, o, r.ref);
  EXPECT_LE(got, bound) << p.str();
  std::printf("%s: NMSE %.3g (bound %.3g), %.1f s (sim %.1f s, %.1f M thread-instructions)\n", p.str().c_str(), got,
              bound, s, r.counters.seconds, r.counters.thread_instructions / 1e6);
}

// ---- configs never change results ------------------------------------------------------

TEST(QGemmSim, EveryConfigGivesTheSameBits) {
  for (QType q : {QType::kInt8, QType::kE4M3}) {
    Problem p = problem(33, 64, 528, q);
    p.bias = DType::kBF16, p.out = DType::kF32;
    const Operands o = make_operands(p, 500);
    std::vector<float> first;
    for (const GemmConfig& c : {kSmall, kMedium, kLarge, kWide, GemmConfig{64, 128, 64, 2, 4, 4},
                                GemmConfig{32, 64, 128, 2, 2, 2}, GemmConfig{64, 64, 32, 2, 2, 5}}) {
      if (q != QType::kInt8 && c == kWide) continue;  // int8 only
      p.config = c;
      SCOPED_TRACE(p.str());
      const Outputs r = run_both(p, o);
      if (first.empty()) {
        first = r.sim;
        if (q == QType::kInt8) expect_same_bits(r.sim, r.ref, p.str());
      } else {
        expect_same_bits(r.sim, first, p.str());
      }
    }
  }
}

// A NaN or Inf in a dynamically quantized group gives that group a NaN scale: its row (or
// column) of y is NaN on every device, and the rest is untouched.
TEST(QGemmSim, NanScalesGiveNanRowsAndColumnsOnly) {
  for (QType q : {QType::kInt8, QType::kE4M3}) {
    Problem p = problem(7, 48, 64, q);
    p.bias = DType::kF32, p.config = kSmall;
    SCOPED_TRACE(p.str());
    const Operands o = make_operands(p, 41, /*specials=*/true);
    ASSERT_TRUE(std::isnan(o.a.scales[2]) && std::isnan(o.w.scales[5]));
    const Outputs r = run_both(p, o);
    for (std::int64_t m = 0; m < p.m; ++m) {
      for (std::int64_t n = 0; n < p.n; ++n) {
        EXPECT_EQ(std::isnan(r.sim[m * p.n + n]), m == 2 || n == 5) << m << ", " << n;
      }
    }
    if (q == QType::kInt8) expect_same_bits(r.sim, r.ref, p.str());
    else EXPECT_LE(nmse_of(r.sim, r.ref), nmse_bound(p, o, r.ref));
  }
}

// Activation rows with a stride (a view of a wider matrix) are read in place.
TEST(QGemmSim, ReadsStridedActivationRows) {
  const Problem p = problem(9, 32, 64);
  const Operands o = make_operands(p, 43);
  auto driver = sim_device("sm_89");
  // The codes in columns [32, 96) of a [9, 128] matrix.
  std::vector<std::uint8_t> wide(static_cast<size_t>(p.m * 128), 0x55);
  for (std::int64_t m = 0; m < p.m; ++m) std::memcpy(&wide[m * 128 + 32], &o.a.q[m * p.k], p.k);
  const Tensor view = Tensor::from_raw({p.m, 128}, DType::kI8, wide.data()).to(Device::sim(), driver).narrow(1, 32, 64);
  ASSERT_EQ(view.stride(0), 128);
  const QGemmOptions opt = options_of(p, o);
  const Tensor y = qgemm(view, o.tsa, o.tw, o.tsw, opt);
  expect_same_bits(y.to(Device::cpu()).to_f32_vector(), qgemm(o.ta, o.tsa, o.tw, o.tsw, opt).to_f32_vector(), p.str());
}

// ---- validation ------------------------------------------------------------------------

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(QGemmSim, Sm80RejectsFp8) {
  const Problem p = problem(16, 16, 32, QType::kE4M3);
  const Operands o = make_operands(p, 9);
  auto d80 = sim_device("sm_80");
  const auto e = error_of([&] {
    qgemm(o.ta.to(Device::sim(), d80), o.tsa.to(Device::sim(), d80), o.tw.to(Device::sim(), d80), o.tsw,
          options_of(p, o));
  });
  EXPECT_NE(e.find("needs sm_89"), std::string::npos) << e;
  EXPECT_NE(e.find("sm_80"), std::string::npos) << e;
}

TEST(QGemmSim, RejectsBadShapesNamingThem) {
  auto q8 = [](std::int64_t r, std::int64_t c) { return Tensor::zeros({r, c}, DType::kI8); };
  auto f32 = [](std::int64_t n) { return Tensor::zeros({n}, DType::kF32); };
  auto err = [](const std::function<void()>& f) { return error_of(f); };
  EXPECT_NE(err([&] { qgemm(q8(4, 32), f32(4), q8(40, 32), f32(40)); }).find("N = 40"), std::string::npos);
  EXPECT_NE(err([&] { qgemm(q8(4, 40), f32(4), q8(48, 40), f32(48)); }).find("K = 40"), std::string::npos);
  EXPECT_NE(err([&] { qgemm(q8(4, 32), f32(4), q8(48, 48), f32(48)); }).find("K differs"), std::string::npos);
  EXPECT_NE(err([&] { qgemm(q8(4, 32), f32(3), q8(48, 32), f32(48)); }).find("per_token needs [4]"),
            std::string::npos);
  EXPECT_NE(err([&] { qgemm(q8(4, 32), f32(4), q8(48, 32), f32(1)); }).find("per_channel needs [48]"),
            std::string::npos);
  QGemmOptions per_tensor;
  per_tensor.act_granularity = Granularity::kPerTensor;
  EXPECT_NE(err([&] { qgemm(q8(4, 32), f32(4), q8(48, 32), f32(48), per_tensor); }).find("per_tensor needs [1]"),
            std::string::npos);
  EXPECT_NE(err([&] { qgemm(q8(4, 32), f32(4), Tensor::zeros({48, 32}, DType::kE4M3), f32(48)); })
                .find("int8 x fp8_e4m3"),
            std::string::npos);
  EXPECT_NE(err([&] { qgemm(q8(4, 133152), f32(4), q8(16, 133152), f32(16)); }).find("overflow"), std::string::npos);
  QGemmOptions bad_bias;
  bad_bias.bias = Tensor::zeros({47}, DType::kF32);
  EXPECT_NE(err([&] { qgemm(q8(4, 32), f32(4), q8(48, 32), f32(48), bad_bias); }).find("bias must be [N] = [48]"),
            std::string::npos);
  EXPECT_NE(err([&] { qgemm(Tensor::zeros({4, 32}, DType::kBF16), f32(4), q8(48, 32), f32(48)); }).find("activations"),
            std::string::npos);
}

// ---- sim counters of the main loop -----------------------------------------------------

TEST(QGemmSim, DefaultConfigHasNoBankConflictsAndCoalescedLoads) {
  for (QType q : {QType::kInt8, QType::kE4M3}) {
    const Problem p = problem(64, 256, 1536, q);
    const Operands o = make_operands(p, 31);
    const Outputs r = run_both(p, o);
    SCOPED_TRACE(p.str());
    const auto& c = r.counters;
    EXPECT_GT(c.mma, 0u);
    EXPECT_GT(c.ldmatrix, 0u);
    EXPECT_GT(c.cp_async, 0u);
    EXPECT_EQ(c.bank_conflicts(), 0u) << c.str();
    EXPECT_GE(c.global_load_efficiency(), 0.9) << c.str();
    EXPECT_EQ(c.local_accesses, 0u) << c.str();
    std::printf("%s: %s\n", p.str().c_str(), c.str().c_str());
  }
}

}  // namespace
}  // namespace qjit
