#pragma once
// Host generator of the norm + modulation family (device side: templates/impls/norm_mod.cuh):
// problem -> KernelSpec and launch shape.

#include <string>

#include "common/qtype.hpp"
#include "jit/arch.hpp"
#include "jit/family.hpp"
#include "jit/kernel_params.hpp"
#include "jit/kernel_spec.hpp"

namespace qjit::jit::impls {

// The spec's kNorm / kQuant (qjit::kernels::NormKind / NormModQuant, same enumerator names).
enum class NormKind { kLayerNorm, kRmsNorm };
enum class NormModQuant { kNone, kDynamicPerToken, kStaticPerTensor };

struct NormModDesc {
  NormKind norm = NormKind::kLayerNorm;
  NormModQuant quant = NormModQuant::kNone;
  bool affine = false;    // LayerNorm times a weight (Wan's norm3); RMSNorm always has one
  DType in_dtype = DType::kBF16;   // f32 | f16 | bf16
  DType out_dtype = DType::kBF16;  // f32 | f16 | bf16: y's type (with quant: what y is rounded to first)
  QType qtype = QType::kNone;      // int8 | fp8_e4m3 | fp8_e5m2 with quant; ignored without
};

struct NormModConfig {
  int threads = 128;  // per block, one warp per row. NOTE: never changes results, only speed.
};

// The kernel's parameters, in order (templates/impls/norm_mod.cuh
// says what each field is).
struct NormModParams {
  DeviceAddress x = 0;
  std::int64_t x_row_stride = 0;
  DeviceAddress w = 0, shift = 0, scale = 0, out = 0;
  std::int64_t out_row_stride = 0;
  DeviceAddress scales = 0;
  float eps = 0;
  std::int32_t m = 0, d = 0, rows_per_batch = 0;
  static ParamLayout layout();
};

Family norm_mod_family();
NormModConfig norm_mod_heuristic(const NormModDesc& desc);
KernelSpec norm_mod_spec(const NormModDesc& desc, const NormModConfig& config, Arch arch);
// The template (fully qualified) a spec's launch uses.
std::string norm_mod_kernel();

}  // namespace qjit::jit::impls
