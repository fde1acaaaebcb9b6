#pragma once
// Element types of tensors, with their canonical names.

#include <cstddef>
#include <string>
#include <string_view>

namespace qjit {

enum class DType {
  kF32,
  kF16,
  kBF16,
  kE4M3,  // fp8 e4m3 "fn": no infinities, max 448, NaN = S.1111.111
  kE5M2,  // fp8 e5m2: IEEE-like, max 57344, has Inf
  kI8,
  kI32,
};

std::size_t dtype_size(DType t);
// Canonical names: f32 f16 bf16 fp8_e4m3 fp8_e5m2 int8 int32.
std::string_view dtype_name(DType t);
// Accepts the canonical names and common aliases (float32, float16, bfloat16, e4m3, e5m2,
// float8_e4m3fn, i8, i32 ...). Throws qjit::Error naming the bad string.
DType parse_dtype(std::string_view name);
bool is_float(DType t);
/// f32, f16 or bf16: the dtypes of float activations, biases and outputs.
bool is_high_precision(DType t);

}  // namespace qjit
