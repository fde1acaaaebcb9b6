#include "jit/impls/rope.hpp"

#include "common/error.hpp"
#include "jit/impls/dtype_enum.hpp"

namespace qjit::jit::impls {

ParamLayout RopeParams::layout() {
  using P = RopeParams;
  return {.host_type = "jit::impls::RopeParams",
          .fields = {QJIT_PARAM_FIELD(P, x), QJIT_PARAM_FIELD(P, out), QJIT_PARAM_FIELD(P, table),
           QJIT_PARAM_FIELD(P, sin_offset), QJIT_PARAM_FIELD(P, off_h), QJIT_PARAM_FIELD(P, off_w),
           QJIT_PARAM_FIELD(P, pairs), QJIT_PARAM_FIELD(P, seq), QJIT_PARAM_FIELD(P, grid_tokens),
           QJIT_PARAM_FIELD(P, grid_h), QJIT_PARAM_FIELD(P, grid_w), QJIT_PARAM_FIELD(P, heads),
           QJIT_PARAM_FIELD(P, half), QJIT_PARAM_FIELD(P, n_f), QJIT_PARAM_FIELD(P, n_h)}};
}

Family rope_family() {
  return {"rope", "impls/rope.cuh", {{rope_kernel(), &param_layout<RopeParams>()}}, {"kIn", "kOut", "kThreads"}};
}

RopeConfig rope_heuristic(const RopeDesc&) {
  // A memory-bound pass: 8 warps per block hide latency; the grid strides over the pairs.
  return RopeConfig{256};
}

KernelSpec rope_spec(const RopeDesc& desc, const RopeConfig& config, Arch arch) {
  QJIT_CHECK_GEN("jit", is_high_precision(desc.in_dtype), "rope: input dtype '{}' is not f32, f16 or bf16",
                 dtype_name(desc.in_dtype));
  QJIT_CHECK_GEN("jit", is_high_precision(desc.out_dtype), "rope: output dtype '{}' is not f32, f16 or bf16",
                 dtype_name(desc.out_dtype));
  QJIT_CHECK_GEN("jit", config.threads % 32 == 0 && config.threads >= 32 && config.threads <= 1024,
                 "rope: threads {} must be a multiple of 32 in [32, 1024]", config.threads);
  KernelSpec spec("rope", arch);
  spec.set("kIn", dtype_enum(desc.in_dtype)).set("kOut", dtype_enum(desc.out_dtype)).set("kThreads", config.threads);
  return spec;
}

std::string rope_kernel() { return "qjit::kernels::rope_3d"; }

}  // namespace qjit::jit::impls
