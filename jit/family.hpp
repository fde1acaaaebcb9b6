#pragma once
// The kernel families the JIT knows: which template file, which kernel templates.
// A family's host generator (jit/impls/<family>.cpp) describes it and turns a problem
// description into KernelSpecs; its device template is templates/impls/<family>.cuh.
// NOTE: the table is explicit (family.cpp), not static registration, which a static
// library's linker would silently drop.

#include <string>
#include <vector>

#include "jit/kernel_params.hpp"

namespace qjit::jit {

/// One kernel template of a family and the parameter struct it takes.
struct KernelEntry {
  std::string name;                    // fully qualified: "qjit::kernels::act_quant_per_token"
  const ParamLayout* params = nullptr;  // param_layout<the host struct>()
};

struct Family {
  std::string name;                   // "act_quant"
  std::string template_path;          // "impls/act_quant.cuh"
  std::vector<KernelEntry> kernels;
  std::vector<std::string> required;  // parameter names every spec of the family must set
  // A host family: its templates (templates/host/) compile to object code for the cpu device
  // (CompileOutput::kHostObject), its specs' arch is Arch::host().
  bool host = false;

  /// The entry of a kernel template; throws qjit::Error naming the family's entries.
  const KernelEntry& kernel(const std::string& name) const;
};

// Throws qjit::Error listing the known families.
const Family& find_family(const std::string& name);
std::vector<std::string> family_names();

}  // namespace qjit::jit
