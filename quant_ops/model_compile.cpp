#include "quant_ops/model_compile.hpp"

#include <chrono>

#include "common/error.hpp"
#include "jit/manifest.hpp"
#include "common/sha256.hpp"
#include "jit/source_gen.hpp"
#include "quant_ops/presets.hpp"

namespace qjit {

std::vector<NamedRuleSet> named_rule_sets(const std::vector<std::string>& preset_names,
                                          const std::vector<std::string>& rules) {
  std::vector<NamedRuleSet> named;
  if (preset_names.empty() && rules.empty()) {
    for (const Preset& p : presets()) named.push_back({p.name, Rule::parse(p.name)});
  }
  for (const auto& p : preset_names) named.push_back({find_preset(p).name, Rule::parse(p)});
  for (const auto& r : rules) named.push_back({r, Rule::parse(r)});
  return named;
}

ModelCompile compile_wan_kernels(const WanConfig& config, const std::vector<NamedRuleSet>& rule_sets,
                                 const std::vector<jit::Arch>& archs, jit::CompileOutput output,
                                 const jit::Jit::Progress& progress, const PlanProgress& planning) {
  const auto start = std::chrono::steady_clock::now();
  ModelCompile out;
  out.output = output;
  out.plan = plan_wan_kernels(config, rule_sets, archs, {}, planning);
  std::vector<jit::KernelSpec> specs;
  for (const auto& k : out.plan.kernels) specs.push_back(k.spec);
  out.results = jit::Jit::global().get_all(specs, progress, output);
  out.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return out;
}

std::vector<cache::BundleEntry> bundle_entries(const ModelCompile& compiled) {
  std::vector<cache::BundleEntry> out;
  for (const auto& r : compiled.results) {
    const jit::Artifact& a = *r.artifact;
    // NOTE: the manifest is rebuilt exactly as the JIT built it; its sha256 is the key.
    const std::string manifest = jit::make_manifest(jit::build_program(a.spec, jit::output_for(a.spec, compiled.output)));
    QJIT_CHECK_GEN("compile", sha256_hex(manifest) == a.key, "kernel {}: its manifest no longer gives its key",
                   a.spec.summary());
    out.push_back({a.key, a.spec.summary(), a.to_entry(manifest)});
  }
  return out;
}

}  // namespace qjit
