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

#include "qgemm_test_util.hpp"

namespace qjit {
namespace {

using namespace qgemm_test;

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
    expect_bit_identical(p, seed++);
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

// ---- fp8 and GELU: NMSE (bound derived in qgemm_test_util.hpp) ----------------------

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
    EXPECT_GT(expect_nmse_within_bound(p, seed++), 0.0);
  }
}

// The Wan2.1-1.3B-sized layer in fp8 (e4m3 x e4m3, the `fp8` preset), the heuristic's config.
TEST(QGemmSim, Fp8WanShapeWithinDerivedNmse) {
  Problem p = problem(256, 1536, 1536, QType::kE4M3);
  p.bias = DType::kBF16;
  expect_timed_nmse_within_bound(p, 78);
}

// ---- block-fp8: group128 x block128 scales applied at each 128-K promotion ------------

TEST(QGemmSim, BlockFp8WithinDerivedNmse) {
  const auto none = std::optional<DType>{};
  const Granularity grp = Granularity::kGroup128, blk = Granularity::kBlock128;
  const Activation no = Activation::kNone, gelu = Activation::kGeluTanh;
  const QType e4 = QType::kE4M3, e5 = QType::kE5M2;
  // Tails in M, N (not a multiple of 128: a partial last block128 row) and K (a partial last
  // group), every fp8 pair, every bias and output dtype, GELU, sm_89 and sm_90.
  const std::vector<Problem> problems = {
      {7, 176, 400, e4, e4, grp, blk, none, no, DType::kF32, kSmall, "sm_89"},
      {64, 48, 256, e5, e4, grp, blk, DType::kBF16, no, DType::kBF16, kMedium, "sm_89"},
      {129, 272, 144, e4, e5, grp, blk, DType::kF32, gelu, DType::kF16, kLarge, "sm_89"},
      {1, 128, 1536, e5, e5, grp, blk, DType::kF16, no, DType::kF32, kSmall, "sm_90"},
      {33, 256, 48, e4, e4, grp, blk, DType::kBF16, gelu, DType::kBF16, kNarrowWarps, "sm_90"},
      {300, 16, 528, e4, e4, grp, blk, DType::kF32, no, DType::kBF16, std::nullopt, "sm_89"},
  };
  unsigned seed = 200;
  for (const Problem& p : problems) {
    SCOPED_TRACE(p.str());
    EXPECT_GT(expect_nmse_within_bound(p, seed++), 0.0);
  }
}

// A lost or misplaced block scale is caught: scales that differ by a factor of 2^g per group
// and per block row make any mix-up an O(1) error, far above the bound.
TEST(QGemmSim, BlockFp8UsesEachGroupsScales) {
  Problem p = problem(20, 256, 384, QType::kE4M3, /*block=*/true);
  p.out = DType::kF32, p.config = kSmall;
  Operands o = make_operands(p, 210);
  for (size_t i = 0; i < o.a.scales.size(); ++i) o.a.scales[i] *= std::ldexp(1.0f, static_cast<int>(i % 3));
  for (size_t i = 0; i < o.w.scales.size(); ++i) o.w.scales[i] *= std::ldexp(1.0f, static_cast<int>(2 * i % 5));
  o.tsa = scale_tensor(o.a.scales, p.ga, p.m, p.k), o.tsw = scale_tensor(o.w.scales, p.gw, p.n, p.k);
  const Outputs r = run_both(p, o);
  EXPECT_LE(nmse_of(r.sim, r.ref), nmse_bound(p, o, r.ref)) << p.str();
}

// The Wan2.1-1.3B-sized layer in block-fp8 (the `fp8-block128` preset), the heuristic's config.
TEST(QGemmSim, SlowBlockFp8WanShapeWithinDerivedNmse) {
  Problem p = problem(256, 1536, 1536, QType::kE4M3, /*block=*/true);
  p.bias = DType::kBF16;
  expect_timed_nmse_within_bound(p, 79);
}

