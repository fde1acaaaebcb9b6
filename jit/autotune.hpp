#pragma once
// The autotuner's search, independent of any family and device: a list of candidate configs
// (the family's heuristic choice first), pruned by the family's checks, compiled in parallel,
// each survivor's output checked once against the reference, then measured (or ranked by a
// cost model), within a budget of configs and of time. The families' problems (what the
// hooks do) are in quant_ops/autotune.hpp; the winners go to the tuning database
// (tuning_db.hpp). Tests drive it with synthetic costs.

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace qjit::jit {

struct TuneCandidate {
  nlohmann::json config;  // the family's config as JSON
  std::string label;      // "6x64 288x256 kc2048"
};

/// Repeated timings of one candidate, as Triton's do_bench reports them.
struct TimingStats {
  double median_us = 0, p20_us = 0, p80_us = 0, min_us = 0;
  int reps = 0;
  /// From individual timings (microseconds); throws qjit::Error when empty.
  static TimingStats of(std::vector<double> samples_us);
};

struct BenchOptions {
  double warmup_ms = 25;  // time spent warming up, after a first estimate
  double rep_ms = 100;    // time spent measuring: the repetitions follow from the estimate
  int min_reps = 5, max_reps = 1000;
};
/// Runs `once` (one timed repetition, returning its time in microseconds, e.g. from CUDA
/// events or a wall clock around the call, after whatever flush it does untimed) for the
/// warm-up and repetitions the budget buys, as do_bench does.
TimingStats bench_by_time(const std::function<double()>& once, const BenchOptions& options = {});

enum class CandidateStatus {
  kPruned,         // the family's checks refuse it (does not fit, would spill, ...)
  kCompileFailed,  // the compiler refused it
  kWrong,          // its output differs from the reference: a bug in that config
  kFailed,         // it threw while running
  kMeasured,       // timed (or ranked by the model)
  kNotRun,         // past the config or time budget
};
const char* candidate_status_name(CandidateStatus status);

struct CandidateResult {
  TuneCandidate candidate;
  CandidateStatus status = CandidateStatus::kNotRun;
  std::string reason;  // why it was pruned, failed or not run
  TimingStats timing;  // kMeasured
};

struct TuneHooks {
  /// Why the family cannot run `c` ("" to keep it). Pure: no compile.
  std::function<std::string(const TuneCandidate& c)> prune;
  /// Compiles every candidate (in parallel); per candidate "" or the compiler's error.
  std::function<std::vector<std::string>(const std::vector<TuneCandidate>& cs)> compile;
  /// Runs `c` once and compares with the reference: "" when it agrees, else what differs.
  std::function<std::string(const TuneCandidate& c)> check;
  /// Times `c` (or models its time).
  std::function<TimingStats(const TuneCandidate& c)> measure;
};

struct TuneOptions {
  std::size_t max_configs = 0;  // candidates compiled and measured, heuristic included; 0: all
  double time_budget_s = 0;     // stop measuring after this (the heuristic is always measured); 0: none
  std::function<void(const std::string& line)> progress;  // "[3/12] measuring 6x64 ..."
  // Measure the heuristic and the winner again after the search, alternately, twice each:
  // the fastest of many noisy timings is biased low (the winner's curse), so the recorded
  // times are these, and a winner that is not faster than the heuristic by confirm_margin
  // there loses to it. Off for deterministic costs (a model).
  bool confirm = true;
  double confirm_margin = 0.02;
};

/// The confirming measurement of the heuristic and the search's winner.
struct TuneConfirmation {
  TimingStats heuristic, winner;
  bool held = true;  // the winner was faster again by the margin; else the heuristic won
};

struct TuneOutcome {
  std::vector<CandidateResult> results;  // one per candidate, in the order given
  std::optional<std::size_t> winner;     // the fastest measured
  std::size_t heuristic = 0;             // candidates[0]
  std::optional<TuneConfirmation> confirmation;  // when confirmed and the search's winner was not the heuristic
  double seconds = 0;
};

/// Searches `candidates` (candidates[0] is the heuristic's config and is never dropped by
/// max_configs). Throws qjit::Error when candidates is empty or the heuristic's config is
/// pruned, fails or disagrees with the reference (then nothing can be trusted).
TuneOutcome autotune(const std::vector<TuneCandidate>& candidates, const TuneHooks& hooks,
                     const TuneOptions& options = {});

}  // namespace qjit::jit
