#include "jit/impls/attention.hpp"

#include "common/error.hpp"
#include "jit/impls/dtype_enum.hpp"

namespace qjit::jit::impls {

ParamLayout AttentionParams::layout() {
  using P = AttentionParams;
  return {.host_type = "jit::impls::AttentionParams",
          .fields = {QJIT_PARAM_FIELD(P, q), QJIT_PARAM_FIELD(P, q_batch_stride), QJIT_PARAM_FIELD(P, q_row_stride),
           QJIT_PARAM_FIELD(P, k), QJIT_PARAM_FIELD(P, k_batch_stride), QJIT_PARAM_FIELD(P, k_row_stride),
           QJIT_PARAM_FIELD(P, v), QJIT_PARAM_FIELD(P, v_batch_stride), QJIT_PARAM_FIELD(P, v_row_stride),
           QJIT_PARAM_FIELD(P, o), QJIT_PARAM_FIELD(P, o_batch_stride), QJIT_PARAM_FIELD(P, o_row_stride),
           QJIT_PARAM_FIELD(P, sq), QJIT_PARAM_FIELD(P, skv), QJIT_PARAM_FIELD(P, scale_log2)}};
}

Family attention_family() {
  const ParamLayout* params = &param_layout<AttentionParams>();
  return {"attention",
          "impls/attention.cuh",
          {{"qjit::kernels::attention_mma", params}, {"qjit::kernels::attention_simt", params}},
          {"kIn", "kOut", "kHeadDim", "kTensorCores", "kWarps"}};
}

bool attention_head_dim_supported(int head_dim) { return head_dim % 8 == 0 && head_dim >= 8 && head_dim <= 256; }

bool attention_uses_tensor_cores(const AttentionDesc& desc) {
  return (desc.in_dtype == DType::kF16 || desc.in_dtype == DType::kBF16) && desc.head_dim % 16 == 0 && desc.head_dim <= 128;
}

AttentionConfig attention_heuristic(const AttentionDesc&) {
  // Four warps share each staged K/V tile: 64 query rows per CTA on tensor cores (as
  // FlashAttention-2's 128-thread CTAs), 4 on CUDA cores.
  return AttentionConfig{4};
}

KernelSpec attention_spec(const AttentionDesc& desc, const AttentionConfig& config, Arch arch) {
  QJIT_CHECK_GEN("jit", is_high_precision(desc.in_dtype), "attention: input dtype '{}' is not f32, f16 or bf16",
                 dtype_name(desc.in_dtype));
  QJIT_CHECK_GEN("jit", is_high_precision(desc.out_dtype), "attention: output dtype '{}' is not f32, f16 or bf16",
                 dtype_name(desc.out_dtype));
  QJIT_CHECK_GEN("jit", attention_head_dim_supported(desc.head_dim),
                 "attention: head_dim {} is not a multiple of 8 in [8, 256]", desc.head_dim);
  QJIT_CHECK_GEN("jit", config.warps >= 1 && config.warps <= 8, "attention: warps {} must be in [1, 8]",
                 config.warps);
  KernelSpec spec("attention", arch);
  spec.set("kIn", dtype_enum(desc.in_dtype))
      .set("kOut", dtype_enum(desc.out_dtype))
      .set("kHeadDim", desc.head_dim)
      .set("kTensorCores", attention_uses_tensor_cores(desc))
      .set("kWarps", config.warps);
  return spec;
}

std::string attention_kernel(const AttentionDesc& desc) {
  return attention_uses_tensor_cores(desc) ? "qjit::kernels::attention_mma" : "qjit::kernels::attention_simt";
}

int attention_block_queries(const AttentionDesc& desc, const AttentionConfig& config) {
  return attention_uses_tensor_cores(desc) ? 16 * config.warps : config.warps;
}

}  // namespace qjit::jit::impls
