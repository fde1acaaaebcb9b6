#pragma once
// Ahead-of-time compilation of every kernel a Wan2.1 forward launches under rule sets, for
// archs (model_plan.hpp's plan, compiled on the JIT's bounded pool with progress): what
// `qjit compile` and `qjit run` call, and the cache entries of the result for a bundle
// (cache/bundle.hpp).

#include <string>
#include <vector>

#include "cache/bundle.hpp"
#include "jit/jit.hpp"
#include "quant_ops/model_plan.hpp"

namespace qjit {

/// The rule sets a command names: each --preset, then each --rule text; every preset when
/// neither is given. Throws qjit::Error (an unknown preset, a bad rule) before any work.
std::vector<NamedRuleSet> named_rule_sets(const std::vector<std::string>& presets, const std::vector<std::string>& rules);

struct ModelCompile {
  KernelPlan plan;
  std::vector<jit::JitResult> results;  // one per plan.kernels entry
  jit::CompileOutput output = jit::CompileOutput::kPtxAndCubin;
  double ms = 0;                        // planning and compiling
};

/// Plans (plan_wan_kernels) and compiles or loads every program. `output`: cubins for cuda
/// (kPtxAndCubin) or PTX for the sim (kPtxOnly); the host's are host objects. Throws qjit::Error as plan_wan_kernels or a
/// compile does.
ModelCompile compile_wan_kernels(const WanConfig& config, const std::vector<NamedRuleSet>& rule_sets,
                                 const std::vector<jit::Arch>& archs,
                                 jit::CompileOutput output = jit::CompileOutput::kPtxAndCubin,
                                 const jit::Jit::Progress& progress = nullptr,
                                 const PlanProgress& planning = nullptr);

/// The compiled programs as cache entries (each with the manifest its key is the sha256 of).
std::vector<cache::BundleEntry> bundle_entries(const ModelCompile& compiled);

}  // namespace qjit
