#pragma once
// A linear layer's input as the glue op before it hands it over (DESIGN.md section 6): float
// rows, or, when the consuming layer asks for it, the quantized codes and their scales, so
// that no separate quantization pass runs on that path (LightX2V and vLLM fuse the norm with
// the quantization the same way). The runtime only carries the codes: what they mean (the
// rule, its numerics) belongs to quant_ops' QuantLinear, which asks for them.

#include <limits>
#include <optional>

#include "runtime/tensor.hpp"

namespace qjit {

/// The quantized form a layer wants its input in: what the producing kernel emits.
struct InputQuantization {
  DType codes = DType::kI8;  // kI8, kE4M3 or kE5M2
  // Dynamic per-token scales (one per row, computed by the producer), or the layer's static
  // per-tensor scale (one f32 value) that the producer quantizes with.
  bool per_token = true;
  std::optional<Tensor> static_scale{};
  // The static scale's value, known on the host where the scale was set (NaN: unknown), so
  // comparing two layers' inputs reads nothing back from the device.
  float static_scale_value = std::numeric_limits<float>::quiet_NaN();

  /// Whether one produced input serves both layers: same codes, mode and static scale value
  /// (q, k and v under one rule share one quantized norm output).
  bool same_as(const InputQuantization& other) const;
};

/// What a glue op produced for a layer.
struct LinearInput {
  Tensor x;                        // [M, K]: float rows, or codes of InputQuantization::codes
  std::optional<Tensor> scales{};  // with codes: per-token [M] or the static [1], f32
  bool quantized() const { return scales.has_value(); }
};

}  // namespace qjit
