// The autotuner's search on synthetic costs: the fastest measured candidate wins; pruned,
// uncompilable, wrong and failing candidates are reported with their reasons and never win;
// the heuristic is always searched (and a fault in it is an error); --max-configs and
// --time-budget stop the search; bench_by_time's statistics. And the families' search spaces:
// the heuristic first, every config JSON round-trips.

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <set>
#include <thread>

#include "common/error.hpp"
#include "jit/autotune.hpp"
#include "jit/impls/tuning_space.hpp"

namespace qjit::jit {
namespace {

std::vector<TuneCandidate> candidates(int n) {
  std::vector<TuneCandidate> out;
  for (int i = 0; i < n; ++i) out.push_back({{{"i", i}}, "c" + std::to_string(i)});
  return out;
}

int index_of(const TuneCandidate& c) { return c.config.at("i").get<int>(); }

TimingStats fixed(double us) {
  TimingStats t;
  t.median_us = t.p20_us = t.p80_us = t.min_us = us;
  t.reps = 1;
  return t;
}

// Costs by index; the hooks record what they saw.
struct Synthetic {
  std::vector<double> cost;
  std::set<int> pruned, uncompilable, wrong, throwing;
  std::vector<int> compiled, measured;
  TuneHooks hooks() {
    TuneHooks h;
    h.prune = [this](const TuneCandidate& c) { return pruned.count(index_of(c)) ? "too big" : ""; };
    h.compile = [this](const std::vector<TuneCandidate>& cs) {
      std::vector<std::string> errors;
      for (const auto& c : cs) {
        compiled.push_back(index_of(c));
        errors.push_back(uncompilable.count(index_of(c)) ? "nvrtc: error" : "");
      }
      return errors;
    };
    h.check = [this](const TuneCandidate& c) { return wrong.count(index_of(c)) ? "3 outputs differ" : ""; };
    h.measure = [this](const TuneCandidate& c) {
      const int i = index_of(c);
      if (throwing.count(i)) QJIT_THROW("test", "launch failed");
      measured.push_back(i);
      return fixed(cost[static_cast<std::size_t>(i)]);
    };
    return h;
  }
};

TEST(Autotune, TheFastestMeasuredCandidateWins) {
  Synthetic s;
  s.cost = {10, 8, 3, 1, 2, 5};
  s.pruned = {3};        // the cheapest, but it does not fit
  s.uncompilable = {4};  // next, but the compiler refuses it
  s.wrong = {};
  const TuneOutcome out = autotune(candidates(6), s.hooks());
  ASSERT_TRUE(out.winner);
  EXPECT_EQ(*out.winner, 2u);
  EXPECT_EQ(out.heuristic, 0u);
  EXPECT_EQ(out.results[3].status, CandidateStatus::kPruned);
  EXPECT_EQ(out.results[3].reason, "too big");
  EXPECT_EQ(out.results[4].status, CandidateStatus::kCompileFailed);
  EXPECT_EQ(out.results[4].reason, "nvrtc: error");
  EXPECT_EQ(s.compiled, (std::vector<int>{0, 1, 2, 4, 5})) << "pruned configs are never compiled";
  EXPECT_EQ(s.measured, (std::vector<int>{0, 1, 2, 5, 0, 2, 0, 2})) << "then the heuristic and the winner confirmed";
}

TEST(Autotune, WrongOrFailingCandidatesNeverWin) {
  Synthetic s;
  s.cost = {10, 1, 2, 5};
  s.wrong = {1};
  s.throwing = {2};
  const TuneOutcome out = autotune(candidates(4), s.hooks());
  EXPECT_EQ(out.results[1].status, CandidateStatus::kWrong);
  EXPECT_EQ(out.results[1].reason, "3 outputs differ");
  EXPECT_EQ(out.results[2].status, CandidateStatus::kFailed);
  EXPECT_NE(out.results[2].reason.find("launch failed"), std::string::npos);
  ASSERT_TRUE(out.winner);
  EXPECT_EQ(*out.winner, 3u);
  EXPECT_EQ(s.measured, (std::vector<int>{0, 3, 0, 3, 0, 3})) << "a wrong config is not timed";
}

TEST(Autotune, TiesGoToTheEarlierCandidateSoTheHeuristicKeepsItsPlace) {
  Synthetic s;
  s.cost = {4, 4, 4};
  EXPECT_EQ(*autotune(candidates(3), s.hooks()).winner, 0u);
}

TEST(Autotune, AFaultInTheHeuristicIsAnError) {
  for (int fault = 0; fault < 4; ++fault) {
    Synthetic s;
    s.cost = {1, 2};
    if (fault == 0) s.pruned = {0};
    if (fault == 1) s.uncompilable = {0};
    if (fault == 2) s.wrong = {0};
    if (fault == 3) s.throwing = {0};
    EXPECT_THROW(autotune(candidates(2), s.hooks()), Error) << fault;
  }
  Synthetic s;
  EXPECT_THROW(autotune({}, s.hooks()), Error);
}

TEST(Autotune, MaxConfigsKeepsTheHeuristicAndCountsOnlyConfigsThatFit) {
  Synthetic s;
  s.cost = {9, 8, 7, 1, 6};
  s.pruned = {1};
  TuneOptions o;
  o.max_configs = 3;
  const TuneOutcome out = autotune(candidates(5), s.hooks(), o);
  EXPECT_EQ(s.measured, (std::vector<int>{0, 2, 3, 0, 3, 0, 3}));
  EXPECT_EQ(out.results[4].status, CandidateStatus::kNotRun);
  EXPECT_NE(out.results[4].reason.find("--max-configs 3"), std::string::npos);
  EXPECT_EQ(*out.winner, 3u);
}

TEST(Autotune, TheTimeBudgetStopsMeasuringButNeverSkipsTheHeuristic) {
  Synthetic s;
  s.cost = {5, 4, 3, 2};
  TuneHooks h = s.hooks();
  const auto measure = h.measure;
  h.measure = [measure](const TuneCandidate& c) {
    std::this_thread::sleep_for(std::chrono::milliseconds(60));
    return measure(c);
  };
  TuneOptions o;
  o.time_budget_s = 0.01;
  std::vector<std::string> lines;
  o.progress = [&](const std::string& l) { lines.push_back(l); };
  const TuneOutcome out = autotune(candidates(4), h, o);
  EXPECT_EQ(s.measured, (std::vector<int>{0}));
  EXPECT_EQ(out.results[1].status, CandidateStatus::kNotRun);
  EXPECT_NE(out.results[1].reason.find("--time-budget"), std::string::npos);
  EXPECT_EQ(*out.winner, 0u);
  ASSERT_FALSE(lines.empty());
  EXPECT_NE(lines.back().find("(heuristic)"), std::string::npos);
}

TEST(Autotune, TheWinnerIsConfirmedAgainstTheHeuristic) {
  // Stable costs: the winner holds.
  Synthetic s;
  s.cost = {4, 2, 3};
  const TuneOutcome held = autotune(candidates(3), s.hooks());
  ASSERT_TRUE(held.confirmation);
  EXPECT_TRUE(held.confirmation->held);
  EXPECT_EQ(*held.winner, 1u);
  EXPECT_EQ(s.measured, (std::vector<int>{0, 1, 2, 0, 1, 0, 1})) << "heuristic and winner, alternately, twice";
  // A lucky first timing: measured again, the winner is slower than the heuristic, which wins.
  Synthetic lucky;
  lucky.cost = {4, 2};
  TuneHooks h = lucky.hooks();
  int calls_of_1 = 0;
  const auto measure = h.measure;
  h.measure = [&](const TuneCandidate& c) {
    TimingStats t = measure(c);
    if (index_of(c) == 1 && ++calls_of_1 > 1) t = fixed(9);
    return t;
  };
  const TuneOutcome curse = autotune(candidates(2), h);
  ASSERT_TRUE(curse.confirmation);
  EXPECT_FALSE(curse.confirmation->held);
  EXPECT_EQ(*curse.winner, 0u);
  EXPECT_EQ(curse.confirmation->winner.median_us, 9);
  // Faster, but by less than the margin: noise, and the heuristic stays.
  Synthetic close;
  close.cost = {100, 99};
  const TuneOutcome noise = autotune(candidates(2), close.hooks());
  ASSERT_TRUE(noise.confirmation);
  EXPECT_FALSE(noise.confirmation->held);
  EXPECT_EQ(*noise.winner, 0u);
  // A failure while confirming keeps the heuristic.
  Synthetic failing;
  failing.cost = {4, 2};
  TuneHooks fh = failing.hooks();
  int calls = 0;
  const auto fm = fh.measure;
  fh.measure = [&](const TuneCandidate& c) {
    if (++calls > 2) QJIT_THROW("test", "the device went away");
    return fm(c);
  };
  EXPECT_EQ(*autotune(candidates(2), fh).winner, 0u);
  // Off (a model's costs), or when the heuristic wins outright: nothing to confirm.
  Synthetic model;
  model.cost = {4, 2};
  TuneOptions o;
  o.confirm = false;
  EXPECT_FALSE(autotune(candidates(2), model.hooks(), o).confirmation);
  Synthetic best;
  best.cost = {1, 2};
  EXPECT_FALSE(autotune(candidates(2), best.hooks()).confirmation);
}

TEST(Autotune, TimingStatsAreQuantilesOfTheSamples) {
  const TimingStats t = TimingStats::of({5, 1, 4, 2, 3});
  EXPECT_DOUBLE_EQ(t.median_us, 3);
  EXPECT_DOUBLE_EQ(t.p20_us, 1.8);  // between the 1st and 2nd of 5 sorted samples
  EXPECT_DOUBLE_EQ(t.p80_us, 4.2);
  EXPECT_DOUBLE_EQ(t.min_us, 1);
  EXPECT_EQ(t.reps, 5);
  EXPECT_THROW(TimingStats::of({}), Error);
}

TEST(Autotune, BenchByTimeBuysRepetitionsWithItsBudget) {
  int calls = 0;
  BenchOptions o;
  o.warmup_ms = 1;
  o.rep_ms = 10;
  // 100 us a call: 3 estimating, 10 warming up, 100 measured.
  const TimingStats t = bench_by_time(
      [&] {
        ++calls;
        return 100.0;
      },
      o);
  EXPECT_EQ(t.reps, 100);
  EXPECT_EQ(calls, 3 + 10 + 100);
  EXPECT_DOUBLE_EQ(t.median_us, 100);
  // A slow call still gets the minimum repetitions.
  const TimingStats slow = bench_by_time([] { return 1e6; }, o);
  EXPECT_EQ(slow.reps, o.min_reps);
}

TEST(TuningSpace, HostCandidatesStartAtTheHeuristicAndRoundTrip) {
  for (impls::HostIsa isa : {impls::HostIsa::kAvx512Vnni, impls::HostIsa::kAmx, impls::HostIsa::kGeneric}) {
    const impls::HostQGemmDesc d{DType::kBF16, std::nullopt, Activation::kNone, isa};
    const auto list = impls::host_qgemm_candidates(d, 1024, 8960, 1536, 8);
    ASSERT_GT(list.size(), 20u);
    EXPECT_EQ(impls::to_json(list.front()), impls::to_json(impls::host_qgemm_heuristic(d, 1024, 8960, 1536)));
    EXPECT_EQ(list.front().threads, 0) << "the heuristic runs on every thread";
    std::set<std::string> seen;
    std::set<int> threads;
    for (const auto& c : list) {
      EXPECT_TRUE(seen.insert(impls::to_json(c).dump()).second) << "a candidate twice: " << impls::host_qgemm_label(c);
      EXPECT_EQ(impls::to_json(impls::host_qgemm_config_from_json(impls::to_json(c))), impls::to_json(c));
      threads.insert(c.threads);
    }
    for (int t : {0, 4, 2, 1}) EXPECT_TRUE(threads.count(t)) << "the heuristic on all, half, a quarter, one: " << t;
    EXPECT_LT(*threads.rbegin(), 8) << "never more than the device has";
    for (const auto& c : impls::host_qgemm_candidates(d, 1024, 8960, 1536, 1)) {
      EXPECT_EQ(c.threads, 0) << "one thread: no fewer";
    }
    // A small grid: the fewest threads with as many waves as all 6 (counted at the M bucket).
    const auto h = impls::host_qgemm_heuristic(d, 60, 256, 128);
    const int blocks = static_cast<int>((impls::gemm_m_bucket(60) + h.mc - 1) / h.mc * ((256 + h.nc - 1) / h.nc));
    const int waves = (blocks + 5) / 6, fewest = (blocks + waves - 1) / waves;
    std::set<int> small;
    for (const auto& c : impls::host_qgemm_candidates(d, 60, 256, 128, 6)) small.insert(c.threads);
    std::set<int> want = {0, 3, 1};
    if (fewest < 6) want.insert(fewest);
    EXPECT_EQ(small, want) << blocks << " blocks";
  }
  // A record written before threads were tuned means all of them; a negative count is refused.
  const nlohmann::json old_record = {{"mr", 6}, {"nb", 4}, {"mc", 48}, {"nc", 256}, {"kc", 2048}};
  EXPECT_EQ(impls::host_qgemm_config_from_json(old_record).threads, 0);
  nlohmann::json negative = old_record;
  negative["threads"] = -1;
  EXPECT_THROW(impls::host_qgemm_config_from_json(negative), Error);
  nlohmann::json one = old_record;
  one["threads"] = 1;
  EXPECT_EQ(impls::host_qgemm_label(impls::host_qgemm_config_from_json(one)), "6x64 48x256 kc2048 1t");
  EXPECT_THROW(impls::host_qgemm_config_from_json({{"mr", 6}}), Error);
  EXPECT_THROW(impls::host_qgemm_config_from_json({{"mr", 6}, {"nb", 4}, {"mc", -48}, {"nc", 256}, {"kc", 2048}}),
               Error);
}

// The cpu float GEMM's space: the same blocking grid, every K step a multiple of 128 (its
// blocks of 128 K), the heuristic first; its records round-trip.
TEST(TuningSpace, HostBf16CandidatesStartAtTheHeuristicAndRoundTrip) {
  for (impls::HostIsa isa : {impls::HostIsa::kAvx512Vnni, impls::HostIsa::kAmx}) {
    impls::HostGemmBf16Desc d;
    d.accum = impls::HostAccum::kBlock128;
    d.isa = isa;
    const auto list = impls::host_gemm_bf16_candidates(d, 1024, 5120, 5120, 2);
    ASSERT_GT(list.size(), 20u);
    EXPECT_EQ(impls::to_json(list.front()), impls::to_json(impls::host_gemm_bf16_heuristic(d, 1024, 5120, 5120)));
    int one_thread = 0;
    for (const auto& c : list) {
      EXPECT_EQ(c.kc % 128, 0) << impls::host_gemm_bf16_label(c);
      EXPECT_EQ(impls::to_json(impls::host_gemm_bf16_config_from_json(impls::to_json(c))), impls::to_json(c));
      one_thread += c.threads == 1;
    }
    EXPECT_EQ(one_thread, 1) << "the heuristic's config on one of two threads";
    EXPECT_EQ(impls::host_gemm_bf16_tuning_desc(d, 1000, 5120, 5120)["accum"], "block128");
  }
}

// The f16 GEMM (weight-only rules on f16 activations) has no AMX code: an AMX host searches,
// and keys its records by, the AVX-512 tile it runs.
TEST(TuningSpace, HostF32CandidatesStartAtTheHeuristicAndRoundTrip) {
  for (impls::HostIsa isa : {impls::HostIsa::kAvx512Vnni, impls::HostIsa::kAmx}) {
    impls::HostGemmF32Desc d;
    d.isa = isa;
    const auto list = impls::host_gemm_f32_candidates(d, 1024, 1536, 8960, 2);
    ASSERT_GT(list.size(), 20u);
    EXPECT_EQ(impls::to_json(list.front()), impls::to_json(impls::host_gemm_f32_heuristic(d, 1024, 1536, 8960)));
    int one_thread = 0, usable = 0;
    for (const auto& c : list) {
      // NOTE: the list may hold configs the checks refuse (blocks past the stack's 1 MiB): the
      // autotuner prunes them with the reason.
      try {
        impls::check_host_gemm_f32_config(c, isa);
        ++usable;
      } catch (const Error& e) {
        EXPECT_TRUE(std::string(e.what()).find("host_gemm_f32") != std::string::npos) << e.what();
      }
      EXPECT_LE(c.mr, 16) << "an AVX-512 register tile, never an AMX one";
      EXPECT_EQ(impls::to_json(impls::host_gemm_f32_config_from_json(impls::to_json(c))), impls::to_json(c));
      one_thread += c.threads == 1;
    }
    EXPECT_EQ(one_thread, 1) << "the heuristic's config on one of two threads";
    EXPECT_GT(usable, 100);
    const auto desc = impls::host_gemm_f32_tuning_desc(d, 1000, 1536, 8960);
    EXPECT_EQ(desc["isa"], "avx512_vnni");
    EXPECT_EQ(desc["in"], "f16");
    EXPECT_EQ(desc["m_bucket"], 1024);
  }
  EXPECT_THROW(impls::host_gemm_f32_config_from_json(nlohmann::json{{"mr", 6}}), Error);
}

TEST(TuningSpace, GpuCandidatesStartAtTheHeuristicAndRoundTrip) {
  impls::GemmDesc d;
  d.m_bucket = 1024;
  d.n = 1536;
  d.k = 1536;
  d.a_source = impls::ActSource::kDynamic;
  const Arch arch = Arch::parse("sm_90");
  const auto list = impls::qgemm_candidates(d, arch);
  ASSERT_GT(list.size(), 10u);
  EXPECT_EQ(list.front(), impls::qgemm_heuristic(d, arch));
  bool separate = false, fused = false;
  for (const auto& c : list) {
    EXPECT_EQ(impls::gemm_config_from_json(impls::to_json(c)), c);
    separate |= c.fusion == impls::GemmFusion::kSeparate;
    fused |= c.fusion == impls::GemmFusion::kFused;
  }
  EXPECT_TRUE(separate && fused) << "dynamic activations search both strategies";
  EXPECT_THROW(impls::gemm_config_from_json({{"tile_m", 64}}), Error);
  d.a_source = impls::ActSource::kQuantized;
  for (const auto& c : impls::qgemm_candidates(d, arch)) EXPECT_EQ(c.fusion, impls::GemmFusion::kFused);
}

// The weight-only GEMM's space: the heuristic first, then its depths and K steps, then the
// tiles; most pass the family's checks on every arch it runs on, and each round-trips.
TEST(TuningSpace, WeightOnlyCandidatesStartAtTheHeuristicAndRoundTrip) {
  impls::WeightOnlyDesc d;
  d.m_bucket = 1024;
  d.n = 8960;
  d.k = 1536;
  for (const char* name : {"sm_80", "sm_86", "sm_90"}) {
    const Arch arch = Arch::parse(name);
    const auto list = impls::qgemm_wo_candidates(d, arch);
    ASSERT_GT(list.size(), 40u);
    EXPECT_EQ(list.front(), impls::qgemm_wo_heuristic(d, arch));
    std::set<std::string> seen;
    std::set<int> stages, tile_k;
    int fit = 0;
    for (const auto& c : list) {
      EXPECT_TRUE(seen.insert(c.str()).second) << "a candidate twice: " << c.str();
      const int accumulators = (c.tile_m / c.warps_m / 16) * (c.tile_n / c.warps_n / 8) * 4;
      EXPECT_TRUE(accumulators < 128 || c.tile_k == 32) << "would spill: " << c.str();
      EXPECT_EQ(impls::weight_only_config_from_json(impls::to_json(c)), c);
      try {
        impls::check_weight_only_config(d, c, arch);
        ++fit;
        stages.insert(c.stages);
        tile_k.insert(c.tile_k);
      } catch (const Error&) {
      }
    }
    EXPECT_GT(fit, 30) << name;
    EXPECT_EQ(stages, (std::set<int>{2, 3, 4, 5})) << name;
    EXPECT_EQ(tile_k, (std::set<int>{32, 64, 128})) << name;
    // The first candidates are the heuristic's neighbours: its tile at other depths; then
    // every tile comes before any tile's depth sweep, so 24 candidates see most tiles.
    for (std::size_t i = 1; i < 4; ++i) {
      EXPECT_EQ(list[i].tile_m, list.front().tile_m);
      EXPECT_EQ(list[i].tile_n, list.front().tile_n);
      EXPECT_NE(list[i].stages, list.front().stages);
    }
    std::set<std::string> first_tiles;
    for (std::size_t i = 0; i < 24; ++i) {
      first_tiles.insert(fmt::format("{}x{}x{} w{}x{}", list[i].tile_m, list[i].tile_n, list[i].tile_k, list[i].warps_m,
                                     list[i].warps_n));
    }
    EXPECT_GE(first_tiles.size(), 14u) << name;
  }
  // Unquantized weights (the float GEMM) are described by the activation dtype, with no scale.
  d.qtype_w = QType::kNone;
  d.x = DType::kF16;
  const nlohmann::json desc = impls::qgemm_wo_tuning_desc(d);
  EXPECT_EQ(desc["qtype_w"], "f16");
  EXPECT_EQ(desc["scale_w"], "none");
  EXPECT_EQ(desc["m_bucket"], 1024);
  EXPECT_THROW(impls::weight_only_config_from_json({{"tile_m", 64}}), Error);
  EXPECT_THROW(impls::weight_only_config_from_json(
                   {{"tile_m", 0}, {"tile_n", 128}, {"tile_k", 64}, {"warps_m", 1}, {"warps_n", 4}, {"stages", 4}}),
               Error);
}

}  // namespace
}  // namespace qjit::jit
