#pragma once
// Reference weight quantization (DESIGN.md section 5): weights [N, K] row-major (one row per
// output channel n, K contiguous) of f32, f16 or bf16, quantized dynamically per_channel,
// per_tensor or block128 to int8, fp8_e4m3 or fp8_e5m2 with exactly the activation
// formulas (quantize_value.hpp). The scales are returned in the logical layouts: per_channel
// [N], per_tensor [1], block128 [ceil(N/128), ceil(K/128)], row-major fp32.

#include <cstdint>
#include <vector>

#include "common/qtype.hpp"
#include "quant_ops/reference/act_quant.hpp"
#include "common/dtype.hpp"

namespace qjit::reference {

/// Rows and columns of K that share one block128 scale.
inline constexpr std::int64_t kBlockSize = 128;

/// Weights [N, K] in host memory: the same non-owning float view as activations, with
/// rows = N (output channels) and cols = K.
using WeightView = ActView;

/// Scales a granularity gives for [n, k] weights: per_tensor 1, per_channel n, block128
/// ceil(n / 128) * ceil(k / 128). Throws for the activation granularities.
std::int64_t weight_scale_count(std::int64_t n, std::int64_t k, Granularity g);

/// Quantized weights with their scales, owning.
struct QuantizedWeights {
  QType qtype = QType::kInt8;
  Granularity granularity = Granularity::kPerChannel;
  std::int64_t rows = 0;        // N
  std::int64_t cols = 0;        // K
  std::vector<std::uint8_t> q;  // [N, K]: int8 as its two's complement byte, or fp8 codes
  std::vector<float> scales;    // logical layout, weight_scale_count() of them

  /// q as int8 values. Throws unless qtype is int8.
  std::vector<std::int8_t> q_int8() const;
  /// The scale that applies to element (n, k).
  float scale_at(std::int64_t n, std::int64_t k) const;
};

/// Dynamic quantization of w with one scale per `granularity` group (per_channel,
/// per_tensor or block128; edge blocks of block128 are partial). A group whose amax is NaN
/// or Inf gets scale NaN and q 0; an all-zero group gets scale 1e-30 / qmax and q 0.
/// Throws qjit::Error on a bad view, qtype none or an activation granularity.
QuantizedWeights quantize_weights(const WeightView& w, QType qtype, Granularity granularity);
/// w: dense row-major f32 [n, k].
QuantizedWeights quantize_weights(const std::vector<float>& w, std::int64_t n, std::int64_t k, QType qtype,
                                  Granularity granularity);
/// bits: dense row-major f16 or bf16 bit patterns [n, k]; dtype kF16 or kBF16.
QuantizedWeights quantize_weights(const std::vector<std::uint16_t>& bits, DType dtype, std::int64_t n,
                                  std::int64_t k, QType qtype, Granularity granularity);

/// decode(q) * scale for every element, dense row-major [N, K] f32. For tests.
std::vector<float> dequantize(const QuantizedWeights& w);

}  // namespace qjit::reference
