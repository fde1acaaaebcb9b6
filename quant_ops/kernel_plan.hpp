#pragma once
// Which kernels each linear layer needs under a set of presets when linear_forward runs it on
// its own (one source of truth: linear_kernels, which the ops dispatch on too), so a run of
// those layers after the plan compiles nothing. The whole model's forward — the glue kernels,
// and the norm kernel's fused quantized input that replaces some layers' quantization — is
// planned by model_plan.hpp, which `qjit run` compiles ahead.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "jit/kernel_spec.hpp"
#include "quant_ops/linear.hpp"
#include "quant_ops/presets.hpp"
#include "runtime/models/wan_config.hpp"

namespace qjit {

struct PlannedKernel {
  jit::KernelSpec spec;
  std::vector<std::string> kernels;    // the templates launched from it
  std::vector<std::string> presets;    // the presets that need it, in plan order
  std::vector<std::string> needed_by;  // "int8 blocks.*.ffn.2 (M=32760, N=1536, K=8960): qgemm 128x128x64 w2x2 s4"
};

// A preset the arch cannot run (fp8 mma below sm_89): planned for no layer, with why.
struct SkippedPreset {
  std::string preset;
  std::string arch;
  std::string reason;
};

struct KernelPlan {
  std::vector<PlannedKernel> kernels;  // deduplicated by spec, in a stable order
  std::vector<SkippedPreset> skipped;
};

// Rows each linear layer of the default workload sees: Wan2.1 at 480x832, 81 frames has
// 32760 video tokens after patching; the text context is 512 tokens; the time embedding
// one row.
std::int64_t workload_tokens(const LinearShape& layer);
// The layers whose output goes through GELU-tanh, fused into the GEMM epilogue.
bool workload_gelu(const LinearShape& layer);
// The call linear_forward gets for a layer of the workload: x [tokens, K] and a bias in the
// activation dtype, GELU where the model has it, the rule's output dtype.
LinearProblem workload_problem(const LinearShape& layer, std::int64_t tokens, DType act_dtype = DType::kBF16);

using LayerTokens = std::function<std::int64_t(const LinearShape&)>;

// For every arch, preset and layer: the kernels linear_forward launches (linear_kernels)
// for the layer's workload_problem with `tokens(layer)` rows. Presets an arch cannot run
// are skipped with the reason (not an error). Throws qjit::Error for a layer shape the
// kernels reject.
KernelPlan plan_kernels(const std::vector<LinearShape>& shapes, const std::vector<Preset>& presets,
                        const std::vector<jit::Arch>& archs, DType act_dtype = DType::kBF16,
                        const LayerTokens& tokens = workload_tokens);

}  // namespace qjit
