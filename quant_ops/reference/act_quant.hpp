#pragma once
// Reference activation quantization (DESIGN.md section 5): dynamic per_token, per_tensor and
// group128, and static per_tensor, on rows [M, K] of f32, f16 or bf16 in host memory.
// Every device's activation-quantization kernel is tested against these, byte for byte.

#include <cstdint>
#include <vector>

#include "common/qtype.hpp"
#include "common/dtype.hpp"

namespace qjit::reference {

/// Elements of K that share one group128 scale.
inline constexpr std::int64_t kGroupSize = 128;

/// Activations [rows, cols] in host memory, rows possibly strided. Not owning.
struct ActView {
  const void* data = nullptr;   // f32: float; f16 and bf16: std::uint16_t bit patterns
  DType dtype = DType::kF32;    // kF32, kF16 or kBF16
  std::int64_t rows = 0;        // M (tokens)
  std::int64_t cols = 0;        // K
  std::int64_t row_stride = 0;  // elements from one row's start to the next, >= cols

  /// A dense row-major view (row_stride = cols).
  static ActView dense(const void* data, DType dtype, std::int64_t rows, std::int64_t cols);
  /// Element (r, c) converted to f32 (exact for f16 and bf16).
  float at(std::int64_t r, std::int64_t c) const;
};

/// Scales a granularity gives for [rows, cols] activations: per_tensor 1, per_token rows,
/// group128 rows * ceil(cols / 128). Throws for the weight granularities.
std::int64_t act_scale_count(std::int64_t rows, std::int64_t cols, Granularity g);

/// Dynamic quantization of x with one scale per `granularity` group (per_token, per_tensor
/// or group128). Writes q: rows * cols bytes, dense row-major (int8: std::int8_t, fp8: the
/// encodings), and scales: act_scale_count() floats, row-major ([M], [1] or [M, ceil(K/128)]).
/// A group whose amax is NaN or Inf gets scale NaN and q 0. Throws qjit::Error on a bad
/// view, qtype none or a weight granularity.
void quantize_dynamic(const ActView& x, QType qtype, Granularity granularity, void* q, float* scales);
/// Static per-tensor quantization with the calibrated scale s: inv = 1.0f / s and q as in
/// quantize_int8 / quantize_fp8 (int8: NaN -> 0, ±Inf -> ±127; fp8: NaN kept, ±Inf -> ±qmax).
/// Writes q as quantize_dynamic does. Throws unless s is finite and > 0.
void quantize_static(const ActView& x, QType qtype, float scale, void* q);

/// Quantized activations with their scales, owning.
struct QuantizedActs {
  QType qtype = QType::kInt8;
  Granularity granularity = Granularity::kPerToken;
  std::int64_t rows = 0;
  std::int64_t cols = 0;
  std::vector<std::uint8_t> q;  // [rows, cols]: int8 as its two's complement byte, or fp8 codes
  std::vector<float> scales;    // row-major, act_scale_count() of them; static: {s}

  /// q as int8 values. Throws unless qtype is int8.
  std::vector<std::int8_t> q_int8() const;
  /// The scale that applies to element (r, c).
  float scale_at(std::int64_t r, std::int64_t c) const;
};

QuantizedActs quantize_dynamic(const ActView& x, QType qtype, Granularity granularity);
/// x: dense row-major f32 [rows, cols].
QuantizedActs quantize_dynamic(const std::vector<float>& x, std::int64_t rows, std::int64_t cols,
                               QType qtype, Granularity granularity);
/// bits: dense row-major f16 or bf16 bit patterns [rows, cols]; dtype kF16 or kBF16.
QuantizedActs quantize_dynamic(const std::vector<std::uint16_t>& bits, DType dtype, std::int64_t rows,
                               std::int64_t cols, QType qtype, Granularity granularity);

QuantizedActs quantize_static(const ActView& x, QType qtype, float scale);
QuantizedActs quantize_static(const std::vector<float>& x, std::int64_t rows, std::int64_t cols, QType qtype,
                              float scale);
QuantizedActs quantize_static(const std::vector<std::uint16_t>& bits, DType dtype, std::int64_t rows,
                              std::int64_t cols, QType qtype, float scale);

/// decode(q) * scale for every element, dense row-major [rows, cols] f32. For tests.
std::vector<float> dequantize(const QuantizedActs& a);

}  // namespace qjit::reference
