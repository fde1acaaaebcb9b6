#pragma once
// Which kernels the Wan2.1 forward launches under a set of rules: the list `qjit run`
// compiles ahead, so that a forward after it compiles nothing. It is the forward itself, run
// on a PlanDriver (runtime/plan_driver.hpp) that records every kernel the ops ask for and
// runs none: the linears under their rules (with the norm kernel's fused quantized input
// where a layer asks for it), and the glue (norm + modulation, RMSNorm, RoPE, attention,
// SiLU, gated residuals, the patch embedding's GEMM), each with the workload's real shapes.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "jit/arch.hpp"
#include "jit/kernel_spec.hpp"
#include "quant_ops/rule.hpp"
#include "runtime/models/wan_config.hpp"
#include "runtime/plan_driver.hpp"

namespace qjit {

struct PlannedKernel {
  jit::KernelSpec spec;
  std::vector<std::string> kernels;    // the templates launched from it
  std::vector<std::string> presets;    // the rule sets that need it, in plan order
  std::vector<std::string> needed_by;  // "int8: norm_mod x3 per block"
};

// A rule set the arch cannot run (fp8 mma below sm_89): planned for no layer, with why.
struct SkippedPreset {
  std::string preset;
  std::string arch;
  std::string reason;
};

struct KernelPlan {
  std::vector<PlannedKernel> kernels;  // deduplicated by spec, in a stable order
  std::vector<SkippedPreset> skipped;
};

/// The default workload: Wan2.1 text-to-video at 480x832 and 81 frames (a 21 x 60 x 104
/// latent: 32760 tokens after patching), batch 1; the prompt is padded to the config's
/// text_len (512), as the model pads it.
struct WanWorkload {
  std::int64_t batch = 1, frames = 21, height = 60, width = 104;
};

/// The kernels one forward of `config` launches on a GPU of `arch` under `rules` (no rules:
/// the unquantized model), in first-use order, with how often each launched. Every block
/// launches the same kernels, so the forward runs one block (config.layers = 1) and the
/// launch counts are one block's. Static rules get placeholder scales: a scale's value never
/// changes a kernel. Throws qjit::Error as Rule::apply would (e.g. an fp8 rule on sm_80:
/// check linear_arch_support first to skip such an arch with its reason).
std::vector<PlannedLaunch> plan_wan_forward(const WanConfig& config, const RuleSet& rules, const jit::Arch& arch,
                                            const WanWorkload& workload = {});

/// A named set of rules: a preset's name or a --rule text, and what it parses to.
struct NamedRuleSet {
  std::string name;
  RuleSet rules;
};

/// plan_wan_forward for every arch and rule set, merged: each distinct kernel program once,
/// with the rule sets that need it and why ("int8: norm_mod x3 per block"); a rule set an
/// arch cannot run (linear_arch_support: fp8 below sm_89) is skipped there with the reason.
/// `planning(done, total, rule set, arch)` is called before each (arch, rule set) plan: the
/// host's runs the ops' host code at the workload's shapes, seconds per rule set for 14B.
using PlanProgress = std::function<void(std::size_t done, std::size_t total, const std::string& rule_set,
                                        const std::string& arch)>;
KernelPlan plan_wan_kernels(const WanConfig& config, const std::vector<NamedRuleSet>& rule_sets,
                            const std::vector<jit::Arch>& archs, const WanWorkload& workload = {},
                            const PlanProgress& planning = nullptr);

}  // namespace qjit
