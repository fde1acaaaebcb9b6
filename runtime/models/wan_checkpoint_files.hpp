#pragma once
// One checkpoint's tensors across its safetensors files, as Wan2.1 and diffusers ship them:
// a single file; a sharded one through its index (`*.safetensors.index.json`, whose
// "weight_map" names the shard of every tensor, the 14B model's
// diffusion_pytorch_model-0000N-of-0000M files); or a directory holding either (or shards
// without an index). Each shard is memory-mapped; names are read from the headers only.

#include <cstddef>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/safetensors.hpp"
#include "runtime/tensor.hpp"

namespace qjit {

class CheckpointFiles {
 public:
  /// Opens `path` (a .safetensors file, an index .json, or a directory) and every shard it
  /// names. Throws qjit::Error (subsystem "checkpoint", or "safetensors" for a malformed
  /// shard) naming the path and the problem: no safetensors file in a directory, several
  /// indexes, an index that is not JSON or has no weight_map, a shard it names that is
  /// missing, a tensor the index places in a shard that does not hold it, a shard's tensor
  /// the index does not list, a tensor held by two shards.
  static CheckpointFiles open(const std::filesystem::path& path);

  /// For messages: the path, and how many shards it has when more than one.
  const std::string& where() const { return where_; }
  const std::vector<SafetensorsFile>& files() const { return files_; }
  /// Every tensor name, shard by shard in header order.
  const std::vector<std::string>& names() const { return names_; }
  bool has(std::string_view name) const { return owner_.find(name) != owner_.end(); }
  /// The shard holding `name` (which must exist).
  const SafetensorsFile& file_of(std::string_view name) const;
  const SafetensorsTensorInfo& info(std::string_view name) const { return file_of(name).info(name); }
  Tensor get(std::string_view name) const { return file_of(name).get(name); }

 private:
  void add(SafetensorsFile file);
  std::string where_;
  std::vector<SafetensorsFile> files_;
  std::vector<std::string> names_;
  std::map<std::string, std::size_t, std::less<>> owner_;  // name -> shard
};

}  // namespace qjit
