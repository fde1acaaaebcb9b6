#include "jit/impls/norm_mod.hpp"

#include "common/error.hpp"
#include "jit/impls/dtype_enum.hpp"

namespace qjit::jit::impls {

ParamLayout NormModParams::layout() {
  using P = NormModParams;
  return {.host_type = "jit::impls::NormModParams",
          .fields = {QJIT_PARAM_FIELD(P, x), QJIT_PARAM_FIELD(P, x_row_stride), QJIT_PARAM_FIELD(P, w),
           QJIT_PARAM_FIELD(P, shift), QJIT_PARAM_FIELD(P, scale), QJIT_PARAM_FIELD(P, out),
           QJIT_PARAM_FIELD(P, out_row_stride), QJIT_PARAM_FIELD(P, scales), QJIT_PARAM_FIELD(P, eps),
           QJIT_PARAM_FIELD(P, m), QJIT_PARAM_FIELD(P, d), QJIT_PARAM_FIELD(P, rows_per_batch)}};
}

Family norm_mod_family() {
  return {"norm_mod", "impls/norm_mod.cuh", {{norm_mod_kernel(), &param_layout<NormModParams>()}},
          {"kNorm", "kAffine", "kQuant", "kIn", "kOut", "kQ", "kThreads"}};
}

namespace {

EnumValue norm_enum(NormKind n) {
  switch (n) {
    case NormKind::kLayerNorm: return {"qjit::kernels::NormKind", "kLayerNorm"};
    case NormKind::kRmsNorm: return {"qjit::kernels::NormKind", "kRmsNorm"};
  }
  QJIT_THROW("jit", "norm_mod: unknown norm {}", static_cast<int>(n));
}

EnumValue quant_enum(NormModQuant q) {
  switch (q) {
    case NormModQuant::kNone: return {"qjit::kernels::NormModQuant", "kNone"};
    case NormModQuant::kDynamicPerToken: return {"qjit::kernels::NormModQuant", "kDynamicPerToken"};
    case NormModQuant::kStaticPerTensor: return {"qjit::kernels::NormModQuant", "kStaticPerTensor"};
  }
  QJIT_THROW("jit", "norm_mod: unknown quantization {}", static_cast<int>(q));
}

}  // namespace

NormModConfig norm_mod_heuristic(const NormModDesc&) {
  // One warp per row whatever D is (the summation order is the warp's): 4 rows per block.
  return NormModConfig{128};
}

KernelSpec norm_mod_spec(const NormModDesc& desc, const NormModConfig& config, Arch arch) {
  QJIT_CHECK_GEN("jit", is_high_precision(desc.in_dtype), "norm_mod: input dtype '{}' is not f32, f16 or bf16",
                 dtype_name(desc.in_dtype));
  QJIT_CHECK_GEN("jit", is_high_precision(desc.out_dtype), "norm_mod: output dtype '{}' is not f32, f16 or bf16",
                 dtype_name(desc.out_dtype));
  const bool quant = desc.quant != NormModQuant::kNone;
  QJIT_CHECK_GEN("jit", !quant || desc.qtype != QType::kNone, "norm_mod: a quantized output needs a qtype (int8, "
                 "fp8_e4m3 or fp8_e5m2), got none");
  QJIT_CHECK_GEN("jit", config.threads % 32 == 0 && config.threads >= 32 && config.threads <= 1024,
                 "norm_mod: threads {} must be a multiple of 32 in [32, 1024]", config.threads);
  KernelSpec spec("norm_mod", arch);
  // NOTE: without quantization kQ is fixed (int8) so the spec does not vary with an unused field.
  spec.set("kNorm", norm_enum(desc.norm))
      .set("kAffine", desc.norm == NormKind::kRmsNorm || desc.affine)
      .set("kQuant", quant_enum(desc.quant))
      .set("kIn", dtype_enum(desc.in_dtype))
      .set("kOut", dtype_enum(desc.out_dtype))
      .set("kQ", qtype_enum(quant ? desc.qtype : QType::kInt8))
      .set("kThreads", config.threads);
  return spec;
}

std::string norm_mod_kernel() { return "qjit::kernels::norm_mod"; }

}  // namespace qjit::jit::impls
