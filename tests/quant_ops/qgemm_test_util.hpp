#pragma once
// Shared by the qgemm sim tests (qgemm_sim_test.cpp, qgemm_pairwise_test.cpp): a problem
// description, operands quantized by the reference, the op run on a sim device and on the
// cpu (the reference), bit comparison and the NMSE bound derived below.

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "common/error.hpp"
#include "quant_ops/qgemm.hpp"
#include "quant_ops/reference/gemm.hpp"
#include "runtime/float_convert.hpp"
#include "sim/sim_driver.hpp"
#include "tests/support/checks.hpp"
#include "tests/support/gemm_bound.hpp"
#include "tests/support/gemm_data.hpp"
#include "tests/support/sim_devices.hpp"

namespace qjit::qgemm_test {

using jit::impls::GemmConfig;
using jit::impls::GemmFusion;
using reference::Activation;
using namespace test;  // tests/support/

inline constexpr GemmConfig kSmall{16, 64, 64, 1, 2, 4};
inline constexpr GemmConfig kMedium{64, 128, 64, 2, 2, 4};
inline constexpr GemmConfig kLarge{128, 128, 64, 2, 4, 4};
inline constexpr GemmConfig kWide{128, 256, 64, 2, 4, 3};
inline constexpr GemmConfig kNarrowWarps{64, 128, 64, 2, 4, 4};

// Where the GEMM's activations come from.
enum class Source {
  kQuantized,        // pre-quantized codes and scales (the 5-argument qgemm)
  kStatic,           // float x with a calibrated per-tensor scale, quantized by the GEMM
  kDynamicFused,     // float x, dynamic scales computed in the GEMM's prologue (per_token)
  kDynamicSeparate,  // float x, dynamic scales by the act_quant pass, then the GEMM
};

inline const char* source_name(Source s) {
  switch (s) {
    case Source::kQuantized: return "quantized";
    case Source::kStatic: return "static";
    case Source::kDynamicFused: return "dynamic_fused";
    case Source::kDynamicSeparate: return "dynamic_separate";
  }
  return "?";
}

struct Problem {
  std::int64_t m = 0, n = 0, k = 0;
  QType qa = QType::kInt8, qw = QType::kInt8;
  Granularity ga = Granularity::kPerToken, gw = Granularity::kPerChannel;
  std::optional<DType> bias;  // none, or its dtype
  Activation act = Activation::kNone;
  DType out = DType::kBF16;
  std::optional<GemmConfig> config;  // the heuristic's when absent
  std::string arch = "sm_89";
  Source source = Source::kQuantized;
  DType x = DType::kBF16;  // the float activations' dtype (sources other than kQuantized)

