#pragma once
// The quantization vocabulary, with the canonical names of DESIGN.md section 5: quantized
// types, scale granularities, how activations are scaled, the GEMM's activation function.
// Defined once, here, low enough for every layer (jit/ included) to use.

#include <optional>
#include <string_view>

#include "common/dtype.hpp"

namespace qjit {

/// What a tensor is quantized to. kNone: not quantized (kept in its float dtype).
enum class QType { kNone, kInt8, kE4M3, kE5M2 };

/// Canonical names: none, int8, fp8_e4m3, fp8_e5m2.
std::string_view qtype_name(QType q);
/// Accepts the canonical names and aliases, case-insensitively, '-' read as '_': "fp8" and
/// "e4m3", "fp8_e4m3fn", "float8_e4m3fn" (fp8_e4m3); "e5m2", "float8_e5m2" (fp8_e5m2);
/// "i8", "s8" (int8). Throws qjit::Error naming the bad string and the valid names.
QType parse_qtype(std::string_view name);
/// Largest magnitude a quantized value takes: 127 (int8, never -128), 448 (fp8_e4m3, the
/// "fn" variant), 57344 (fp8_e5m2). Throws for kNone.
float qtype_max(QType q);
/// The element type quantized values are stored in: kI8, kE4M3 or kE5M2. Throws for kNone,
/// which has no storage type of its own.
DType qtype_storage(QType q);
/// The quantized type whose codes a dtype stores (kI8, kE4M3, kE5M2); nullopt for others.
std::optional<QType> qtype_of_storage(DType t);

/// Which elements share one scale.
enum class Granularity {
  kPerTensor,   // one scale for the whole tensor
  kPerChannel,  // weights: one scale per output row n
  kPerToken,    // activations: one scale per row m
  kBlock128,    // weights: one scale per 128x128 block
  kGroup128,    // activations: one scale per 1x128 group along K
};

/// Canonical names: per_tensor, per_channel, per_token, block128, group128.
std::string_view granularity_name(Granularity g);
/// Accepts the canonical names, case-insensitively, '-' read as '_', plus "tensor",
/// "channel", "token" (LightX2V spells granularities this way). Throws qjit::Error naming
/// the bad string and the valid names.
Granularity parse_granularity(std::string_view name);

/// How activations get their scales (quantize_activations, the act_quant kernels).
enum class ActScale {
  kDynamicPerToken,   // one scale per row, computed from the row
  kStaticPerTensor,   // one given (calibrated) scale
  kDynamicPerTensor,  // one scale computed from the whole tensor (any NaN/Inf: all outputs NaN)
  kDynamicGroup128,   // one scale per 1x128 group along K (the last group of a row may be partial)
};

/// The activation function a GEMM applies after the bias.
enum class Activation { kNone, kGeluTanh };

/// Canonical names: none, gelu_tanh.
std::string_view activation_name(Activation a);
/// Accepts the canonical names, case-insensitively, '-' read as '_', plus "gelu" (the tanh
/// approximation is the only GELU qjit has). Throws qjit::Error naming the valid names.
Activation parse_activation(std::string_view name);

}  // namespace qjit
