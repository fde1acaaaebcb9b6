#pragma once
// Host generator of the activation-quantization family (device side:
// templates/impls/act_quant.cuh): problem -> KernelSpec and launch shape.

#include <string>
#include <vector>

#include "common/qtype.hpp"
#include "jit/arch.hpp"
#include "jit/family.hpp"
#include "jit/kernel_params.hpp"
#include "jit/kernel_spec.hpp"

namespace qjit::jit::impls {

// Which scales the program computes (common/qtype.hpp's ActScale); the spec's kMode
// (qjit::kernels::ActQuantMode, same enumerator names). A program holds every kernel of the
// family, but only its mode's have a body: launch only act_quant_kernel(desc.mode) (and,
// per-tensor, the amax pass) of a spec. Per mode: kDynamicPerToken act_quant_per_token,
// scales [M]; kStaticPerTensor act_quant_static, the given scale; kDynamicPerTensor
// act_quant_tensor_amax then act_quant_tensor_apply, scales [1]; kDynamicGroup128
// act_quant_group128, scales [M, ceil(K/128)] (or K-major: scales_k_major).
struct ActQuantDesc {
  DType in_dtype = DType::kBF16;  // f32 | f16 | bf16
  QType out_qtype = QType::kInt8;  // int8 | fp8_e4m3 | fp8_e5m2
  ActScale mode = ActScale::kDynamicPerToken;
  long long k = 0;        // row length (sizes the block only; any M and K run on any spec)
  // Elements (a power of two) that x's base address (in elements), its row stride and K are
  // multiples of; 0: dense rows of K elements from an allocation (derived from K). Bounds
  // the vector width, so the op measures it.
  long long row_align = 0;
  // group128 only: the scales K-major, [ceil(K/128), group_scales_ld(M)] (jit/impls/qgemm.hpp),
  // as the block-fp8 GEMM reads them: set when the pass feeds that GEMM; the public
  // quantize_activations keeps the logical [M, ceil(K/128)].
  bool scales_k_major = false;
};

struct ActQuantConfig {
  int threads = 256;  // per block. NOTE: never changes results, only speed.
  int vec = 1;        // elements per vector access (kVec); the desc's row_align must allow it
};

// The parameters of every entry, in order (templates/impls/act_quant.cuh).
struct ActQuantParams {
  DeviceAddress x = 0;  // [m, k] rows of the input dtype, x_row_stride elements apart
  std::int64_t x_row_stride = 0;
  DeviceAddress q = 0;  // [m, k] codes, q_row_stride elements apart
  std::int64_t q_row_stride = 0;
  DeviceAddress scales = 0;     // per-token [m]; group128 [m, groups] or K-major; static: the
                                // scale (read); per-tensor: the scale (written by the apply pass)
  DeviceAddress amax_bits = 0;  // per-tensor: a zeroed u32 the amax pass max-combines into
  std::int32_t m = 0, k = 0;
  static ParamLayout layout();
};

Family act_quant_family();
ActQuantConfig act_quant_heuristic(const ActQuantDesc& desc);
KernelSpec act_quant_spec(const ActQuantDesc& desc, const ActQuantConfig& config, Arch arch);
// The template (fully qualified) the spec's launch uses; per-tensor: the quantizing pass
// (act_quant_tensor_amax_kernel() is its first pass).
std::string act_quant_kernel(ActScale mode);
std::string act_quant_tensor_amax_kernel();
// The kernels (fully qualified templates) that have a body in a program of this mode, in
// launch order; the family's other entries compile to nothing (for listings).
std::vector<std::string> act_quant_mode_kernels(ActScale mode);
// The largest power of two <= 16 dividing k: the row_align of dense rows of k elements.
long long act_quant_row_align(long long k);

}  // namespace qjit::jit::impls
