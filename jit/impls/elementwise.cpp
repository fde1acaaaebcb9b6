#include "jit/impls/elementwise.hpp"

#include "common/error.hpp"
#include "jit/impls/dtype_enum.hpp"

namespace qjit::jit::impls {

ParamLayout ElementwiseParams::layout() {
  using P = ElementwiseParams;
  return {.host_type = "jit::impls::ElementwiseParams",
          .fields = {QJIT_PARAM_FIELD(P, a), QJIT_PARAM_FIELD(P, b), QJIT_PARAM_FIELD(P, c), QJIT_PARAM_FIELD(P, out),
           QJIT_PARAM_FIELD(P, n), QJIT_PARAM_FIELD(P, inner), QJIT_PARAM_FIELD(P, block),
           QJIT_PARAM_FIELD(P, block_stride)}};
}

Family elementwise_family() {
  return {"elementwise", "impls/elementwise.cuh", {{elementwise_kernel(), &param_layout<ElementwiseParams>()}},
          {"kOp", "kA", "kB", "kC", "kOut", "kThreads"}};
}

namespace {

EnumValue op_enum(ElementwiseOp op) {
  switch (op) {
    case ElementwiseOp::kSilu: return {"qjit::kernels::ElementwiseOp", "kSilu"};
    case ElementwiseOp::kGatedResidual: return {"qjit::kernels::ElementwiseOp", "kGatedResidual"};
    case ElementwiseOp::kAdd: return {"qjit::kernels::ElementwiseOp", "kAdd"};
  }
  QJIT_THROW("jit", "elementwise: unknown op {}", static_cast<int>(op));
}

// An input's dtype, checked when the op reads it; else f32, so that the spec does not vary
// with an unused field.
DType operand(bool used, DType dtype, const char* name) {
  if (!used) return DType::kF32;
  QJIT_CHECK_GEN("jit", is_high_precision(dtype), "elementwise: {} dtype '{}' is not f32, f16 or bf16", name,
                 dtype_name(dtype));
  return dtype;
}

}  // namespace

ElementwiseConfig elementwise_heuristic(const ElementwiseDesc&) {
  // A memory-bound pass: 8 warps per block hide latency; the grid strides over the elements.
  return ElementwiseConfig{256};
}

KernelSpec elementwise_spec(const ElementwiseDesc& desc, const ElementwiseConfig& config, Arch arch) {
  const EnumValue op = op_enum(desc.op);
  const DType a = operand(true, desc.a, "input a");
  const DType b = operand(desc.op != ElementwiseOp::kSilu, desc.b, "input b");
  const DType c = operand(desc.op == ElementwiseOp::kGatedResidual, desc.c, "input c (gate)");
  const DType out = operand(true, desc.out, "output");
  QJIT_CHECK_GEN("jit", config.threads % 32 == 0 && config.threads >= 32 && config.threads <= 1024,
                 "elementwise: threads {} must be a multiple of 32 in [32, 1024]", config.threads);
  KernelSpec spec("elementwise", arch);
  spec.set("kOp", op)
      .set("kA", dtype_enum(a))
      .set("kB", dtype_enum(b))
      .set("kC", dtype_enum(c))
      .set("kOut", dtype_enum(out))
      .set("kThreads", config.threads);
  return spec;
}

std::string elementwise_kernel() { return "qjit::kernels::elementwise"; }

}  // namespace qjit::jit::impls
