#include "jit/impls/host_glue.hpp"

#include "common/error.hpp"
#include "jit/impls/rope.hpp"

namespace qjit::jit::impls {

namespace {

Family host_family(const char* name, const char* header, const char* entry, const ParamLayout* layout,
                   std::vector<std::string> keys) {
  Family f{name, header, {{entry, layout}}, std::move(keys)};
  f.host = true;
  return f;
}

const char* op_name(ElementwiseOp op) {
  return op == ElementwiseOp::kSilu ? "kSilu" : op == ElementwiseOp::kGatedResidual ? "kGatedResidual" : "kAdd";
}

}  // namespace

Family host_elementwise_family() {
  return host_family("host_elementwise", "host/elementwise.h", kHostElementwise, &param_layout<ElementwiseParams>(),
                     {"kIsa", "kOp", "kA", "kB", "kC", "kOut", "kChunk"});
}

Family host_norm_mod_family() {
  return host_family("host_norm_mod", "host/norm_mod.h", kHostNormMod, &param_layout<NormModParams>(),
                     {"kIsa", "kKind", "kAffine", "kIn", "kOut", "kRows"});
}

Family host_rope_family() {
  return host_family("host_rope", "host/rope.h", kHostRope, &param_layout<RopeParams>(),
                     {"kIsa", "kIn", "kOut", "kTokens"});
}

KernelSpec host_elementwise_spec(const HostElementwiseDesc& d, const HostGlueConfig& c) {
  QJIT_CHECK_GEN("jit", c.chunk >= 64, "host_elementwise: chunk {} is below 64 elements", c.chunk);
  KernelSpec s("host_elementwise", Arch::host());
  s.set("kIsa", host_isa_enum(d.isa));
  s.set("kOp", EnumValue{"qjit::host::ElementwiseOp", op_name(d.op.op)});
  s.set("kA", host_float_enum(d.op.a));
  // NOTE: the unused operands of an op are pinned, so that one program serves every call.
  s.set("kB", host_float_enum(d.op.op == ElementwiseOp::kSilu ? DType::kF32 : d.op.b));
  s.set("kC", host_float_enum(d.op.op == ElementwiseOp::kGatedResidual ? d.op.c : DType::kF32));
  s.set("kOut", host_float_enum(d.op.out));
  s.set("kChunk", c.chunk);
  return s;
}

KernelSpec host_norm_mod_spec(const HostNormModDesc& d, const HostGlueConfig& c) {
  QJIT_CHECK_GEN("jit", c.rows >= 1, "host_norm_mod: rows {} is below 1", c.rows);
  KernelSpec s("host_norm_mod", Arch::host());
  s.set("kIsa", host_isa_enum(d.isa));
  s.set("kKind", d.norm == NormKind::kLayerNorm ? 0 : 1);
  s.set("kAffine", d.norm == NormKind::kLayerNorm && d.affine);
  s.set("kIn", host_float_enum(d.in_dtype));
  s.set("kOut", host_float_enum(d.out_dtype));
  s.set("kRows", c.rows);
  return s;
}

KernelSpec host_rope_spec(const HostRopeDesc& d, const HostGlueConfig& c) {
  QJIT_CHECK_GEN("jit", c.rows >= 1, "host_rope: rows {} is below 1", c.rows);
  KernelSpec s("host_rope", Arch::host());
  s.set("kIsa", host_isa_enum(d.isa));
  s.set("kIn", host_float_enum(d.in_dtype));
  s.set("kOut", host_float_enum(d.out_dtype));
  s.set("kTokens", c.rows);
  return s;
}

}  // namespace qjit::jit::impls
