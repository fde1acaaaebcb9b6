#pragma once
// The vocabulary (common/dtype.hpp, common/qtype.hpp) -> the device enum qjit::dev::DType
// (templates/qjit/types.cuh), as spec parameter values.

#include "common/dtype.hpp"
#include "common/qtype.hpp"
#include "jit/kernel_spec.hpp"

namespace qjit::jit::impls {

// kF32 ... kI32 -> {"qjit::dev::DType", "kF32"} (same enumerator names on both sides).
EnumValue dtype_enum(DType t);
// A quantized type's storage dtype (int8 -> kI8, fp8_e4m3 -> kE4M3 ...). Throws for kNone.
EnumValue qtype_enum(QType q);

}  // namespace qjit::jit::impls
