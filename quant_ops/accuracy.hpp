#pragma once
// Accuracy of a quantized model against the unquantized one, per layer and end to end, as
// DAX and LightX2V report it: cosine similarity, mean squared error, relative error (NMSE =
// ||got - want||^2 / ||want||^2) and SNR in dB (-10 log10 NMSE), all in float64.
//
// Per layer, each quantized layer sees exactly the input its unquantized counterpart saw in
// the reference model's forward (recorded), so a layer's figures are its own error, not the
// error that reached it from the layers before; end to end, the two models' outputs.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "runtime/module.hpp"
#include "runtime/tensor.hpp"

namespace qjit {

struct AccuracyMetrics {
  double cosine = 1.0;  // <got, want> / (|got| |want|); 1 when both are zero
  double mse = 0.0;     // mean of (got - want)^2
  double nmse = 0.0;    // sum (got - want)^2 / sum want^2 (relative error, squared)
  double snr_db = 0.0;  // -10 log10(nmse); +inf when exact
  std::int64_t elements = 0;
};

/// got against want (same number of elements, any float dtype, any device). Throws qjit::Error
/// naming the shapes when they differ, or when either holds a NaN or an Inf.
AccuracyMetrics compare_outputs(const Tensor& got, const Tensor& want);

struct LayerAccuracy {
  std::string path;
  std::string type;  // the quantized model's layer type: "QuantLinear", "Linear" (kept)
  std::int64_t calls = 0;  // how often the reference forward called it
  AccuracyMetrics metrics;
  // Wall time of the layer's calls (each op waits for its kernels): the reference's inside
  // its forward, the quantized layer's on the same inputs. Speed on cuda; on the cpu and sim
  // they time the reference and the interpreter, not a GPU.
  double reference_ms = 0.0;
  double quantized_ms = 0.0;
};

/// Runs `forward(reference)` (both models on one device) with every linear layer feeding
/// each input it gets to the layer at the same path of `quantized` as well, and compares the
/// two outputs there and then (nothing is kept): per layer, in the reference's module order. The
/// reference's layers are restored afterwards, even on error. Throws qjit::Error when a
/// layer of the reference has no linear counterpart in `quantized`.
std::vector<LayerAccuracy> layer_accuracy(Module& reference, Module& quantized,
                                          const std::function<void(Module&)>& forward);

}  // namespace qjit
