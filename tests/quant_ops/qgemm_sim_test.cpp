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
    const Operands o = make_operands(p, seed++);
    const Outputs r = run_both(p, o);
    const double got = nmse_of(r.sim, r.ref), bound = nmse_bound(p, o, r.ref);
    EXPECT_LE(got, bound) << p.str();
    EXPECT_GT(bound, 0.0);
    std::printf("%s: NMSE %.3g (bound %.3g)\n", p.str().c_str(), got, bound);
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
TEST(QGemmSim, BlockFp8WanShapeWithinDerivedNmse) {
  Problem p = problem(256, 1536, 1536, QType::kE4M3, /*block=*/true);
  p.bias = DType::kBF16;
  const Operands o = make_operands(p, 79);
  const auto t0 = std::chrono::steady_clock::now();
  const Outputs r = run_both(p, o);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double got = nmse_of(r.sim, r.ref), bound = nmse_bound(p, o, r.ref);
  EXPECT_LE(got, bound) << p.str();
  std::printf("%s: NMSE %.3g (bound %.3g), %.1f s (sim %.1f s, %.1f M thread-instructions)\n", p.str().c_str(), got,
              bound, s, r.counters.seconds, r.counters.thread_instructions / 1e6);
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
