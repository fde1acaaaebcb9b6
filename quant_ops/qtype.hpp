#pragma once
// Quantized types and scale granularities, with the canonical names of DESIGN.md section 5.

#include <string_view>

#include "runtime/dtype.hpp"

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

}  // namespace qjit
