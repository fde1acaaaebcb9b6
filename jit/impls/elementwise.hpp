#pragma once
// Host generator of the elementwise glue family (device side: templates/impls/elementwise.cuh):
// SiLU, Wan's gated residual x + y * gate, and a broadcast add; problem -> KernelSpec.

#include <string>

#include "common/dtype.hpp"
#include "jit/arch.hpp"
#include "jit/family.hpp"
#include "jit/kernel_params.hpp"
#include "jit/kernel_spec.hpp"

namespace qjit::jit::impls {

// The spec's kOp (qjit::kernels::ElementwiseOp, same enumerator names).
enum class ElementwiseOp { kSilu, kGatedResidual, kAdd };

struct ElementwiseDesc {
  ElementwiseOp op = ElementwiseOp::kSilu;
  DType a = DType::kF32;    // f32 | f16 | bf16: the first input (SiLU's x, the residual x, add's a)
  DType b = DType::kF32;    // f32 | f16 | bf16: y / add's b; ignored for kSilu
  DType c = DType::kF32;    // f32 | f16 | bf16: the gate; ignored unless kGatedResidual
  DType out = DType::kF32;  // f32 | f16 | bf16
};

struct ElementwiseConfig {
  int threads = 256;  // per block, one element per thread. NOTE: never changes results, only speed.
};

// The kernel's parameters, in order (templates/impls/elementwise.cuh): a, b, c, out
// contiguous, n elements; the broadcast operand (b for kAdd, c for kGatedResidual) is read
// at (i / block) * block_stride + i % inner; unused pointers may be 0.
struct ElementwiseParams {
  DeviceAddress a = 0, b = 0, c = 0, out = 0;
  std::int64_t n = 0, inner = 0, block = 0, block_stride = 0;
  static ParamLayout layout();
};

Family elementwise_family();
ElementwiseConfig elementwise_heuristic(const ElementwiseDesc& desc);
KernelSpec elementwise_spec(const ElementwiseDesc& desc, const ElementwiseConfig& config, Arch arch);
// The template (fully qualified) a spec's launch uses.
std::string elementwise_kernel();

}  // namespace qjit::jit::impls