// A NaN in activation group (2, 0) makes row 2 NaN; an Inf in weight block (0, 0) makes
// columns 0-127 NaN; the rest is untouched.
TEST(QGemmSim, BlockFp8NanGroupsGiveNanRowsAndBlocksOnly) {
  Problem p = problem(7, 256, 192, QType::kE4M3, /*block=*/true);
  p.bias = DType::kF32, p.config = kSmall;
  const Operands o = make_operands(p, 42, /*specials=*/true);
  ASSERT_TRUE(std::isnan(o.a.scales[2 * 2]) && std::isnan(o.w.scales[0]));
  const Outputs r = run_both(p, o);
  for (std::int64_t m = 0; m < p.m; ++m) {
    for (std::int64_t n = 0; n < p.n; ++n) {
      EXPECT_EQ(std::isnan(r.sim[m * p.n + n]), m == 2 || n < 128) << m << ", " << n;
    }
  }
  EXPECT_LE(nmse_of(r.sim, r.ref), nmse_bound(p, o, r.ref));
}

TEST(QGemmSim, BlockFp8ValidationNamesTheProblem) {
  auto e4 = [](std::int64_t r, std::int64_t c) { return Tensor::zeros({r, c}, DType::kE4M3); };
  auto f32 = [](std::vector<std::int64_t> shape) { return Tensor::zeros(shape, DType::kF32); };
  QGemmOptions block;
  block.act_granularity = Granularity::kGroup128, block.weight_granularity = Granularity::kBlock128;
  // K = 160: 2 groups; N = 144: 2 block rows.
  EXPECT_EQ(error_of([&] { qgemm(e4(4, 160), f32({4, 2}), e4(144, 160), f32({2, 2}), block); }), "");
  const std::string bad_a = error_of([&] { qgemm(e4(4, 160), f32({4}), e4(144, 160), f32({2, 2}), block); });
  EXPECT_NE(bad_a.find("group128 needs [4, 2] (M = 4, ceil(K / 128) = 2)"), std::string::npos) << bad_a;
  const std::string bad_w = error_of([&] { qgemm(e4(4, 160), f32({4, 2}), e4(144, 160), f32({1, 2}), block); });
  EXPECT_NE(bad_w.find("block128 needs [2, 2] (ceil(N / 128) = 2, ceil(K / 128) = 2)"), std::string::npos) << bad_w;
  QGemmOptions mixed = block;
  mixed.weight_granularity = Granularity::kPerChannel;
  const std::string bad_mix = error_of([&] { qgemm(e4(4, 160), f32({4, 2}), e4(144, 160), f32({144}), mixed); });
  EXPECT_NE(bad_mix.find("group128 activations go only with block128 weights"), std::string::npos) << bad_mix;
  const std::string bad_int8 = error_of([&] {
    qgemm(Tensor::zeros({4, 160}, DType::kI8), f32({4, 2}), Tensor::zeros({144, 160}, DType::kI8), f32({2, 2}),
          block);
  });
  EXPECT_NE(bad_int8.find("block-fp8"), std::string::npos) << bad_int8;
  auto d80 = sim_device("sm_80");
  const std::string bad_arch = error_of([&] {
    qgemm(e4(4, 160).to(Device::sim(), d80), f32({4, 2}), e4(144, 160).to(Device::sim(), d80), f32({2, 2}), block);
  });
  EXPECT_NE(bad_arch.find("needs sm_89"), std::string::npos) << bad_arch;
}

// ---- float activations quantized by the GEMM ------------------------------------------

