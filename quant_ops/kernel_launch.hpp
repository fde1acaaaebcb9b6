#pragma once
// One kernel program an op launches, with the kernels (entry templates) it launches from it.
// The ops' pure "which kernels would this call run" functions (qgemm_launches,
// qgemm_weight_only_launches, linear_kernels) return these: the ops dispatch on them, and
// the kernel plan (`qjit run`) compiles exactly them ahead.

#include <string>
#include <vector>

#include "jit/kernel_spec.hpp"

namespace qjit {

struct KernelLaunch {
  jit::KernelSpec spec;              // the program, for the target arch
  std::vector<std::string> kernels;  // the templates launched from it, in launch order
  std::string step;                  // what it does, for logs: "act_quant group128 fp8_e4m3"
};

}  // namespace qjit