  bool block() const { return ga == Granularity::kGroup128; }
  std::string str() const {
    return fmt::format("{} M={} N={} K={} {}x{} {}/{} src={} x={} bias={} act={} out={} config={}", arch, m, n, k,
                       qtype_name(qa), qtype_name(qw), granularity_name(ga), granularity_name(gw),
                       source_name(source), dtype_name(x), bias ? dtype_name(*bias) : "none",
                       reference::activation_name(act), dtype_name(out), config ? config->str() : "heuristic");
  }
};

// A pre-quantized problem with the defaults (per_token x per_channel, or group128 x block128
// for block; no bias; bf16 out).
inline Problem problem(std::int64_t m, std::int64_t n, std::int64_t k, QType q = QType::kInt8, bool block = false) {
  Problem p;
  p.m = m, p.n = n, p.k = k, p.qa = p.qw = q;
  if (block) p.ga = Granularity::kGroup128, p.gw = Granularity::kBlock128;
  return p;
}

// p with float activations of dtype x from `source` (a static scale is per_tensor).
inline Problem with_source(Problem p, Source source, DType x = DType::kBF16) {
  p.source = source, p.x = x;
  if (source == Source::kStatic) p.ga = Granularity::kPerTensor;
  return p;
}

// A tensor of the scales in their logical layout (2-D for group128 and block128).
inline Tensor scale_tensor(const std::vector<float>& s, Granularity g, std::int64_t rows, std::int64_t k) {
  const std::int64_t groups = (k + 127) / 128;
  if (g == Granularity::kGroup128) return Tensor::from_vector<float>({rows, groups}, s);
  if (g == Granularity::kBlock128) return Tensor::from_vector<float>({(rows + 127) / 128, groups}, s);
  return Tensor::from_vector<float>({static_cast<std::int64_t>(s.size())}, s);
}

// Operands on the cpu: the float activations x (rounded to p.x), the reference's quantized
// activations of x (what every source must reproduce), the quantized weights and the bias.
struct Operands {
  Tensor tx;                         // [M, K] of p.x
  std::optional<Tensor> static_scale;  // [1] f32: kStatic
  reference::QuantizedActs a;        // the reference quantization of tx under p's source
  reference::QuantizedWeights w;
  Tensor ta, tsa, tw, tsw;
  std::optional<Tensor> bias;
};

inline void set_specials(std::vector<float>& x, const Problem& p, std::vector<float>& w) {
  // A NaN in activation row 2 and an Inf in weight row 5: their groups get NaN scales and
  // zero codes (DESIGN.md section 5).
  x[2 * p.k + 1] = std::numeric_limits<float>::quiet_NaN();
  w[5 * p.k + 3] = std::numeric_limits<float>::infinity();
}

// Operands of the given activations x [M, K] and weights w [N, K] (f32 values; x is rounded
// to p.x). A static scale is calibrated on x's finite values.
inline Operands make_operands_of(const Problem& p, const std::vector<float>& x, const std::vector<float>& w) {
  Operands o;
  o.tx = Tensor::from_vector<float>({p.m, p.k}, x).to_dtype(p.x);
  const Tensor xf = o.tx.to_dtype(DType::kF32);  // the values the quantizers see
  const reference::ActView view = reference::ActView::dense(xf.raw_data_ptr(), DType::kF32, p.m, p.k);
  EXPECT_TRUE(p.source != Source::kStatic || p.ga == Granularity::kPerTensor) << "static scales are per_tensor";
  if (p.source == Source::kStatic) {
    // A calibrated scale that clips the outliers a little: amax / qmax * 0.75.
    float amax = 0;
    for (std::int64_t i = 0; i < p.m * p.k; ++i) {
      const float v = std::fabs(view.at(i / p.k, i % p.k));
      if (std::isfinite(v)) amax = std::max(amax, v);
    }
    const float qmax = p.qa == QType::kInt8 ? 127.0f : p.qa == QType::kE4M3 ? 448.0f : 57344.0f;
    const float s = amax > 0 ? 0.75f * amax / qmax : 1.0f;
    o.static_scale = Tensor::from_vector<float>({1}, std::vector<float>{s});
    o.a = reference::quantize_static(view, p.qa, s);
  } else {
    o.a = reference::quantize_dynamic(view, p.qa, p.ga);
  }
  o.w = reference::quantize_weights(w, p.n, p.k, p.qw, p.gw);
  o.ta = Tensor::from_raw({p.m, p.k}, qtype_storage(p.qa), o.a.q.data());
  o.tw = Tensor::from_raw({p.n, p.k}, qtype_storage(p.qw), o.w.q.data());
  o.tsa = scale_tensor(o.a.scales, p.ga, p.m, p.k);
  o.tsw = scale_tensor(o.w.scales, p.gw, p.n, p.k);
  if (p.bias) o.bias = bias_tensor(p.n, *p.bias);
  return o;
}

// specials: see set_specials (needs M > 2, N > 5, K > 3).
inline Operands make_operands(const Problem& p, unsigned seed, bool specials = false) {
  std::vector<float> x = random_matrix(p.m, p.k, seed, true), w = random_matrix(p.n, p.k, seed + 1, false);
  if (specials) set_specials(x, p, w);
  return make_operands_of(p, x, w);
}

inline QGemmOptions options_of(const Problem& p, const Operands& o) {
  QGemmOptions opt;
  opt.act_granularity = p.ga;
  opt.weight_granularity = p.gw;
  opt.bias = o.bias;
  opt.activation = p.act;
  opt.out_dtype = p.out;
  opt.config = p.config;
  if (opt.config && p.source != Source::kQuantized) {
    opt.config->fusion = p.source == Source::kDynamicSeparate ? GemmFusion::kSeparate : GemmFusion::kFused;
  }
  return opt;
}

// The op for p on `dev` (a sim device, or the cpu: the reference), operands copied there.
inline Tensor run_op(const Problem& p, const Operands& o, const std::function<Tensor(const Tensor&)>& to_dev) {
  const QGemmOptions opt = options_of(p, o);
  if (p.source == Source::kQuantized) return qgemm(to_dev(o.ta), to_dev(o.tsa), to_dev(o.tw), to_dev(o.tsw), opt);
  ActQuant aq{p.qa, p.ga, std::nullopt};
  if (o.static_scale) aq.static_scale = to_dev(*o.static_scale);
  return qgemm(to_dev(o.tx), aq, to_dev(o.tw), to_dev(o.tsw), opt);
}

using Outputs = test::SimOutputs;

inline Outputs run_both(const Problem& p, const Operands& o) {
  auto driver = sim_device(p.arch);
  Outputs r;
  Tensor y;
  try {
    y = run_op(p, o, [&](const Tensor& t) { return t.to(Device::sim(), driver); });
  } catch (const Error& e) {
    ADD_FAILURE() << p.str() << ": " << e.what();
    return r;
  }
  r.counters = driver->last_counters();
  EXPECT_EQ(y.shape(), (std::vector<std::int64_t>{p.m, p.n}));
  EXPECT_EQ(y.dtype(), p.out);
  r.sim = y.to(Device::cpu()).to_f32_vector();
  r.ref = run_op(p, o, [](const Tensor& t) { return t; }).to_f32_vector();  // the cpu runs the reference
  return r;
}

// ---- the NMSE bound of fp8, block-fp8 and GELU ------------------------------------------
//
// The kernel and the reference multiply the same codes (every source quantizes x with the
// reference's exact formulas, so the codes and scales are the same bits), so each product
// is the same exact fp32 number p_k; they differ only in how the products are summed and in
// approximations:
//  - Summation (fp8). The reference sums a 128-K block sequentially (<= 127 roundings), then
//    adds blocks (nb = ceil(K/128) roundings); the kernel's fp32-accumulating mma rounds at
//    most once per 32-k step (<= 4 per block) and adds blocks in the same order. With
//    u = 2^-24 and Σ|p| = Σ_k |p_k|, each differs from the exact sum by at most
//    (n u / (1 - n u)) Σ|p| for its n roundings, so |acc_sim - acc_ref| <= γ Σ|p| with
//    γ = 1.01 (127 + 4 + 2 nb) u. The epilogue multiplies by |s| = |scale_a scale_w| (the
//    same rounded s on both sides; the fma adds one relative rounding u of the result on
//    each side: 2 u |y|).
//  - Summation (block-fp8). Block g's partial P_g differs by <= 1.01 (127 + 4) u Σ_{k in g}|p|
//    as above; each side then rounds P_g s_g once (u |s_g| Σ_{k in g}|p| each) with the same
//    s_g = fl(scale_a scale_w), and sums nb terms (nb roundings each side, each term at most
//    |s_g| Σ_{k in g}|p|): |acc_sim - acc_ref| <= γ_b Σ_g |s_g| Σ_{k in g}|p_k| with
//    γ_b = 1.01 (127 + 4 + 2 + 2 nb) u; the epilogue's s is 1.
//  - GELU and output rounding: tests/support/gemm_bound.hpp, whose per-element bound e
//    (test::element_error) takes acc_err above. So
// NMSE = Σ (sim - ref)^2 / Σ ref^2 <= Σ e^2 / Σ ref^2: the bound the tests check. (Far below
// anything a wrong index, scale or lost block produces, which gives NMSE ~ 1.)
// `block_roundings`: the most roundings the device makes summing one 128-K block (the mma's
// 4 by default; the cpu device's float kernel adds the block's products into a sum from 0,
// at most 128).
inline double nmse_bound(const Problem& p, const Operands& o, const std::vector<float>& ref,
                         int block_roundings = 4) {
  const double u = std::ldexp(1.0, -24);
  const std::int64_t nb = (p.k + 127) / 128;
  const double gamma = 1.01 * (127 + block_roundings + 2 * static_cast<double>(nb)) * u;
  const double gamma_block = 1.01 * (127 + block_roundings + 2 + 2 * static_cast<double>(nb)) * u;
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
      const float r = ref[m * p.n + n];
      if (std::isnan(r)) continue;  // NaN groups: nmse() skips NaN on both sides
      double acc_err = 0, y = o.bias ? o.bias->item_f32(n) : 0.0;
      for (std::int64_t g = 0; g < nb; ++g) {
        double abs_sum = 0, sum = 0;
        for (std::int64_t k = g * 128; k < std::min(p.k, (g + 1) * 128); ++k) {
          const double prod = qa[m * p.k + k] * qw[n * p.k + k];
          abs_sum += std::fabs(prod), sum += prod;
        }
        const double s = static_cast<double>(o.a.scale_at(m, g * 128)) * o.w.scale_at(n, g * 128);
        y += sum * s;  // the epilogue's input to GELU, near enough for a bound
        if (p.qa != QType::kInt8) acc_err += (p.block() ? gamma_block : gamma) * std::fabs(s) * abs_sum;
      }
      const double e = element_error(acc_err, y, r, gelu, p.out);
      num += e * e;
      den += static_cast<double>(r) * r;
    }
  }
  return den == 0 ? 0 : num / den;
}