// Static per-tensor scales (x read and quantized in the main loop) and dynamic per-token
// scales (fused prologue or the separate act_quant pass): int8 bit-identical to reference
// quantization + the reference GEMM, whatever the x dtype, config or strategy.
TEST(QGemmSim, FloatActivationsInt8IsBitIdentical) {
  struct Case {
    std::int64_t m, n, k;
    Source source;
    DType x;
    std::optional<GemmConfig> config;
    const char* arch;
  };
  const std::vector<Case> cases = {
      {1, 48, 128, Source::kStatic, DType::kBF16, kSmall, "sm_89"},
      {7, 128, 400, Source::kStatic, DType::kF16, kMedium, "sm_80"},
      {129, 48, 144, Source::kStatic, DType::kF32, kLarge, "sm_90"},
      {300, 64, 48, Source::kStatic, DType::kBF16, kWide, "sm_89"},
      {1, 48, 128, Source::kDynamicFused, DType::kBF16, kSmall, "sm_89"},
      {7, 128, 400, Source::kDynamicFused, DType::kF32, kMedium, "sm_89"},
      {129, 48, 144, Source::kDynamicFused, DType::kF16, kLarge, "sm_80"},
      {300, 64, 48, Source::kDynamicFused, DType::kBF16, kWide, "sm_90"},
      {129, 48, 144, Source::kDynamicSeparate, DType::kBF16, kMedium, "sm_89"},
      {7, 64, 64, Source::kDynamicFused, DType::kBF16, std::nullopt, "sm_89"},
  };
  unsigned seed = 300;
  for (const Case& c : cases) {
    Problem p = with_source(problem(c.m, c.n, c.k), c.source, c.x);
    p.config = c.config, p.arch = c.arch;
    p.bias = DType::kBF16;
    SCOPED_TRACE(p.str());
    expect_bit_identical(p, seed++);
  }
}

// fp8 (every pair) and GELU with float activations: within the derived bound (the codes
// and scales are the reference's bits, so qgemm_test_util.hpp's bound holds as is).
TEST(QGemmSim, FloatActivationsFp8AndGeluWithinDerivedNmse) {
  const QType e4 = QType::kE4M3, e5 = QType::kE5M2, i8 = QType::kInt8;
  struct Case {
    std::int64_t m, n, k;
    QType qa, qw;
    Source source;
    DType x;
    Activation act;
    DType out;
    std::optional<GemmConfig> config;
    const char* arch;
  };
  const Activation no = Activation::kNone, gelu = Activation::kGeluTanh;
  const std::vector<Case> cases = {
      {7, 128, 400, e4, e4, Source::kStatic, DType::kBF16, no, DType::kF32, kSmall, "sm_89"},
      {64, 48, 256, e5, e4, Source::kDynamicFused, DType::kF16, gelu, DType::kBF16, kMedium, "sm_89"},
      {129, 48, 144, e4, e5, Source::kDynamicSeparate, DType::kF32, no, DType::kF16, kLarge, "sm_89"},
      {1, 128, 1536, e5, e5, Source::kStatic, DType::kF32, gelu, DType::kF32, kNarrowWarps, "sm_90"},
      {33, 64, 128, e4, e4, Source::kDynamicFused, DType::kBF16, no, DType::kBF16, kSmall, "sm_90"},
      {129, 16, 48, i8, i8, Source::kDynamicFused, DType::kBF16, gelu, DType::kF32, kMedium, "sm_80"},
  };
  unsigned seed = 400;
  for (const Case& c : cases) {
    Problem p = with_source(problem(c.m, c.n, c.k, c.qa), c.source, c.x);
    p.qw = c.qw, p.act = c.act, p.out = c.out, p.config = c.config, p.arch = c.arch, p.bias = DType::kF32;
    SCOPED_TRACE(p.str());
    expect_nmse_within_bound(p, seed++);
  }
}

// Dynamic per_tensor and group128 scales need the whole tensor or block-fp8's pre-quantized
// operands: the heuristic picks the separate act_quant pass, and the results match the
// reference (int8 bit for bit, block-fp8 within the bound).
TEST(QGemmSim, DynamicPerTensorAndGroup128RunTheSeparatePass) {
  Problem tensor = with_source(problem(129, 48, 400), Source::kDynamicSeparate);
  tensor.ga = Granularity::kPerTensor, tensor.bias = DType::kF32;
  Problem block = with_source(problem(33, 144, 272, QType::kE4M3, /*block=*/true), Source::kDynamicSeparate);
  block.bias = DType::kBF16, block.out = DType::kF32;
  unsigned seed = 630;
  for (const Problem& p : {tensor, block}) {
    SCOPED_TRACE(p.str());
    const Operands o = make_operands(p, seed++);
    const auto desc = qgemm_desc(o.tx, ActQuant{p.qa, p.ga, std::nullopt}, o.tw, options_of(p, o));
    EXPECT_EQ(jit::impls::qgemm_heuristic(desc, jit::Arch::parse(p.arch)).fusion, GemmFusion::kSeparate);
    const Outputs r = run_both(p, o);
    expect_matches_reference(p, o, r);
  }
}

