#pragma once
// Stages of a JIT compile, as types (jitify2 style):
//   KernelSpec -> Program (generated source + headers + options) -> Artifact (PTX, cubin,
//   metadata) -> [runtime] LoadedModule -> Kernel.
// Each stage can be built, inspected and tested alone.

#include <string>
#include <vector>

#include "jit/kernel_spec.hpp"

namespace qjit::jit {

struct Header {
  std::string name;     // as written in #include "..."
  std::string content;
};

// What kind of output a compile makes. The sim device runs PTX only, so it can skip ptxas.
// A host program (a family with Family::host) compiles to an object file for the cpu device.
enum class CompileOutput { kPtxAndCubin, kPtxOnly, kHostObject };

struct Program {
  KernelSpec spec;
  std::string file_name;                      // "qjit_<family>.cu"
  std::string source;                         // the generated translation unit
  std::vector<Header> headers;                // the include closure of `source`, by content
  std::vector<std::string> options;           // normalized NVRTC options
  std::vector<std::string> name_expressions;  // one per kernel entry point
  CompileOutput output = CompileOutput::kPtxAndCubin;
};

}  // namespace qjit::jit