// p on its sim device against the reference, operands from `seed`: the same bits.
inline void expect_bit_identical(const Problem& p, unsigned seed) {
  const Operands o = make_operands(p, seed);
  const Outputs r = run_both(p, o);
  expect_same_bits(r.sim, r.ref, p.str());
}

// p on its sim device against the reference, operands from `seed`: the NMSE within the
// derived bound, both printed. Returns the bound.
inline double expect_nmse_within_bound(const Problem& p, unsigned seed) {
  const Operands o = make_operands(p, seed);
  const Outputs r = run_both(p, o);
  const double got = nmse_of(r.sim, r.ref), bound = nmse_bound(p, o, r.ref);
  EXPECT_LE(got, bound) << p.str();
  std::printf("%s: NMSE %.3g (bound %.3g)\n", p.str().c_str(), got, bound);
  return bound;
}

// As expect_nmse_within_bound, for a large (Wan-sized) shape: also prints the wall time and
// the sim's.
inline void expect_timed_nmse_within_bound(const Problem& p, unsigned seed) {
  const Operands o = make_operands(p, seed);
  const auto t0 = std::chrono::steady_clock::now();
  const Outputs r = run_both(p, o);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double got = nmse_of(r.sim, r.ref), bound = nmse_bound(p, o, r.ref);
  EXPECT_LE(got, bound) << p.str();
  std::printf("%s: NMSE %.3g (bound %.3g), %.1f s (sim %.1f s, %.1f M thread-instructions)\n", p.str().c_str(), got,
              bound, s, r.counters.seconds, r.counters.thread_instructions / 1e6);
}

// int8 without GELU bit for bit; everything else within the derived bound.
inline void expect_matches_reference(const Problem& p, const Operands& o, const Outputs& r) {
  if (p.qa == QType::kInt8 && p.act == Activation::kNone) {
    expect_same_bits(r.sim, r.ref, p.str());
  } else {
    const double got = nmse_of(r.sim, r.ref), bound = nmse_bound(p, o, r.ref);
    EXPECT_LE(got, bound) << p.str();
  }
}

}  // namespace qjit::qgemm_test