// DESIGN.md section 5 through the GEMM, for static and dynamic scales: rows holding a NaN, an
// Inf or -Inf, an all-zero row, rows of tiny values (below the 1e-30 amax floor, and one
// lone 1e-38). int8 is bit-identical to the reference, which implements every rule; fp8
// matches its NaN pattern and stays within the bound; and the patterns are the documented
// ones: a dynamic per-token (or group128) scale turns the row of a NaN/Inf into NaN; a
// dynamic per-tensor scale turns everything into NaN; a static int8 scale maps NaN to 0 and
// Inf to +-127 (no NaN out); a static fp8 scale keeps NaN (its row is NaN) and saturates
// Inf; a zero row gives exactly the bias.
TEST(QGemmSim, SpecialRowsFollowTheNumericsOfDesignSection5) {
  const std::int64_t m = 8, n = 48, k = 160;
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> x = random_matrix(m, k, 700, false);
  std::fill(x.begin() + 1 * k, x.begin() + 2 * k, 0.0f);                   // row 1: zeros
  x[2 * k + 17] = std::numeric_limits<float>::quiet_NaN();                // row 2: a NaN
  x[3 * k + 150] = inf;                                                   // row 3: +Inf
  for (std::int64_t c = 0; c < k; ++c) x[4 * k + c] = c % 2 ? 1e-35f : -2e-35f;  // row 4: tiny
  x[5 * k + 3] = -inf;                                                    // row 5: -Inf
  std::fill(x.begin() + 7 * k, x.begin() + 8 * k, 0.0f);                  // row 7: one 1e-38
  x[7 * k + 100] = 1e-38f;
  const std::vector<float> w = random_matrix(n, k, 701, false);
  const bool nan_rows[m] = {false, false, true, true, false, true, false, false};
  struct Mode {
    Source source;
    QType q;
    Granularity g;
    const char* arch;
  };
  for (const Mode md : {Mode{Source::kStatic, QType::kInt8, Granularity::kPerTensor, "sm_80"},
                        Mode{Source::kStatic, QType::kE4M3, Granularity::kPerTensor, "sm_89"},
                        Mode{Source::kDynamicFused, QType::kInt8, Granularity::kPerToken, "sm_89"},
                        Mode{Source::kDynamicFused, QType::kE5M2, Granularity::kPerToken, "sm_90"},
                        Mode{Source::kDynamicSeparate, QType::kE4M3, Granularity::kPerToken, "sm_89"},
                        Mode{Source::kDynamicSeparate, QType::kInt8, Granularity::kPerTensor, "sm_89"},
                        Mode{Source::kDynamicSeparate, QType::kE4M3, Granularity::kGroup128, "sm_90"},
                        Mode{Source::kQuantized, QType::kInt8, Granularity::kPerToken, "sm_89"}}) {
    Problem p = with_source(problem(m, n, k, md.q, md.g == Granularity::kGroup128), md.source, DType::kF32);
    p.ga = md.g, p.arch = md.arch, p.bias = DType::kF32, p.out = DType::kF32, p.config = kSmall;
    SCOPED_TRACE(p.str());
    const Operands o = make_operands_of(p, x, w);
    const Outputs r = run_both(p, o);
    ASSERT_EQ(r.sim.size(), static_cast<size_t>(m * n));
    expect_matches_reference(p, o, r);
    const bool dynamic = md.source != Source::kStatic;
    for (std::int64_t i = 0; i < m; ++i) {
      bool want_nan = false;
      if (dynamic) want_nan = md.g == Granularity::kPerTensor || nan_rows[i];
      else if (md.q != QType::kInt8) want_nan = i == 2;  // fp8 keeps NaN; Inf saturates
      for (std::int64_t j = 0; j < n; ++j) {
        const float y = r.sim[i * n + j];
        EXPECT_EQ(std::isnan(y), want_nan) << "row " << i << " column " << j << ": " << y;
        if (!want_nan && (i == 1 || (i == 4 && !dynamic))) {
          // A zero row (and, with a static scale, a row of tiny values: all codes 0) is
          // exactly the epilogue of a zero accumulator: the bias.
          EXPECT_EQ(y, o.bias->item_f32(j)) << "row " << i << " column " << j;
        }
        if (!want_nan) {
          EXPECT_TRUE(std::isfinite(y)) << "row " << i << " column " << j;
        }
      }
    }
  }
}

