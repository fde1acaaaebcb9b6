#pragma once
// Host generator of the 3-D RoPE family (device side: templates/impls/rope.cuh): problem ->
// KernelSpec. The op (runtime/ops/rope.cpp) computes the cos/sin table and launches.

#include <string>

#include "jit/arch.hpp"
#include "jit/family.hpp"
#include "jit/kernel_spec.hpp"

namespace qjit::jit::impls {

struct RopeDesc {
  std::string in_dtype;   // f32 | f16 | bf16
  std::string out_dtype;  // f32 | f16 | bf16
};

struct RopeConfig {
  int threads = 256;  // per block, one thread per pair. NOTE: never changes results, only speed.
};

Family rope_family();
RopeConfig rope_heuristic(const RopeDesc& desc);
KernelSpec rope_spec(const RopeDesc& desc, const RopeConfig& config, Arch arch);
// The template (fully qualified) a spec's launch uses.
std::string rope_kernel();

}  // namespace qjit::jit::impls
