#pragma once
// Host generator of the attention family (device side: templates/impls/attention.cuh):
// problem -> KernelSpec and launch shape.

#include <string>

#include "jit/arch.hpp"
#include "jit/family.hpp"
#include "jit/kernel_spec.hpp"

namespace qjit::jit::impls {

struct AttentionDesc {
  std::string in_dtype;   // f32 | f16 | bf16: q, k and v
  std::string out_dtype;  // f32 | f16 | bf16
  int head_dim = 0;       // Dh: a multiple of 8 in [8, 256]
};

// Whether the desc runs on tensor cores (attention_mma: f16 / bf16 inputs, Dh a multiple of
// 16 up to 128) or on CUDA cores (attention_simt). A property of the problem, not a tuning
// choice: the two paths round differently (mma rounds P to the input type).
bool attention_uses_tensor_cores(const AttentionDesc& desc);

struct AttentionConfig {
  int warps = 4;  // per CTA: one query row each (simt), 16 each (mma). NOTE: never changes results, only speed.
};

// The head dims the kernels support (what attention_spec checks), for the op's error.
bool attention_head_dim_supported(int head_dim);

Family attention_family();
AttentionConfig attention_heuristic(const AttentionDesc& desc);
KernelSpec attention_spec(const AttentionDesc& desc, const AttentionConfig& config, Arch arch);
// The template (fully qualified) a spec's launch uses.
std::string attention_kernel(const AttentionDesc& desc);
// Query rows per CTA: grid.x = ceil(Sq / this); threads per CTA: 32 * config.warps.
int attention_block_queries(const AttentionDesc& desc, const AttentionConfig& config);

}  // namespace qjit::jit::impls