// The fusion strategy never changes results: fused and separate give the same bits, for
// int8 and fp8, on every config.
TEST(QGemmSim, FusedAndSeparateGiveTheSameBits) {
  for (QType q : {QType::kInt8, QType::kE4M3}) {
    Problem p = with_source(problem(37, 64, 272, q), Source::kDynamicFused);
    p.bias = DType::kF16, p.out = DType::kF32;
    const Operands o = make_operands(p, 600);
    std::vector<float> first;
    for (const GemmConfig& c : {kSmall, kMedium, GemmConfig{32, 64, 128, 2, 2, 2}, GemmConfig{64, 64, 32, 2, 2, 5}}) {
      for (Source s : {Source::kDynamicFused, Source::kDynamicSeparate}) {
        p.source = s, p.config = c;
        SCOPED_TRACE(p.str());
        const Outputs r = run_both(p, o);
        if (first.empty()) {
          first = r.sim;
          if (q == QType::kInt8) expect_same_bits(r.sim, r.ref, p.str());
        }
        expect_same_bits(r.sim, first, p.str());
      }
    }
  }
}

// The heuristic's strategy: fused for a few column tiles or a small M, separate otherwise
// (jit/impls/qgemm.cpp says why); both run.
TEST(QGemmSim, HeuristicPicksAFusionStrategy) {
  const jit::Arch sm89 = jit::Arch::parse("sm_89");
  Problem small = with_source(problem(7, 128, 64), Source::kDynamicFused);
  Problem wide = with_source(problem(300, 1536, 64), Source::kDynamicFused);
  for (Problem* p : {&small, &wide}) {
    const Operands o = make_operands(*p, 610);
    const QGemmOptions opt = options_of(*p, o);
    const auto desc = qgemm_desc(o.tx, ActQuant{p->qa, p->ga, std::nullopt}, o.tw, opt);
    const GemmConfig c = jit::impls::qgemm_heuristic(desc, sm89);
    EXPECT_EQ(c.fusion, p == &small ? GemmFusion::kFused : GemmFusion::kSeparate) << c.str();
    const Outputs r = run_both(*p, o);
    expect_same_bits(r.sim, r.ref, p->str());
  }
}

// Reading and quantizing float x in the main loop keeps the main loop free of bank
// conflicts and the global loads coalesced (the fused prologue's amax pass too).
TEST(QGemmSim, FloatActivationsHaveNoBankConflictsAndCoalescedLoads) {
  for (Source s : {Source::kStatic, Source::kDynamicFused}) {
    for (DType x : {DType::kBF16, DType::kF32}) {
      Problem p = with_source(problem(64, 256, 1536), s, x);
      p.config = kMedium;
      const Operands o = make_operands(p, 620);
      const Outputs r = run_both(p, o);
      SCOPED_TRACE(p.str());
      const auto& c = r.counters;
      EXPECT_GT(c.mma, 0u);
      EXPECT_GT(c.shared_stores, 0u);
      EXPECT_EQ(c.bank_conflicts(), 0u) << c.str();
      EXPECT_GE(c.global_load_efficiency(), 0.9) << c.str();
      EXPECT_EQ(c.local_accesses, 0u) << c.str();
      expect_same_bits(r.sim, r.ref, p.str());
      std::printf("%s: %s\n", p.str().c_str(), c.str().c_str());
    }
  }
}

