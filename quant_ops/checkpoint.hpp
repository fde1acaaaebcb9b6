#pragma once
// Quantized checkpoints: a model whose Linear layers Rule::apply replaced with QuantLinear,
// saved to and loaded from one safetensors file with the tensor names LightX2V and vLLM use,
// so the codes and scales are readable by them and theirs by qjit:
//
//   <path>.weight        QuantLinear: the codes [N, K], I8, F8_E4M3 or F8_E5M2;
//                        Linear: the high-precision weights [N, K] (F32, F16 or BF16)
//   <path>.weight_scale  f32 weight scales: per_channel [N, 1], per_tensor [1],
//                        block128 [ceil(N/128), ceil(K/128)]
//   <path>.input_scale   f32 [1], the calibrated activation scale (static rules only)
//   <path>.bias          [N], in the dtype the layer holds it in
//
// NOTE: per_channel scales are written [N, 1], not the logical [N]: that is what vLLM's
// channelwise int8 / fp8 schemes and LightX2V's quantized checkpoints hold (a keepdim max
// over K), so their loaders take qjit's files unchanged; quantized_weight_from reads both.
//
// "__metadata__" holds "qjit.format_version" ("1") and "qjit.quantization", a JSON object
// {"format_version": 1, "layers": {"<path>": {"rule": "<Rule::str()>"}, ...}} naming every
// quantized layer and its rule, so loading knows the qtypes and granularities. Unquantized
// Linear layers are written for completeness (the file is a whole checkpoint of the linear
// layers) and are not listed: loading leaves them as the model has them.

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/module.hpp"

namespace qjit {

/// The version of the layout above, recorded in every checkpoint; loading refuses others.
inline constexpr int kQuantizedCheckpointVersion = 1;
/// The "__metadata__" keys.
inline constexpr std::string_view kCheckpointVersionKey = "qjit.format_version";
inline constexpr std::string_view kCheckpointQuantizationKey = "qjit.quantization";

/// Writes every LinearLayer of `model` (QuantLinear and Linear; any other implementation is
/// an error naming its path and type) to `path` atomically (save_safetensors). Tensors on
/// sim / cuda are copied to the cpu first. Throws qjit::Error (subsystem "checkpoint").
void save_quantized_checkpoint(const std::filesystem::path& path, Module& model);

/// Reads `path` and puts a QuantLinear, built from the stored codes and scales
/// (quantized_weight_from), at each layer path its metadata lists. The model's layer there
/// must be a LinearLayer of the same [N, K]; the new layer keeps its GELU and, for its
/// high-precision dtype, its weights' dtype. Everything is checked before any layer is
/// replaced — the file, the metadata (JSON, version, rules), each listed layer (present in
/// the model, a linear layer, matching shapes), each tensor (present, dtype, shape) and the
/// parent's slot accepting a QuantLinear — and the first problem throws qjit::Error naming
/// the file, the layer and the tensor, leaving the model as it was. The loaded layers live
/// on the device of the layers they replace (the model's). Returns the replaced layer paths, in the file's order.
std::vector<std::string> load_quantized_checkpoint(const std::filesystem::path& path, Module& model);

}  // namespace qjit
