#include "common/dtype.hpp"

#include <array>
#include <cctype>

#include "common/error.hpp"

namespace qjit {

namespace {

struct DTypeAlias {
  std::string_view name;
  DType dtype;
};

// NOTE: the canonical name comes first for each dtype; error messages list only those.
constexpr std::array kAliases = {
    DTypeAlias{"f32", DType::kF32},
    DTypeAlias{"float32", DType::kF32},
    DTypeAlias{"fp32", DType::kF32},
    DTypeAlias{"float", DType::kF32},
    DTypeAlias{"f16", DType::kF16},
    DTypeAlias{"float16", DType::kF16},
    DTypeAlias{"fp16", DType::kF16},
    DTypeAlias{"half", DType::kF16},
    DTypeAlias{"bf16", DType::kBF16},
    DTypeAlias{"bfloat16", DType::kBF16},
    DTypeAlias{"fp8_e4m3", DType::kE4M3},
    DTypeAlias{"e4m3", DType::kE4M3},
    DTypeAlias{"e4m3fn", DType::kE4M3},
    DTypeAlias{"fp8_e4m3fn", DType::kE4M3},
    DTypeAlias{"float8_e4m3", DType::kE4M3},
    DTypeAlias{"float8_e4m3fn", DType::kE4M3},
    DTypeAlias{"fp8_e5m2", DType::kE5M2},
    DTypeAlias{"e5m2", DType::kE5M2},
    DTypeAlias{"float8_e5m2", DType::kE5M2},
    DTypeAlias{"int8", DType::kI8},
    DTypeAlias{"i8", DType::kI8},
    DTypeAlias{"s8", DType::kI8},
    DTypeAlias{"int32", DType::kI32},
    DTypeAlias{"i32", DType::kI32},
    DTypeAlias{"s32", DType::kI32},
};

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

std::size_t dtype_size(DType t) {
  switch (t) {
    case DType::kF32: return 4;
    case DType::kF16: return 2;
    case DType::kBF16: return 2;
    case DType::kE4M3: return 1;
    case DType::kE5M2: return 1;
    case DType::kI8: return 1;
    case DType::kI32: return 4;
  }
  QJIT_THROW("runtime", "invalid DType value {}", static_cast<int>(t));
}

std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::kF32: return "f32";
    case DType::kF16: return "f16";
    case DType::kBF16: return "bf16";
    case DType::kE4M3: return "fp8_e4m3";
    case DType::kE5M2: return "fp8_e5m2";
    case DType::kI8: return "int8";
    case DType::kI32: return "int32";
  }
  QJIT_THROW("runtime", "invalid DType value {}", static_cast<int>(t));
}

DType parse_dtype(std::string_view name) {
  // Case-insensitive so "BF16" or "Float32" from a command line are accepted too.
  const std::string key = lower(name);
  for (const DTypeAlias& a : kAliases) {
    if (a.name == key) return a.dtype;
  }
  QJIT_THROW("runtime",
             "unknown dtype '{}' (expected one of f32, f16, bf16, fp8_e4m3, fp8_e5m2, int8, int32)", name);
}

bool is_high_precision(DType t) { return t == DType::kF32 || t == DType::kF16 || t == DType::kBF16; }

bool is_float(DType t) {
  switch (t) {
    case DType::kF32:
    case DType::kF16:
    case DType::kBF16:
    case DType::kE4M3:
    case DType::kE5M2: return true;
    case DType::kI8:
    case DType::kI32: return false;
  }
  return false;
}

}  // namespace qjit