TEST(QGemmSim, FloatActivationsValidationNamesTheProblem) {
  auto bf16 = [](std::int64_t r, std::int64_t c) { return Tensor::zeros({r, c}, DType::kBF16); };
  auto i8 = [](std::int64_t r, std::int64_t c) { return Tensor::zeros({r, c}, DType::kI8); };
  auto f32 = [](std::vector<std::int64_t> shape) { return Tensor::zeros(shape, DType::kF32); };
  auto one = [](float v) { return Tensor::from_vector<float>({1}, std::vector<float>{v}); };
  const ActQuant dyn{QType::kInt8, Granularity::kPerToken, std::nullopt};
  EXPECT_EQ(error_of([&] { qgemm(bf16(4, 32), dyn, i8(48, 32), f32({48})); }), "");
  auto err = [](const std::function<void()>& f) { return error_of(f); };
  EXPECT_NE(err([&] { qgemm(i8(4, 32), dyn, i8(48, 32), f32({48})); }).find("float activations must be bf16, f16 or f32"),
            std::string::npos);
  EXPECT_NE(err([&] { qgemm(bf16(4, 40), dyn, i8(48, 40), f32({48})); }).find("K = 40"), std::string::npos);
  EXPECT_NE(err([&] { qgemm(bf16(4, 32), dyn, i8(48, 32), f32({47})); }).find("per_channel needs [48]"),
            std::string::npos);
  EXPECT_NE(err([&] { qgemm(bf16(4, 32), ActQuant{QType::kNone}, i8(48, 32), f32({48})); }).find("qtype none"),
            std::string::npos);
  for (float bad : {0.0f, -1.0f, std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN()}) {
    const ActQuant st{QType::kInt8, Granularity::kPerTensor, one(bad)};
    EXPECT_NE(err([&] { qgemm(bf16(4, 32), st, i8(48, 32), f32({48})); }).find("must be finite and > 0"),
              std::string::npos)
        << bad;
  }
  const ActQuant st_token{QType::kInt8, Granularity::kPerToken, one(0.5f)};
  EXPECT_NE(err([&] { qgemm(bf16(4, 32), st_token, i8(48, 32), f32({48})); }).find("static activation scale is per_tensor"),
            std::string::npos);
  const ActQuant two{QType::kInt8, Granularity::kPerTensor, f32({2})};
  EXPECT_NE(err([&] { qgemm(bf16(4, 32), two, i8(48, 32), f32({48})); }).find("one f32 value"), std::string::npos);
  // Group128 activations only with block128 weights; a per_tensor dynamic scale cannot be fused.
  const ActQuant grp{QType::kE4M3, Granularity::kGroup128, std::nullopt};
  EXPECT_NE(err([&] { qgemm(bf16(4, 32), grp, Tensor::zeros({48, 32}, DType::kE4M3), f32({48})); })
                .find("group128 activations go only with block128 weights"),
            std::string::npos);
  auto d89 = sim_device("sm_89");
  QGemmOptions fused;
  fused.config = kSmall;
  const ActQuant tensor{QType::kInt8, Granularity::kPerTensor, std::nullopt};
  EXPECT_NE(err([&] { qgemm(bf16(4, 32).to(Device::sim(), d89), tensor, i8(48, 32), f32({48}), fused); })
                .find("cannot be fused"),
            std::string::npos);
}

// ---- configs never change results ------------------------------------------------------

