#pragma once
// Canonical dtype / qtype names -> the device enum qjit::dev::DType (templates/qjit/types.cuh).

#include <string>

#include "jit/kernel_spec.hpp"

namespace qjit::jit::impls {

// f32 f16 bf16 fp8_e4m3 fp8_e5m2 int8 int32 -> {"qjit::dev::DType", "kF32"...}.
EnumValue dtype_enum(const std::string& canonical_name);

}  // namespace qjit::jit::impls
