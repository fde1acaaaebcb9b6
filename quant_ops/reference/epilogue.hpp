#pragma once
// The GEMM epilogue of DESIGN.md section 5, shared by every GEMM family of the reference:
//   y = fmaf(float(acc), s, bias[n])     one rounding (std::fma); bias 0 when absent
//   y = gelu_tanh(y)                     optional, fp32
//   out = round(y)                       to bf16 / f16 (RNE) or kept as f32; NaN canonical

#include <cstdint>
#include <string_view>

#include "common/dtype.hpp"
#include "common/qtype.hpp"

namespace qjit::reference {

// The activation function applied after the bias (common/qtype.hpp).
using ::qjit::Activation;
using ::qjit::activation_name;
using ::qjit::parse_activation;

/// What follows the accumulation: bias, activation function, output dtype. Not owning.
struct GemmEpilogue {
  const void* bias = nullptr;       // [N] of bias_dtype (f16/bf16: bit patterns); null: no bias
  DType bias_dtype = DType::kF32;   // kF32, kF16 or kBF16, widened exactly to f32
  Activation activation = Activation::kNone;
  DType out_dtype = DType::kBF16;   // kF32, kF16 or kBF16
};

/// Throws qjit::Error unless bias_dtype and out_dtype are f32, f16 or bf16.
void check_epilogue(const GemmEpilogue& e);
/// bias[n] as f32 (exact for every bias dtype); 0 when there is no bias.
float bias_value(const GemmEpilogue& e, std::int64_t n);

/// GELU, tanh approximation, in fp32, evaluated in exactly this order (one rounding per
/// operation; the project compiles with -ffp-contract=off):
///   u = (kSqrt2OverPi * (y + (0.044715f * ((y * y) * y))));  t = std::tanh(u);
///   gelu = (0.5f * y) * (1.0f + t).
/// NOTE: the formula is taken literally, so gelu(-Inf) is NaN (-Inf * 0) and gelu(+Inf) Inf.
float gelu_tanh(float y);
/// The one NaN every device writes in a GEMM output (what a GPU's arithmetic produces):
/// f32 0x7fffffff, rounding to 0x7fff in bf16 and f16.
inline constexpr std::uint32_t kCanonicalNaNBits = 0x7fffffffu;
/// fmaf(acc, s, bias), then the activation: the epilogue value before output rounding; a
/// NaN is the canonical one.
float epilogue_value(float acc, float s, float bias, Activation a);
/// y rounded to the output dtype (RNE; overflow to Inf) and widened back to f32, exactly.
float round_to_dtype(float y, DType out_dtype);

}  // namespace qjit::reference