TEST(QGemmSim, EveryConfigGivesTheSameBits) {
  for (const Problem& base : {problem(33, 64, 528, QType::kInt8), problem(33, 64, 528, QType::kE4M3),
                              problem(33, 64, 528, QType::kE5M2, /*block=*/true)}) {
    Problem p = base;
    const QType q = p.qa;
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

// Float activation rows with a stride (a view of a wider matrix) are read in place, by the
// fused kernel and by the separate pass alike.
TEST(QGemmSim, FloatActivationsReadStridedRows) {
  for (Source s : {Source::kStatic, Source::kDynamicFused, Source::kDynamicSeparate}) {
    Problem p = with_source(problem(9, 32, 64), s);
    p.config = kSmall;
    SCOPED_TRACE(p.str());
    const Operands o = make_operands(p, 44);
    auto driver = sim_device(p.arch);
    // x in columns [32, 96) of a [9, 128] bf16 matrix (rows 256 bytes apart, start 64 bytes in).
    std::vector<float> wide(static_cast<size_t>(p.m * 128), 1000.0f);
    const std::vector<float> xv = o.tx.to_f32_vector();
    for (std::int64_t m = 0; m < p.m; ++m) std::copy_n(&xv[m * p.k], p.k, &wide[m * 128 + 32]);
    const Tensor view =
        Tensor::from_vector<float>({p.m, 128}, wide).to_dtype(DType::kBF16).to(Device::sim(), driver).narrow(1, 32, 64);
    ASSERT_EQ(view.stride(0), 128);
    ActQuant aq{p.qa, p.ga, std::nullopt};
    if (o.static_scale) aq.static_scale = *o.static_scale;
    const QGemmOptions opt = options_of(p, o);
    const Tensor y = qgemm(view, aq, o.tw, o.tsw, opt);
    expect_same_bits(y.to(Device::cpu()).to_f32_vector(), qgemm(o.tx, aq, o.tw, o.tsw, opt).to_f32_vector(), p.str());
  }
}

// Views whose rows start off the 16-byte grid are copied, not rejected: int8 codes 8 bytes
// in, and bf16 x 8 bytes (4 elements) in with an odd row stride.
TEST(QGemmSim, CopiesMisalignedActivations) {
  auto driver = sim_device("sm_89");
  {
    const Problem p = problem(9, 32, 64);
    const Operands o = make_operands(p, 46);
    std::vector<std::uint8_t> wide(static_cast<size_t>(p.m * 128), 0x55);
    for (std::int64_t m = 0; m < p.m; ++m) std::memcpy(&wide[m * 128 + 8], &o.a.q[m * p.k], p.k);
    const Tensor view = Tensor::from_raw({p.m, 128}, DType::kI8, wide.data()).to(Device::sim(), driver).narrow(1, 8, 64);
    const QGemmOptions opt = options_of(p, o);
    expect_same_bits(qgemm(view, o.tsa, o.tw, o.tsw, opt).to(Device::cpu()).to_f32_vector(),
                     qgemm(o.ta, o.tsa, o.tw, o.tsw, opt).to_f32_vector(), p.str());
  }
  {
    const Problem p = with_source(problem(9, 32, 64), Source::kDynamicFused);
    const Operands o = make_operands(p, 47);
    const std::vector<float> xv = o.tx.to_f32_vector();
    std::vector<float> wide(static_cast<size_t>(p.m * 76), 1000.0f);
    for (std::int64_t m = 0; m < p.m; ++m) std::copy_n(&xv[m * p.k], p.k, &wide[m * 76 + 4]);
    const Tensor view =
        Tensor::from_vector<float>({p.m, 76}, wide).to_dtype(DType::kBF16).to(Device::sim(), driver).narrow(1, 4, 64);
    const ActQuant aq{p.qa, p.ga, std::nullopt};
    QGemmOptions opt = options_of(p, o);
    opt.config = GemmConfig{};  // fused
    expect_same_bits(qgemm(view, aq, o.tw, o.tsw, opt).to(Device::cpu()).to_f32_vector(),
                     qgemm(o.tx, aq, o.tw, o.tsw, opt).to_f32_vector(), p.str());
  }
}

// K = 0: every output is the epilogue of a zero accumulator, act(bias), for every family
// and activation source (no scale of an empty group is ever read).
TEST(QGemmSim, EmptyKGivesTheEpilogueOfZero) {
  for (const Problem& base : {problem(5, 32, 0), problem(5, 32, 0, QType::kE4M3, /*block=*/true),
                              with_source(problem(5, 32, 0), Source::kStatic),
                              with_source(problem(5, 32, 0, QType::kE4M3), Source::kDynamicFused),
                              with_source(problem(5, 32, 0), Source::kDynamicSeparate)}) {
    Problem p = base;
    p.bias = DType::kBF16, p.out = DType::kF32, p.config = kSmall;
    SCOPED_TRACE(p.str());
    const Operands o = make_operands(p, 45);
    const Outputs r = run_both(p, o);
    ASSERT_EQ(r.sim.size(), static_cast<size_t>(p.m * p.n));
    expect_same_bits(r.sim, r.ref, p.str());
    for (std::int64_t i = 0; i < p.m * p.n; ++i) EXPECT_EQ(r.sim[i], o.bias->item_f32(i % p.n)) << i;
  }
}

// ---- validation ------------------------------------------------------------------------

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
    expect_clean_main_loop(c);
    std::printf("%s: %s\n", p.str().c_str(), c.str().c_str());
  }
}

