#pragma once
// Host generators of the cpu device's glue kernels: the elementwise ops (SiLU, gated residual,
// broadcast add; templates/host/elementwise.h), the norm + modulation (templates/host/norm_mod.h)
// and 3-D RoPE (templates/host/rope.h). Each takes the parameter struct of its CUDA family
// (jit/impls/elementwise.hpp, norm_mod.hpp, rope.hpp) and gives the reference's bits on every
// ISA; the config only splits the work into grid blocks.

#include "common/dtype.hpp"
#include "jit/family.hpp"
#include "jit/impls/elementwise.hpp"
#include "jit/impls/host_qgemm.hpp"
#include "jit/impls/norm_mod.hpp"
#include "jit/kernel_spec.hpp"

namespace qjit::jit::impls {

struct HostElementwiseDesc {
  ElementwiseDesc op;  // the op and its dtypes (all f32, f16 or bf16)
  HostIsa isa = HostIsa::kGeneric;
};
struct HostNormModDesc {
  NormKind norm = NormKind::kLayerNorm;
  bool affine = false;  // LayerNorm times a weight; RMSNorm always has one
  DType in_dtype = DType::kBF16, out_dtype = DType::kBF16;
  HostIsa isa = HostIsa::kGeneric;
};
struct HostRopeDesc {
  DType in_dtype = DType::kBF16, out_dtype = DType::kBF16;
  HostIsa isa = HostIsa::kGeneric;
};

// Work per grid block. NOTE: never changes results, only speed.
struct HostGlueConfig {
  int chunk = 1 << 14;  // elementwise: elements (at least 64)
  int rows = 8;         // norm_mod, rope: rows (tokens) (at least 1)
};

Family host_elementwise_family();
Family host_norm_mod_family();
Family host_rope_family();
/// Throws qjit::Error naming the field when a desc or config cannot run.
KernelSpec host_elementwise_spec(const HostElementwiseDesc& desc, const HostGlueConfig& config);
KernelSpec host_norm_mod_spec(const HostNormModDesc& desc, const HostGlueConfig& config);
KernelSpec host_rope_spec(const HostRopeDesc& desc, const HostGlueConfig& config);
inline constexpr const char* kHostElementwise = "qjit::host::elementwise";
inline constexpr const char* kHostNormMod = "qjit::host::norm_mod_rows";
inline constexpr const char* kHostRope = "qjit::host::rope_rows";

}  // namespace qjit::jit::impls
