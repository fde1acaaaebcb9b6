#include "jit/autotune.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "common/error.hpp"

namespace qjit::jit {

namespace {

double quantile(const std::vector<double>& sorted, double q) {
  // NOTE: linear interpolation between the closest ranks (numpy's default, as do_bench uses).
  const double pos = q * static_cast<double>(sorted.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - static_cast<double>(lo));
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

TimingStats TimingStats::of(std::vector<double> samples) {
  QJIT_CHECK_GEN("autotune", !samples.empty(), "no timings to summarize");
  std::sort(samples.begin(), samples.end());
  TimingStats t;
  t.median_us = quantile(samples, 0.5);
  t.p20_us = quantile(samples, 0.2);
  t.p80_us = quantile(samples, 0.8);
  t.min_us = samples.front();
  t.reps = static_cast<int>(samples.size());
  return t;
}

TimingStats bench_by_time(const std::function<double()>& once, const BenchOptions& o) {
  // NOTE: as do_bench: estimate one call from a few, then buy warm-up and repetitions with
  // the time budgets; every repetition is timed on its own so quantiles are real.
  // The estimate is of a whole repetition, its untimed flush included (which can cost more
  // than a short kernel), so the budgets bound the wall time spent.
  double estimate = 0;
  constexpr int kEstimate = 3;
  for (int i = 0; i < kEstimate; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    const double timed = once();
    estimate += std::max(timed, seconds_since(t0) * 1e6);
  }
  estimate = std::max(estimate / kEstimate, 1e-3);
  const int warmup = static_cast<int>(std::clamp(o.warmup_ms * 1e3 / estimate, 0.0, 1e6));
  const int reps = static_cast<int>(std::clamp(o.rep_ms * 1e3 / estimate, static_cast<double>(o.min_reps),
                                               static_cast<double>(o.max_reps)));
  for (int i = 0; i < warmup; ++i) once();
  std::vector<double> samples;
  samples.reserve(static_cast<std::size_t>(reps));
  for (int i = 0; i < reps; ++i) samples.push_back(once());
  return TimingStats::of(std::move(samples));
}

const char* candidate_status_name(CandidateStatus s) {
  switch (s) {
    case CandidateStatus::kPruned: return "pruned";
    case CandidateStatus::kCompileFailed: return "compile_failed";
    case CandidateStatus::kWrong: return "wrong";
    case CandidateStatus::kFailed: return "failed";
    case CandidateStatus::kMeasured: return "measured";
    case CandidateStatus::kNotRun: return "not_run";
  }
  return "?";
}

TuneOutcome autotune(const std::vector<TuneCandidate>& candidates, const TuneHooks& hooks, const TuneOptions& o) {
  QJIT_CHECK_GEN("autotune", !candidates.empty(), "no candidate configs to search");
  const auto t0 = std::chrono::steady_clock::now();
  auto say = [&](const std::string& line) {
    if (o.progress) o.progress(line);
  };
  TuneOutcome out;
  out.results.resize(candidates.size());
  for (std::size_t i = 0; i < candidates.size(); ++i) out.results[i].candidate = candidates[i];

  // Prune, then keep the budget's worth (the heuristic first).
  std::vector<std::size_t> kept;
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    CandidateResult& r = out.results[i];
    r.reason = hooks.prune ? hooks.prune(candidates[i]) : std::string();
    if (!r.reason.empty()) {
      r.status = CandidateStatus::kPruned;
      QJIT_CHECK_GEN("autotune", i != 0, "the heuristic's config {} is refused by its own family: {}",
                     candidates[i].label, r.reason);
      continue;
    }
    if (o.max_configs != 0 && kept.size() >= o.max_configs) {
      r.reason = fmt::format("past --max-configs {}", o.max_configs);
      continue;
    }
    kept.push_back(i);
  }

  // Compile the survivors in parallel.
  if (hooks.compile) {
    std::vector<TuneCandidate> batch;
    for (std::size_t i : kept) batch.push_back(candidates[i]);
    say(fmt::format("compiling {} configs", batch.size()));
    const std::vector<std::string> errors = hooks.compile(batch);
    QJIT_CHECK_GEN("autotune", errors.size() == batch.size(), "the compile hook answered {} of {} configs",
                   errors.size(), batch.size());
    std::vector<std::size_t> compiled;
    for (std::size_t j = 0; j < kept.size(); ++j) {
      CandidateResult& r = out.results[kept[j]];
      if (errors[j].empty()) {
        compiled.push_back(kept[j]);
        continue;
      }
      r.status = CandidateStatus::kCompileFailed;
      r.reason = errors[j];
      QJIT_CHECK_GEN("autotune", kept[j] != 0, "the heuristic's config {} does not compile: {}", r.candidate.label,
                     errors[j]);
    }
    kept = std::move(compiled);
  }

  // Check once, then measure, while the time budget lasts.
  std::size_t step = 0;
  for (std::size_t i : kept) {
    ++step;
    CandidateResult& r = out.results[i];
    if (i != 0 && o.time_budget_s > 0 && seconds_since(t0) > o.time_budget_s) {
      r.reason = fmt::format("past --time-budget {} s", o.time_budget_s);
      continue;
    }
    say(fmt::format("[{}/{}] {}{}", step, kept.size(), r.candidate.label, i == 0 ? " (heuristic)" : ""));
    try {
      const std::string wrong = hooks.check ? hooks.check(r.candidate) : std::string();
      if (!wrong.empty()) {
        r.status = CandidateStatus::kWrong;
        r.reason = wrong;
        QJIT_CHECK_GEN("autotune", i != 0, "the heuristic's config {} disagrees with the reference: {}",
                       r.candidate.label, wrong);
        continue;
      }
      r.timing = hooks.measure(r.candidate);
      r.status = CandidateStatus::kMeasured;
    } catch (const std::exception& e) {
      if (i == 0) throw;
      r.status = CandidateStatus::kFailed;
      r.reason = e.what();
    }
    if (r.status == CandidateStatus::kMeasured &&
        (!out.winner || r.timing.median_us < out.results[*out.winner].timing.median_us)) {
      out.winner = i;
    }
  }
  if (o.confirm && out.winner && *out.winner != out.heuristic) {
    const CandidateResult& h = out.results[out.heuristic];
    const CandidateResult& w = out.results[*out.winner];
    say(fmt::format("confirming {} against the heuristic's {}", w.candidate.label, h.candidate.label));
    TuneConfirmation c;
    try {
      // NOTE: alternately (heuristic, winner, heuristic, winner), so a drift of the machine
      // touches both; each side's time is the mean of its two medians.
      std::vector<TimingStats> hs, ws;
      for (int round = 0; round < 2; ++round) {
        hs.push_back(hooks.measure(h.candidate));
        ws.push_back(hooks.measure(w.candidate));
      }
      auto mean = [](const std::vector<TimingStats>& v) {
        TimingStats t = v[0];
        t.median_us = (v[0].median_us + v[1].median_us) / 2;
        t.p20_us = (v[0].p20_us + v[1].p20_us) / 2;
        t.p80_us = (v[0].p80_us + v[1].p80_us) / 2;
        t.min_us = std::min(v[0].min_us, v[1].min_us);
        t.reps = v[0].reps + v[1].reps;
        return t;
      };
      c.heuristic = mean(hs);
      c.winner = mean(ws);
      c.held = c.winner.median_us < c.heuristic.median_us * (1.0 - o.confirm_margin);
    } catch (const std::exception& e) {
      c.held = false;
      say(fmt::format("confirming failed ({}); the heuristic stays", e.what()));
    }
    if (!c.held) out.winner = out.heuristic;
    out.confirmation = c;
  }
  out.seconds = seconds_since(t0);
  return out;
}

}  // namespace qjit::jit
