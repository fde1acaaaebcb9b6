#pragma once
// Wan2.1 checkpoints in safetensors: loading a checkpoint (one file, or shards through their
// index or directory: wan_checkpoint_files.hpp) whose tensors use either naming
// (native wan/modules/model.py names or diffusers' WanTransformer3DModel names, see
// wan_names.hpp) into native names, fully checked against a WanConfig before any tensor is
// read; inferring the config from a file's shapes; writing weights in either naming.

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include "runtime/models/wan_checkpoint_files.hpp"
#include "runtime/models/wan_config.hpp"
#include "runtime/models/wan_names.hpp"
#include "runtime/safetensors.hpp"
#include "runtime/tensor.hpp"

namespace qjit {

/// The naming of a file's tensor names. A name that only one naming has decides it
/// (patch_embedding.* is spelled alike in both, and names of neither naming are ignored
/// here); a file with no deciding name is native. Throws qjit::Error (subsystem "model")
/// naming the file, one native-only and one diffusers-only tensor when the file mixes them.
WanNaming detect_wan_naming(const SafetensorsFile& file);
/// The same over every shard of a checkpoint.
WanNaming detect_wan_naming(const CheckpointFiles& files);
/// How many blocks a checkpoint holds (1 + the largest block index of its names).
std::int64_t wan_checkpoint_blocks(const CheckpointFiles& files);

/// Every parameter of `config` (wan_params.hpp) from the checkpoint at `file` (a safetensors
/// file, a sharded checkpoint's index or its directory: CheckpointFiles; memory-mapped),
/// keyed by native name, each a contiguous cpu tensor of the file's dtype (f32, f16
/// or bf16; tensors may differ), copied out of the mapping.
///
/// Everything is checked on the header before a byte of data is read, and a problem is a
/// qjit::Error (subsystem "model", or "safetensors" for a malformed file) naming the file:
/// mixed namings (a tensor of each); an unexpected tensor (its name, why, and the nearest
/// expected name); a dtype other than F32/F16/BF16 (the tensor, its dtype); a wrong shape
/// (the tensor, expected and found); missing parameters (how many, the first names).
/// With `first_blocks`, the file may hold more blocks than config.layers (a short model from a
/// full checkpoint: `--blocks N`): the blocks from config.layers on are skipped unread.
std::map<std::string, Tensor> load_wan_weights(const std::filesystem::path& file, const WanConfig& config,
                                               bool first_blocks = false);
/// The same from a checkpoint already opened.
std::map<std::string, Tensor> load_wan_weights(const CheckpointFiles& file, const WanConfig& config,
                                               bool first_blocks = false);

/// The config whose parameters `file` holds, from its shapes (either naming): dim, in_dim
/// (patch_embedding), text_dim (text_embedding.0), freq_dim (time_embedding.0), ffn_dim
/// (blocks.0.ffn.0), out_dim (head.head / 4), layers (highest block index + 1). Weights do
/// not record the number of heads: heads = dim / head_dim (Wan2.1 uses 128). text_len and
/// eps keep Wan's defaults. The name is the preset's when every field matches one
/// (wan2.1-1.3b, wan2.1-14b, wan2.1-tiny), else the file's stem. Throws naming a missing
/// tensor, a shape of the wrong rank or a dim not divisible by head_dim.
WanConfig infer_wan_config(const std::filesystem::path& file, std::int64_t head_dim = 128);

/// Writes `weights` (native names -> tensors of any device, dtype kept) to `file` in
/// `naming`, tensors ordered by their written name (as the reference writer orders names),
/// with the metadata {"format": "pt"} PyTorch-saved checkpoints carry. Atomic (see
/// save_safetensors). Throws, before writing, for a name that is no native Wan parameter.
void save_wan_weights(const std::filesystem::path& file, const std::map<std::string, Tensor>& weights,
                      WanNaming naming);

}  // namespace qjit
