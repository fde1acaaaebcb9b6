#pragma once
// The kernel templates under templates/, embedded at build time (cmake/embed_run.cmake).

#include <string>
#include <vector>

namespace qjit::jit {

struct EmbeddedFile {
  const char* path;     // relative to templates/, e.g. "impls/act_quant.cuh"
  const char* content;
};

const std::vector<EmbeddedFile>& embedded_templates();

}  // namespace qjit::jit
