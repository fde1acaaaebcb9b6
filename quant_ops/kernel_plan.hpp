#pragma once
// Which kernels a model needs under a set of presets: the list `qjit run` and `qjit
// compile` build ahead of time. Grows with each kernel family.

#include <string>
#include <vector>

#include "jit/kernel_spec.hpp"
#include "quant_ops/presets.hpp"
#include "runtime/models/wan_config.hpp"

namespace qjit {

struct PlannedKernel {
  jit::KernelSpec spec;
  std::vector<std::string> needed_by;  // "fp8 @ blocks.*.ffn.2 (K=8960)" ...
};

// Deduplicated, in a stable order. `act_dtype` is the model's activation dtype name (bf16).
std::vector<PlannedKernel> plan_kernels(const std::vector<LinearShape>& shapes, const std::vector<Preset>& presets,
                                        const std::vector<jit::Arch>& archs, const std::string& act_dtype = "bf16");

}  // namespace qjit
