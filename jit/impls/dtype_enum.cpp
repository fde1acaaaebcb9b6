#include "jit/impls/dtype_enum.hpp"

#include <map>

#include "common/error.hpp"

namespace qjit::jit::impls {

EnumValue dtype_enum(const std::string& name) {
  static const std::map<std::string, std::string> kEnumerators = {
      {"f32", "kF32"},       {"f16", "kF16"},       {"bf16", "kBF16"}, {"fp8_e4m3", "kE4M3"},
      {"fp8_e5m2", "kE5M2"}, {"int8", "kI8"},       {"int32", "kI32"},
  };
  auto it = kEnumerators.find(name);
  QJIT_CHECK_GEN("jit", it != kEnumerators.end(), "no device dtype named '{}'", name);
  return {"qjit::dev::DType", it->second};
}

}  // namespace qjit::jit::impls
