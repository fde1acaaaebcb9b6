// qjit autotune: search tuning configs of a rule's GEMM for shapes (--shape M,N,K, or every
// GEMM of a Wan2.1 forward with --model) on bf16 or f16 activations (--act-dtype) on a
// device, and put the winners in the tuning database the ops read (quant_ops/autotune.hpp).
// `--show` lists the database. Every flag, the rule and every shape are checked before any
// work; progress goes to stderr.

#include <fmt/format.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli_device.hpp"
#include "commands.hpp"
#include "common/error.hpp"
#include "jit/jit.hpp"
#include "jit/tuning_db.hpp"
#include "quant_ops/autotune.hpp"
#include "quant_ops/rule.hpp"
#include "runtime/models/wan_config.hpp"
#include "quant_ops/sim_cost_model.hpp"
#include "runtime/kernels.hpp"

namespace qjit::cli {

namespace {

constexpr const char* kSub = "autotune";

struct AutotuneFlags {
  std::vector<std::string> shapes;
  std::string model;
  std::string tokens = "32760";
  std::string rule;
  std::string device;
  std::string arch;
  std::string act_dtype = "bf16";
  std::size_t max_configs = 24;
  double time_budget = 0;
  bool no_write = false;
  bool show = false;
  bool json = false;
  bool act_dtype_given = false;
};

std::string database_path() { return (jit::Jit::global().disk().options().dir / jit::kTuningDbFile).string(); }

std::vector<std::int64_t> parse_tokens(const std::string& text) {
  std::vector<std::int64_t> out;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    const std::size_t end = text.find(',', pos);
    const std::string part = text.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    QJIT_CHECK_GEN(kSub, !part.empty() && part.size() <= 7 && part.find_first_not_of("0123456789") == std::string::npos,
                   "--tokens {}: '{}' is not a positive integer", text, part);
    out.push_back(std::stoll(part));
    if (end == std::string::npos) break;
    pos = end + 1;
  }
  return out;
}

nlohmann::json record_json(const jit::TuningRecord& r) { return r.to_json(); }

void show(const AutotuneFlags& f) {
  const std::vector<jit::TuningRecord> records = jit::TuningDb::global().all();
  if (f.json) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& r : records) list.push_back(record_json(r));
    fmt::print("{}\n", nlohmann::json{{"database", database_path()}, {"records", list}}.dump(2));
    return;
  }
  fmt::print("{}: {} records\n", database_path(), records.size());
  for (const auto& r : records) {
    const double speedup = r.heuristic_us > 0 && r.median_us > 0 ? r.heuristic_us / r.median_us : 0;
    fmt::print("{} {}\n  on {} ({}): {} {:.1f} us, {:.2f}x the heuristic's {} ({}, {} configs)\n", r.key.family,
               r.key.desc.dump(), r.key.device, r.key.arch, r.config_label, r.median_us, speedup, r.heuristic_label,
               r.method, r.candidates);
  }
}

nlohmann::json shape_json(const ShapeTuning& t) {
  nlohmann::json candidates = nlohmann::json::array();
  for (const auto& c : t.outcome.results) {
    nlohmann::json j{{"label", c.candidate.label},
                     {"config", c.candidate.config},
                     {"status", jit::candidate_status_name(c.status)},
                     {"reason", c.reason}};
    if (c.status == jit::CandidateStatus::kMeasured) {
      j["median_us"] = c.timing.median_us;
      j["p20_us"] = c.timing.p20_us;
      j["p80_us"] = c.timing.p80_us;
      j["reps"] = c.timing.reps;
    }
    candidates.push_back(std::move(j));
  }
  const auto& h = t.outcome.results[t.outcome.heuristic];
  nlohmann::json j{{"m", t.shape.m},
                   {"n", t.shape.n},
                   {"k", t.shape.k},
                   {"layers", t.shape.layers},
                   {"family", t.family},
                   {"method", t.method},
                   {"desc", t.key.desc},
                   {"seconds", t.outcome.seconds},
                   {"written", t.written},
                   {"not_written", t.not_written},
                   {"heuristic", {{"label", h.candidate.label}, {"median_us", h.timing.median_us}}},
                   {"candidates", candidates}};
  if (t.record) {
    j["winner"] = {{"label", t.record->config_label},
                   {"config", t.record->config},
                   {"median_us", t.record->median_us},
                   {"p20_us", t.record->p20_us},
                   {"p80_us", t.record->p80_us}};
    j["heuristic_us"] = t.record->heuristic_us;
    j["speedup_vs_heuristic"] = t.record->heuristic_us > 0 ? t.record->heuristic_us / t.record->median_us : 0.0;
  } else {
    j["winner"] = nullptr;
  }
  if (const auto& c = t.outcome.confirmation) {
    j["confirmation"] = {{"heuristic_us", c->heuristic.median_us}, {"winner_us", c->winner.median_us}, {"held", c->held}};
  }
  return j;
}