// Block-fp8's default configs (the heuristic's at M = 16 and M = 64) on both fp8 archs, for
// the pre-quantized entry and for float activations through the separate group128 pass.
// The counters are the GEMM launch's alone (last_counters: the transpose of logical scales,
// or the act_quant pass, runs before it): shared memory of the cp.async stores and ldmatrix
// reads; global loads of the A and W tiles (cp.async, 16 bytes a lane) and of the block
// scales at each 128-K group. The K-major activation scales keep the latter to one sector
// per 8 rows; logical ones cost a sector per row (0.78 for 64x128x64 w2x4 at M = 256).
TEST(QGemmSim, BlockFp8DefaultConfigsHaveNoBankConflictsAndCoalescedLoads) {
  for (const char* arch : {"sm_89", "sm_90"}) {
    for (std::int64_t m : {16, 64}) {
      for (Source source : {Source::kQuantized, Source::kDynamicSeparate}) {
        Problem p = with_source(problem(m, 256, 1536, QType::kE4M3, /*block=*/true), source);
        p.arch = arch, p.bias = DType::kBF16;
        const Operands o = make_operands(p, 640 + static_cast<unsigned>(m));
        const Outputs r = run_both(p, o);
        SCOPED_TRACE(p.str());
        const auto& c = r.counters;
        EXPECT_GT(c.mma, 0u);
        EXPECT_GT(c.cp_async, 0u);
        EXPECT_EQ(c.bank_conflicts(), 0u) << c.str();
        EXPECT_GE(c.global_load_efficiency(), 0.9) << c.str();
        EXPECT_EQ(c.local_accesses, 0u) << c.str();
        expect_matches_reference(p, o, r);
        std::printf("%s: %s\n", p.str().c_str(), c.str().c_str());
      }
    }
  }
}

// The two ways block-fp8 scales reach the kernel's K-major layout agree bit for bit: the
// act_quant pass writing it (float activations) and the transpose of logical scales
// (pre-quantized: scales on the cpu, on the device, and as a strided view). M = 37 (not a
// multiple of 8: padded columns; two 32-row tiles of the transpose) and K = 4224 (33 groups:
// two 32-group tiles).
TEST(QGemmSim, BlockFp8LogicalAndKMajorScalesGiveTheSameBits) {
  Problem p = with_source(problem(37, 32, 4224, QType::kE4M3, /*block=*/true), Source::kDynamicSeparate);
  p.out = DType::kF32;
  const Operands o = make_operands(p, 650);
  const Outputs r = run_both(p, o);  // float x: the K-major group128 pass, then the GEMM
  expect_matches_reference(p, o, r);
  auto d = sim_device(p.arch);
  const QGemmOptions opt = options_of(p, o);
  const Tensor a = o.ta.to(Device::sim(), d), w = o.tw.to(Device::sim(), d), sw = o.tsw.to(Device::sim(), d);
  // o.ta / o.tsa are the reference's quantization of x: the pass's codes and scales, bit for bit.
  const std::int64_t groups = o.tsa.size(1);
  std::vector<float> t(static_cast<size_t>(groups * p.m));
  for (std::int64_t i = 0; i < p.m; ++i)
    for (std::int64_t g = 0; g < groups; ++g) t[g * p.m + i] = o.a.scales[i * groups + g];
  const Tensor strided = Tensor::from_vector<float>({groups, p.m}, t).to(Device::sim(), d).transpose(0, 1);
  ASSERT_EQ(strided.shape(), o.tsa.shape());
  for (const Tensor& sa : {o.tsa, o.tsa.to(Device::sim(), d), strided}) {
    const Tensor y = qgemm(a, sa, w, sw, opt);
    expect_same_bits(y.to(Device::cpu()).to_f32_vector(), r.sim, "pre-quantized " + sa.describe());
  }
}

}  // namespace
}  // namespace qjit
