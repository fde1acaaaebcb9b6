#pragma once
// The kernel families the JIT knows: which template file, which kernel templates.
// A family's host generator (jit/impls/<family>.cpp) describes it and turns a problem
// description into KernelSpecs; its device template is templates/impls/<family>.cuh.
// NOTE: the table is explicit (family.cpp), not static registration, which a static
// library's linker would silently drop.

#include <string>
#include <vector>

namespace qjit::jit {

struct Family {
  std::string name;                   // "act_quant"
  std::string template_path;          // "impls/act_quant.cuh"
  std::vector<std::string> kernels;   // fully qualified templates: "qjit::kernels::act_quant_per_token"
  std::vector<std::string> required;  // parameter names every spec of the family must set
};

// Throws qjit::Error listing the known families.
const Family& find_family(const std::string& name);
std::vector<std::string> family_names();

}  // namespace qjit::jit
