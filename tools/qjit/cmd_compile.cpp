// qjit compile: compiles ahead every kernel a Wan2.1 forward launches under rule sets, for
// one or several archs and the host (the cpu device's kernels), in parallel with progress
// (quant_ops/model_compile.hpp, what `qjit run` calls too), and with --bundle writes them as
// one relocatable file (cache/bundle.hpp) that `qjit cache import` or QJIT_CACHE_BUNDLE loads
// into another cache, where QJIT_OFFLINE=1 then runs without compiling. Every flag, rule and output is checked before any work.

#include <fmt/format.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli_device.hpp"
#include "cli_files.hpp"
#include "commands.hpp"
#include "common/error.hpp"
#include "compile_report.hpp"
#include "jit/arch.hpp"
#include "quant_ops/model_compile.hpp"

namespace qjit::cli {

namespace {

constexpr const char* kSub = "compile";

struct CompileFlags {
  std::string model = "wan2.1-1.3b";
  std::vector<std::string> presets;
  std::vector<std::string> rules;
  std::vector<std::string> archs;  // each may be a comma list
  bool ptx = false;
  std::string bundle;
  bool json = false;
};

void run(const CompileFlags& f) {
  const std::vector<NamedRuleSet> named = named_rule_sets(f.presets, f.rules);
  const WanConfig config = WanConfig::by_name(f.model);
  std::vector<jit::Arch> archs = parse_arch_flags(f.archs, kSub);
  if (archs.empty()) archs = jit::default_archs();
  check_outputs(kSub, {{"--bundle", f.bundle}}, {});

  std::string arch_list;
  for (const auto& a : archs) arch_list += (arch_list.empty() ? "" : ", ") + a.str();
  std::fprintf(stderr, "qjit compile: %s, %zu rule sets, archs %s, %s\n", config.name.c_str(), named.size(),
               arch_list.c_str(), f.ptx ? "PTX (for the sim)" : "PTX and cubins (host: objects)");
  const jit::CompileOutput output = f.ptx ? jit::CompileOutput::kPtxOnly : jit::CompileOutput::kPtxAndCubin;
  const ModelCompile compiled = compile_wan_kernels(config, named, archs, output, compile_progress("qjit compile"),
                          plan_progress("qjit compile"));
  for (const auto& s : compiled.plan.skipped) {
    std::fprintf(stderr, "qjit compile: skipped %s on %s: %s\n", s.preset.c_str(), s.arch.c_str(), s.reason.c_str());
  }
  const CompileReport report = compile_report(compiled, named);
  std::uint64_t bundle_bytes = 0;
  if (!f.bundle.empty()) {
    const auto entries = bundle_entries(compiled);
    cache::write_bundle(f.bundle, entries);
    bundle_bytes = std::filesystem::file_size(f.bundle);
  }
  if (f.json) {
    nlohmann::json j = {{"model", config.name},           {"archs", arch_list},
                        {"output", f.ptx ? "ptx" : "cubin"}, {"kernels", report.rows},
                        {"presets", report.per_preset},    {"programs", compiled.results.size()},
                        {"cache_hits", report.hits},       {"total_ms", compiled.ms}};
    if (!f.bundle.empty()) j["bundle"] = {{"path", f.bundle}, {"entries", compiled.results.size()}, {"bytes", bundle_bytes}};
    fmt::print("{}\n", j.dump(2));
    return;
  }
  fmt::print("{}{} programs ({} cache hits) in {:.0f} ms\n", report.text, compiled.results.size(), report.hits,
             compiled.ms);
  if (!f.bundle.empty()) fmt::print("bundle {}: {} entries, {} bytes\n", f.bundle, compiled.results.size(), bundle_bytes);
}

}  // namespace

void add_compile(CLI::App& app) {
  auto f = std::make_shared<CompileFlags>();
  CLI::App* cmd =
      app.add_subcommand("compile", "compile ahead every kernel a Wan2.1 forward needs under rules, for archs");
  cmd->add_option("--model", f->model, "wan2.1-1.3b | wan2.1-14b | wan2.1-tiny")->capture_default_str();
  cmd->add_option("--preset", f->presets, "presets to compile for (default: all, unless --rule is given)");
  cmd->add_option("--rule", f->rules, "rule sets to compile for (any --rule text)");
  cmd->add_option("--arch", f->archs,
                  "target archs, repeatable or a comma list: sm_XX, or host for the cpu device's kernels (default: "
                  "sm_80,sm_89,sm_90)");
  cmd->add_flag("--ptx", f->ptx, "PTX only: what the sim device loads (default: PTX and cubins, for GPUs)");
  cmd->add_option("--bundle", f->bundle, "also write the programs to this bundle file (qjit cache import F)");
  cmd->add_flag("--json", f->json, "print JSON");
  cmd->callback([f] { run(*f); });
}

}  // namespace qjit::cli
