#include "quant_ops/reference/epilogue.hpp"

#include <bit>

#include <cctype>
#include <cmath>
#include <string>

#include "common/error.hpp"
#include "runtime/float_convert.hpp"

namespace qjit::reference {

namespace {

// sqrt(2 / pi) rounded to fp32 (0.79788456...).
constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kGeluCubic = 0.044715f;

bool is_epilogue_float(DType t) { return t == DType::kF32 || t == DType::kF16 || t == DType::kBF16; }

}  // namespace

void check_epilogue(const GemmEpilogue& e) {
  QJIT_CHECK_GEN("quant_ops", is_epilogue_float(e.bias_dtype), "bias must be f32, f16 or bf16, got {}",
                 dtype_name(e.bias_dtype));
  QJIT_CHECK_GEN("quant_ops", is_epilogue_float(e.out_dtype), "GEMM output must be f32, f16 or bf16, got {}",
                 dtype_name(e.out_dtype));
}

float bias_value(const GemmEpilogue& e, std::int64_t n) {
  if (e.bias == nullptr) return 0.0f;
  switch (e.bias_dtype) {
    case DType::kF32: return static_cast<const float*>(e.bias)[n];
    case DType::kF16: return f16_to_f32(static_cast<const std::uint16_t*>(e.bias)[n]);
    case DType::kBF16: return bf16_to_f32(static_cast<const std::uint16_t*>(e.bias)[n]);
    default: break;
  }
  QJIT_THROW("quant_ops", "bias must be f32, f16 or bf16, got {}", dtype_name(e.bias_dtype));
}

float gelu_tanh(float y) {
  const float cube = (y * y) * y;
  const float u = kSqrt2OverPi * (y + kGeluCubic * cube);
  const float t = std::tanh(u);
  return (0.5f * y) * (1.0f + t);
}

float epilogue_value(float acc, float s, float bias, Activation a) {
  // NOTE: one rounding for acc * s + bias, as __fmaf_rn does on the device.
  const float y = std::fma(acc, s, bias);
  const float out = a == Activation::kGeluTanh ? gelu_tanh(y) : y;
  // NOTE: one NaN for every device (DESIGN.md section 5): x86 keeps an operand's payload
  // (0x7fc00000 from a NaN scale), a GPU writes its canonical 0x7fffffff, which rounds to
  // 0x7fff in bf16 and f16. The reference writes the GPU's, so NaN rows are bit-identical too.
  return std::isnan(out) ? std::bit_cast<float>(kCanonicalNaNBits) : out;
}

float round_to_dtype(float y, DType out_dtype) {
  switch (out_dtype) {
    case DType::kF32: return y;
    case DType::kF16: return f16_to_f32(f32_to_f16(y));
    case DType::kBF16: return bf16_to_f32(f32_to_bf16(y));
    default: break;
  }
  QJIT_THROW("quant_ops", "GEMM output must be f32, f16 or bf16, got {}", dtype_name(out_dtype));
}

}  // namespace qjit::reference
