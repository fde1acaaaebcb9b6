#pragma once
// Host generator of the activation-quantization family (device side:
// templates/impls/act_quant.cuh): problem -> KernelSpec and launch shape.

#include <string>

#include "jit/arch.hpp"
#include "jit/family.hpp"
#include "jit/kernel_spec.hpp"

namespace qjit::jit::impls {

// Mirrors qjit::DType by name; the jit layer does not include the runtime.
enum class ActQuantMode { kDynamicPerToken, kStaticPerTensor };

struct ActQuantDesc {
  std::string in_dtype;   // f32 | f16 | bf16
  std::string out_qtype;  // int8 | fp8_e4m3 | fp8_e5m2
  ActQuantMode mode = ActQuantMode::kDynamicPerToken;
  long long k = 0;        // row length (sizes the block only; any M and K run on any spec)
};

struct ActQuantConfig {
  int threads = 256;  // per block. NOTE: never changes results, only speed.
};

Family act_quant_family();
ActQuantConfig act_quant_heuristic(const ActQuantDesc& desc);
KernelSpec act_quant_spec(const ActQuantDesc& desc, const ActQuantConfig& config, Arch arch);
// The template (fully qualified) the spec's launch uses.
std::string act_quant_kernel(ActQuantMode mode);

}  // namespace qjit::jit::impls
