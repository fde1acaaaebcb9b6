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

struct AttentionConfig {
  int warps = 4;  // per CTA, one query row each. NOTE: never changes results, only speed.
};

// The head dims the kernels support (what attention_spec checks), for the op's error.
bool attention_head_dim_supported(int head_dim);

Family attention_family();
AttentionConfig attention_heuristic(const AttentionDesc& desc);
KernelSpec attention_spec(const AttentionDesc& desc, const AttentionConfig& config, Arch arch);
// The template (fully qualified) a spec's launch uses.
std::string attention_kernel(const AttentionDesc& desc);
// Query rows per CTA: grid.x = ceil(Sq / this).
int attention_block_queries(const AttentionDesc& desc, const AttentionConfig& config);

}  // namespace qjit::jit::impls
