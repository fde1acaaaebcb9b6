#pragma once
// KernelSpec -> Program: a generated translation unit that defines the named constexpr
// config struct and includes the family template, plus the template headers it includes
// (by content) and the normalized NVRTC options.

#include "jit/family.hpp"
#include "jit/program.hpp"

namespace qjit::jit {

inline constexpr const char* kConfigStructName = "QjitConfig";

Program build_program(const KernelSpec& spec, CompileOutput output = CompileOutput::kPtxAndCubin);

// The name expression for one kernel template of the spec's family: "ns::kernel<QjitConfig>".
std::string name_expression(const std::string& kernel_template);

// The generated checks that each of the family's entries takes the fields of its launch's
// parameter struct as its parameters: as many, each of the field's size and kind, in order
// (static_asserts naming the entry, the parameter and the host field).
std::string param_checks(const Family& family);

// The C symbol of a host family's kernel template: "qjit::host::qgemm_int8" ->
// "qjit_host_qgemm_int8" (the generated extern "C" entry that runs one block).
std::string host_entry_symbol(const std::string& kernel_template);

// The embedded templates reachable from `root` through #include "..." lines, in a stable
// order. Throws qjit::Error naming an include that no embedded file provides.
std::vector<Header> include_closure(const std::string& root_source, const std::string& root_name);

}  // namespace qjit::jit