void check_written(const AutotuneOptions& o, const std::vector<ShapeTuning>& results) {
  for (const auto& r : results) {
    QJIT_CHECK_GEN(kSub, !o.write || !r.record || r.written || !r.not_written.empty(),
                   "the winner of {}x{}x{} could not be written to the tuning database {} (the warning above says why)",
                   r.shape.m, r.shape.n, r.shape.k, database_path());
  }
}

void run(const AutotuneFlags& f) {
  if (f.show) {
    QJIT_CHECK_GEN(kSub, f.shapes.empty() && f.model.empty() && f.rule.empty() && !f.act_dtype_given,
                   "--show lists the tuning database; it takes no --shape, --model, --rule or --act-dtype");
    show(f);
    return;
  }
  // Everything is checked before any work.
  QJIT_CHECK_GEN(kSub, !f.rule.empty(), "--rule is required (a preset, a field list, a LightX2V mm_type or a rules file)");
  QJIT_CHECK_GEN(kSub, f.shapes.empty() != f.model.empty(), "give --shape M,N,K (repeatable) or --model, not {}",
                 f.shapes.empty() ? "neither" : "both");
  QJIT_CHECK_GEN(kSub, f.time_budget >= 0 && f.time_budget <= 7 * 24 * 3600.0, "--time-budget {} is not in [0, 604800] s",
                 f.time_budget);
  std::string device_text = f.device;
  if (!f.arch.empty()) {
    QJIT_CHECK_GEN(kSub, f.device == "sim", "--arch picks the GPU the sim models (--device sim); {} tunes its own",
                   f.device.empty() ? "the default device" : "--device " + f.device);
    device_text = "sim:" + f.arch;
  }
  const Device device = parse_device_flag(device_text, kSub);
  const RuleSet rules = Rule::parse(f.rule);
  QJIT_CHECK_GEN(kSub, rules.rules.size() == 1, "--rule {}: holds {} rules; autotune takes one", f.rule,
                 rules.rules.size());
  const ResolvedRule rule = rules.rules.front().resolve();
  QJIT_CHECK_GEN(kSub, f.act_dtype == "bf16" || f.act_dtype == "f16", "--act-dtype {}: expected bf16 or f16",
                 f.act_dtype);
  const DType x_dtype = parse_dtype(f.act_dtype);
  tunable_family(rule, device, x_dtype);
  std::vector<TuneShape> shapes;
  for (const auto& s : f.shapes) shapes.push_back(parse_tune_shape(s));
  if (!f.model.empty()) {
    QJIT_CHECK_GEN(kSub, f.model == "wan2.1-1.3b" || f.model == "wan2.1-14b",
                   "--model {}: known models are wan2.1-1.3b and wan2.1-14b", f.model);
    shapes = wan_tune_shapes(WanConfig::by_name(f.model), parse_tokens(f.tokens));
  }

  // NOTE: rewriting the database as it is proves it writable (atomically) before any work.
  QJIT_CHECK_GEN(kSub, f.no_write || jit::TuningDb::global().put({}),
                 "cannot write the tuning database {} (the warning above says why); --no-write searches without saving",
                 database_path());

  AutotuneOptions o;
  o.x_dtype = x_dtype;
  o.max_configs = f.max_configs;
  o.time_budget_s = f.time_budget;
  o.write = !f.no_write;
  o.progress = [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };
  const std::vector<ShapeTuning> results = autotune_linear(rule, device, shapes, o);

  const bool model = !results.empty() && results.front().method == "model";
  const std::string note =
      model ? fmt::format("ranked by the sim cost model (quant_ops/sim_cost_model.hpp) of {}: a model, not a measurement",
                          GpuModel::for_arch(target_arch(*driver_for(device)).str()).name)
            : "measured: medians of repetitions by time, caches flushed between them";
  if (f.json) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& r : results) list.push_back(shape_json(r));
    fmt::print("{}\n", nlohmann::json{{"device", device.str()},
                                      {"rule", rule.label},
                                      {"act_dtype", std::string(dtype_name(x_dtype))},
                                      {"method", model ? "model" : "measured"},
                                      {"note", note},
                                      {"database", database_path()},
                                      {"write", o.write},
                                      {"shapes", list}}
                           .dump(2));
    check_written(o, results);
    return;
  }
  fmt::print("{} on {} activations on {}: {}{}\n", rule.label, dtype_name(x_dtype), device.str(), note,
             model ? "" : "; the winner and the heuristic measured once more, and those times are these");
  fmt::print("{:>6} {:>6} {:>6}  {:<26} {:>11}  {:<26} {:>11} {:>8}\n", "M", "N", "K", "winner", "us", "heuristic",
             "us", "speedup");
  for (const auto& r : results) {
    const auto& h = r.outcome.results[r.outcome.heuristic];
    const double w = r.record ? r.record->median_us : 0, hu = r.record ? r.record->heuristic_us : h.timing.median_us;
    fmt::print("{:>6} {:>6} {:>6}  {:<26} {:>11.1f}  {:<26} {:>11.1f} {:>7.2f}x\n", r.shape.m, r.shape.n, r.shape.k,
               r.record ? r.record->config_label : "-", w, h.candidate.label, hu, w > 0 ? hu / w : 0.0);
  }
  fmt::print("{} {}\n", o.write ? "winners written to" : "nothing written (--no-write); the database is",
             database_path());
  check_written(o, results);
}

}  // namespace

