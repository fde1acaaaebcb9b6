// qjit run: the main job. It compiles every kernel the default workload — the Wan2.1
// forward under the presets of DESIGN.md section 7 and the --rule sets — launches (the plan
// is that forward run on a device that records kernels: quant_ops/model_plan.hpp), for the
// device's arch (or sm_80, sm_89 and sm_90 when no GPU answers), and reports each: spec,
// arch, registers, spills, compile time, cache outcome; per preset how many programs it
// needs, or why an arch cannot run it (fp8 below sm_89). Then (unless --no-accuracy) it runs the model with
// synthetic weights under each preset and --rule and reports accuracy against the
// unquantized model, end to end and per layer, the forward's time and the weight bytes
// before and after (run_accuracy.hpp).

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli_device.hpp"
#include "commands.hpp"
#include "common/error.hpp"
#include "jit/jit.hpp"
#include "quant_ops/model_compile.hpp"
#include "runtime/device.hpp"
#include "runtime/driver.hpp"
#include "runtime/driver/cuda_driver.hpp"
#include "runtime/kernels.hpp"
#include "compile_report.hpp"
#include "run_accuracy.hpp"

namespace qjit::cli {

namespace {

struct RunFlags {
  bool json = false;
  std::string model = "wan2.1-1.3b";
  std::vector<std::string> presets;
  std::vector<std::string> archs;
  std::vector<std::string> rules;  // --rule texts, measured with --accuracy
  bool accuracy = true;
  std::int64_t blocks = 1;  // the blocks --accuracy runs
  AccuracyFlags acc;
};

// The archs to build CUDA kernels for: --arch, else the GPU's; with no GPU the default archs
// when only compiling (or measuring on sim), none when the accuracy run is on the cpu, whose
// own kernels it compiles on first use.
std::vector<jit::Arch> choose_archs(const RunFlags& f, const AccuracyFlags& acc, std::string& why) {
  if (!f.archs.empty()) {
    why = "--arch";
    return parse_arch_flags(f.archs, "run");
  }
  if (cuda_available()) {
    const auto driver = driver_for(Device::cuda(0));
    why = "the GPU " + driver->props().name;
    return {target_arch(*driver)};
  }
  why = "no GPU answered (" + cuda_unavailable_reason() + ")";
  if (f.accuracy && parse_device_flag(acc.device, "run", /*require_available=*/false).is_host()) {
    why += "; the accuracy run below is on the cpu and compiles its own kernels (give --arch to cross-compile CUDA's)";
    return {};
  }
  return jit::default_archs();
}

void run(const RunFlags& f) {
  const auto start = std::chrono::steady_clock::now();
  // The presets (all when neither --preset nor --rule is given) and the --rule sets, parsed
  // and checked with the accuracy run's flags before any work.
  const std::vector<NamedRuleSet> named = named_rule_sets(f.presets, f.rules);
  const auto config = WanConfig::by_name(f.model);
  // Every flag, the accuracy run's included, checked before any work (even with
  // --no-accuracy: a flag given is a flag the user means).
  AccuracyFlags acc_flags = f.acc;
  QJIT_CHECK_GEN("run", f.blocks >= 1 && f.blocks <= config.layers, "--blocks {}: {} has {} blocks (give 1 to {})",
                 f.blocks, config.name, config.layers, config.layers);
  acc_flags.config = config;
  acc_flags.config.layers = f.blocks;
  resolve_input_grid(acc_flags);
  check_accuracy_flags(acc_flags, named, f.accuracy);
  std::string why;
  const auto archs = choose_archs(f, acc_flags, why);
  // What one forward launches under each rule set (model_plan.hpp), on every arch: `qjit
  // compile`'s library call (quant_ops/model_compile.hpp).
  std::string arch_list;
  for (const auto& a : archs) arch_list += (arch_list.empty() ? "" : ", ") + a.str();
  std::fprintf(stderr, "qjit run: %s, %zu rule sets, archs %s (%s)\n", config.name.c_str(), named.size(),
               arch_list.empty() ? "none" : arch_list.c_str(), why.c_str());
  const ModelCompile compiled =
      compile_wan_kernels(config, named, archs, jit::CompileOutput::kPtxAndCubin, compile_progress(""),
                          plan_progress(""));
  const KernelPlan& kplan = compiled.plan;
  const auto& results = compiled.results;
  for (const auto& s : kplan.skipped) {
    std::fprintf(stderr, "qjit run: skipped %s on %s: %s\n", s.preset.c_str(), s.arch.c_str(), s.reason.c_str());
  }
  const double total_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();

  const CompileReport report = compile_report(compiled, named);
  std::string text = report.text;
  const auto& rows = report.rows;
  const auto& per_preset = report.per_preset;
  const size_t hits = report.hits;
  text += fmt::format("{} programs ({} cache hits) in {:.0f} ms\n", results.size(), hits, total_ms);
  if (archs.empty()) text = fmt::format("no CUDA kernels built: {}\n", why);
  nlohmann::json accuracy;
  if (f.accuracy) accuracy = run_accuracy(acc_flags, named, text);
  if (f.json) {
    nlohmann::json j = {{"model", config.name}, {"archs", arch_list}, {"arch_reason", why},
                        {"kernels", rows}, {"presets", per_preset}, {"programs", results.size()},
                        {"cache_hits", hits}, {"total_ms", total_ms}};
    if (f.accuracy) j["accuracy"] = accuracy;
    fmt::print("{}\n", j.dump(2));
  } else {
    fmt::print("{}", text);
  }
}

}  // namespace

void add_run(CLI::App& app) {
  auto flags = std::make_shared<RunFlags>();
  auto* run_cmd = app.add_subcommand("run", "build every kernel the default Wan2.1 workload needs and report them");
  run_cmd->add_flag("--json", flags->json, "print JSON");
  run_cmd->add_option("--model", flags->model, "wan2.1-1.3b | wan2.1-14b | wan2.1-tiny")->capture_default_str();
  run_cmd->add_option("--preset", flags->presets, "presets to include (default: all)");
  run_cmd->add_option("--arch", flags->archs, "target archs, repeatable or a comma list: sm_XX, or host for the cpu device's kernels (default: the GPU's, else sm_80,sm_89,sm_90)");
  run_cmd->add_option("--rule", flags->rules, "rules to measure with --accuracy (any --rule text), besides --preset");
  run_cmd->add_flag("--accuracy,!--no-accuracy", flags->accuracy,
                    "run the model with synthetic weights under each preset / rule: accuracy against the unquantized "
                    "model end to end and per layer, weight bytes before and after (default; --no-accuracy only "
                    "compiles)");
  run_cmd->add_option("--blocks", flags->blocks, "transformer blocks --accuracy runs")->capture_default_str();
  run_cmd->add_option("--device", flags->acc.device,
                      "device of --accuracy: cpu | sim | sim:sm_XX | cuda (default: $QJIT_DEVICE, else cpu)");
  run_cmd->add_option("--weights", flags->acc.weights, "a Wan checkpoint (native or diffusers names; a file, a shard index or their directory) instead of synthetic weights");
  run_cmd->add_option("--seed", flags->acc.seed, "seed of the synthetic weights and inputs")->capture_default_str();
  run_cmd->add_option("--frames", flags->acc.frames, "latent frames of the input (default: 4 on cpu and cuda, 1 on sim and cpu:ref)")
      ->check(CLI::PositiveNumber);
  run_cmd->add_option("--height", flags->acc.height, "latent height (even) (default: 32 on cpu and cuda, 8 on sim and cpu:ref)")
      ->check(CLI::PositiveNumber);
  run_cmd->add_option("--width", flags->acc.width, "latent width (even) (default: 32 on cpu and cuda, 8 on sim and cpu:ref)")
      ->check(CLI::PositiveNumber);
  run_cmd->add_option("--text-tokens", flags->acc.text_tokens, "prompt tokens")->capture_default_str()->check(CLI::PositiveNumber);
  run_cmd->add_option("--timestep", flags->acc.timestep, "diffusion timestep of the input")->capture_default_str();
  run_cmd->add_option("--calibration", flags->acc.calibration,
                      "static scales for static rules (a `qjit calibrate` result; default: calibrate on the inputs)");
  run_cmd->add_option("--layers-shown", flags->acc.layers_shown, "worst layers listed per rule in the text report")
      ->capture_default_str();
  run_cmd->callback([flags] { run(*flags); });
}

}  // namespace qjit::cli
