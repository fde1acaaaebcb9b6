#pragma once
// Host generator of the attention family (device side: templates/impls/attention.cuh):
// problem -> KernelSpec and launch shape.

#include <string>

#include "common/dtype.hpp"
#include "jit/arch.hpp"
#include "jit/family.hpp"
#include "jit/kernel_params.hpp"
#include "jit/kernel_spec.hpp"

namespace qjit::jit::impls {

struct AttentionDesc {
  DType in_dtype = DType::kBF16;   // f32 | f16 | bf16: q, k and v
  DType out_dtype = DType::kBF16;  // f32 | f16 | bf16
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

// The kernels' parameters, in order (templates/impls/attention.cuh): q, k, v [batch, s, width]
// and o [batch, sq, width] with strides in elements; the head's columns start at
// h * head_dim of each row; scale_log2 = softmax scale * log2(e).
struct AttentionParams {
  DeviceAddress q = 0;
  std::int64_t q_batch_stride = 0, q_row_stride = 0;
  DeviceAddress k = 0;
  std::int64_t k_batch_stride = 0, k_row_stride = 0;
  DeviceAddress v = 0;
  std::int64_t v_batch_stride = 0, v_row_stride = 0;
  DeviceAddress o = 0;
  std::int64_t o_batch_stride = 0, o_row_stride = 0;
  std::int32_t sq = 0, skv = 0;
  float scale_log2 = 0;
  static ParamLayout layout();
};

Family attention_family();
AttentionConfig attention_heuristic(const AttentionDesc& desc);
KernelSpec attention_spec(const AttentionDesc& desc, const AttentionConfig& config, Arch arch);
// The template (fully qualified) a spec's launch uses.
std::string attention_kernel(const AttentionDesc& desc);
// Query rows per CTA: grid.x = ceil(Sq / this); threads per CTA: 32 * config.warps.
int attention_block_queries(const AttentionDesc& desc, const AttentionConfig& config);

}  // namespace qjit::jit::impls