void add_autotune(CLI::App& app) {
  auto f = std::make_shared<AutotuneFlags>();
  CLI::App* cmd = app.add_subcommand("autotune", "search GEMM tuning configs for shapes and persist the winners");
  cmd->add_option("--shape", f->shapes, "a GEMM M,N,K to tune (repeatable)");
  cmd->add_option("--model", f->model, "tune every GEMM of a Wan2.1 forward: wan2.1-1.3b | wan2.1-14b");
  cmd->add_option("--tokens", f->tokens, "with --model: video tokens per forward, a comma list (default 32760: 480p, 81 frames)");
  cmd->add_option("--rule", f->rule, "a preset, a field list, a LightX2V mm_type or a rules file of one rule");
  cmd->add_option("--device", f->device, "cpu | sim | sim:sm_XX | cuda[:N] (default: $QJIT_DEVICE, else cpu)");
  cmd->add_option("--arch", f->arch, "with --device sim: the GPU the sim models (sm_80, sm_86, sm_89, sm_90)");
  cmd->add_option("--act-dtype", f->act_dtype, "the activations' dtype: bf16 (default, Wan's) | f16")
      ->each([f](const std::string&) { f->act_dtype_given = true; });
  cmd->add_option("--max-configs", f->max_configs, "candidates compiled and measured per shape, heuristic included (0: all)")
      ->check(CLI::Range(0, 100000));
  cmd->add_option("--time-budget", f->time_budget, "seconds of measuring for the whole run (0: none)");
  cmd->add_flag("--no-write", f->no_write, "search only: leave the tuning database as it is");
  cmd->add_flag("--show", f->show, "list the tuning database");
  cmd->add_flag("--json", f->json, "print JSON");
  cmd->callback([f] { run(*f); });
}

}  // namespace qjit::cli
