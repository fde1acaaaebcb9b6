#pragma once
// Host generator of the 3-D RoPE family (device side: templates/impls/rope.cuh): problem ->
// KernelSpec. The op (runtime/ops/rope.cpp) computes the cos/sin table and launches.

#include <string>

#include "common/dtype.hpp"
#include "jit/arch.hpp"
#include "jit/family.hpp"
#include "jit/kernel_params.hpp"
#include "jit/kernel_spec.hpp"

namespace qjit::jit::impls {

struct RopeDesc {
  DType in_dtype = DType::kBF16;   // f32 | f16 | bf16
  DType out_dtype = DType::kBF16;  // f32 | f16 | bf16
};

struct RopeConfig {
  int threads = 256;  // per block, one thread per pair. NOTE: never changes results, only speed.
};

// The kernel's parameters, in order; templates/impls/rope.cuh
// says what each field is.
struct RopeParams {
  DeviceAddress x = 0, out = 0, table = 0;
  std::int64_t sin_offset = 0, off_h = 0, off_w = 0, pairs = 0, seq = 0, grid_tokens = 0;
  std::int32_t grid_h = 0, grid_w = 0, heads = 0, half = 0, n_f = 0, n_h = 0;
  static ParamLayout layout();
};

Family rope_family();
RopeConfig rope_heuristic(const RopeDesc& desc);
KernelSpec rope_spec(const RopeDesc& desc, const RopeConfig& config, Arch arch);
// The template (fully qualified) a spec's launch uses.
std::string rope_kernel();

}  // namespace qjit::jit::impls
