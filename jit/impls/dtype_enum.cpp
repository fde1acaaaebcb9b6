#include "jit/impls/dtype_enum.hpp"

#include "common/error.hpp"

namespace qjit::jit::impls {

EnumValue dtype_enum(DType t) {
  const char* name = nullptr;
  switch (t) {
    case DType::kF32: name = "kF32"; break;
    case DType::kF16: name = "kF16"; break;
    case DType::kBF16: name = "kBF16"; break;
    case DType::kE4M3: name = "kE4M3"; break;
    case DType::kE5M2: name = "kE5M2"; break;
    case DType::kI8: name = "kI8"; break;
    case DType::kI32: name = "kI32"; break;
  }
  QJIT_CHECK_GEN("jit", name != nullptr, "no device dtype for DType value {}", static_cast<int>(t));
  return {"qjit::dev::DType", name};
}

EnumValue qtype_enum(QType q) { return dtype_enum(qtype_storage(q)); }

}  // namespace qjit::jit::impls
