// load_wan_weights validates the whole file against the config on the header alone (names,
// dtypes, shapes, completeness), then copies the tensors out; infer_wan_config reads shapes
// only; save_wan_weights renames and writes.

#include "runtime/models/wan_checkpoint.hpp"

#include <fmt/ranges.h>

#include <algorithm>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.hpp"
#include "runtime/models/wan_params.hpp"

namespace qjit {

namespace {

// How many missing names an error lists before "and N more".
constexpr std::size_t kListedMissing = 8;

// Edit distance (insertions, deletions, substitutions) for the "nearest name" hint.
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

// The block index of "blocks.N...." in either naming, or nullopt.
std::optional<std::int64_t> block_index(std::string_view name) {
  constexpr std::string_view kPrefix = "blocks.";
  if (name.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  std::int64_t n = 0;
  std::size_t i = kPrefix.size();
  for (; i < name.size() && name[i] >= '0' && name[i] <= '9' && i < kPrefix.size() + 12; ++i) {
    n = n * 10 + (name[i] - '0');
  }
  if (i == kPrefix.size()) return std::nullopt;
  return n;
}

bool is_weight_dtype(const SafetensorsTensorInfo& info) {
  return info.tensor_dtype == DType::kF32 || info.tensor_dtype == DType::kF16 || info.tensor_dtype == DType::kBF16;
}

struct Expected {
  std::string native;
  const std::vector<std::int64_t>* shape;
};

}  // namespace

namespace {

WanNaming naming_of(const std::vector<std::string>& names, const std::string& where) {
  const std::string* native_only = nullptr;
  const std::string* diffusers_only = nullptr;
  for (const std::string& name : names) {
    const bool native = wan_is_parameter_path(name, WanNaming::kNative);
    const bool diffusers = wan_is_parameter_path(name, WanNaming::kDiffusers);
    if (native && !diffusers && native_only == nullptr) native_only = &name;
    if (diffusers && !native && diffusers_only == nullptr) diffusers_only = &name;
  }
  if (native_only != nullptr && diffusers_only != nullptr) {
    QJIT_THROW("model",
               "{}: the file mixes Wan's native and diffusers' names: '{}' is a native name, '{}' a diffusers one "
               "(a checkpoint must use one naming)",
               where, *native_only, *diffusers_only);
  }
  return diffusers_only != nullptr ? WanNaming::kDiffusers : WanNaming::kNative;
}

}  // namespace

WanNaming detect_wan_naming(const SafetensorsFile& file) { return naming_of(file.names(), file.path().string()); }

WanNaming detect_wan_naming(const CheckpointFiles& files) { return naming_of(files.names(), files.where()); }

std::int64_t wan_checkpoint_blocks(const CheckpointFiles& files) {
  std::int64_t layers = 0;
  for (const std::string& name : files.names()) {
    if (const auto b = block_index(name)) layers = std::max(layers, *b + 1);
  }
  return layers;
}

std::map<std::string, Tensor> load_wan_weights(const std::filesystem::path& path, const WanConfig& config,
                                               bool first_blocks) {
  wan_parameters(config);  // validates the config before any file is opened
  return load_wan_weights(CheckpointFiles::open(path), config, first_blocks);
}

std::map<std::string, Tensor> load_wan_weights(const CheckpointFiles& file, const WanConfig& config,
                                               bool first_blocks) {
  const std::vector<ParamShape> params = wan_parameters(config);  // validates the config
  const WanNaming naming = detect_wan_naming(file);
  const std::string where = fmt::format("{} ({} names, config {})", file.where(), wan_naming_name(naming), config.name);

  // File name -> what it must be.
  std::map<std::string, Expected, std::less<>> expected;
  for (const ParamShape& p : params) {
    std::optional<std::string> file_name = wan_rename(p.name, WanNaming::kNative, naming);
    QJIT_CHECK_GEN("model", file_name.has_value(), "parameter '{}' has no {} name", p.name, wan_naming_name(naming));
    expected.emplace(std::move(*file_name), Expected{p.name, &p.shape});
  }

  for (const std::string& name : file.names()) {
    const auto it = expected.find(name);
    if (it == expected.end()) {
      std::string why = "not a Wan parameter name";
      const std::optional<std::int64_t> block = block_index(name);
      if (first_blocks && wan_is_parameter_path(name, naming) && block && *block >= config.layers) continue;
      if (wan_is_parameter_path(name, naming) && block && *block >= config.layers) {
        why = fmt::format("block {}, but the config has {} blocks", *block, config.layers);
      } else if (wan_is_parameter_path(name, naming)) {
        why = "a Wan parameter the config does not have";
      }
      const std::string* nearest = nullptr;
      std::size_t best = 0;
      for (const auto& [candidate, e] : expected) {
        const std::size_t d = edit_distance(name, candidate);
        if (nearest == nullptr || d < best) {
          nearest = &candidate;
          best = d;
        }
      }
      QJIT_THROW("model", "{}: unexpected tensor '{}' ({}){}", where, name, why,
                 nearest != nullptr ? fmt::format("; the nearest expected name is '{}'", *nearest) : "");
    }
    const SafetensorsTensorInfo& info = file.info(name);
    if (!is_weight_dtype(info)) {
      QJIT_THROW("model", "{}: tensor '{}' has dtype {}; Wan weights must be F32, F16 or BF16{}", where, name,
                 info.dtype,
                 info.tensor_dtype == DType::kE4M3 || info.tensor_dtype == DType::kE5M2
                     ? " (pre-quantized fp8 checkpoints are not read: qjit quantizes from floating-point weights)"
                     : "");
    }
    if (info.shape != *it->second.shape) {
      QJIT_THROW("model", "{}: tensor '{}'{} has shape [{}], expected [{}]", where, name,
                 name == it->second.native ? "" : fmt::format(" (native '{}')", it->second.native),
                 fmt::join(info.shape, ", "), fmt::join(*it->second.shape, ", "));
    }
  }

  std::vector<std::string> missing;
  for (const ParamShape& p : params) {
    const std::string file_name = *wan_rename(p.name, WanNaming::kNative, naming);
    if (!file.has(file_name)) missing.push_back(file_name);
  }
  if (!missing.empty()) {
    std::string listed;
    for (std::size_t i = 0; i < missing.size() && i < kListedMissing; ++i) listed += (i ? ", '" : "'") + missing[i] + "'";
    if (missing.size() > kListedMissing) listed += fmt::format(" and {} more", missing.size() - kListedMissing);
    QJIT_THROW("model", "{}: missing {} of the {} parameters: {}", where, missing.size(), params.size(), listed);
  }

  std::map<std::string, Tensor> out;
  for (const ParamShape& p : params) out.emplace(p.name, file.get(*wan_rename(p.name, WanNaming::kNative, naming)));
  return out;
}

WanConfig infer_wan_config(const std::filesystem::path& path, std::int64_t head_dim) {
  QJIT_CHECK_GEN("model", head_dim > 0, "infer_wan_config: head_dim {} must be positive", head_dim);
  const CheckpointFiles file = CheckpointFiles::open(path);
  const WanNaming naming = detect_wan_naming(file);
  const auto shape_of = [&](const char* native, std::size_t rank) -> const std::vector<std::int64_t>& {
    const std::string name = *wan_rename(native, WanNaming::kNative, naming);
    QJIT_CHECK_GEN("model", file.has(name), "{}: cannot infer the Wan config: no tensor '{}' ({} names)",
                   path.string(), name, wan_naming_name(naming));
    const std::vector<std::int64_t>& s = file.info(name).shape;
    QJIT_CHECK_GEN("model", s.size() == rank, "{}: cannot infer the Wan config: '{}' has shape [{}], not of rank {}",
                   path.string(), name, fmt::join(s, ", "), rank);
    return s;
  };
  WanConfig c;
  const auto& patch = shape_of("patch_embedding.weight", 5);
  c.dim = patch[0];
  c.in_dim = patch[1];
  c.text_dim = shape_of("text_embedding.0.weight", 2)[1];
  c.freq_dim = shape_of("time_embedding.0.weight", 2)[1];
  c.ffn_dim = shape_of("blocks.0.ffn.0.weight", 2)[0];
  const std::int64_t head_out = shape_of("head.head.weight", 2)[0];
  QJIT_CHECK_GEN("model", head_out % c.patch_volume == 0,
                 "{}: cannot infer the Wan config: head.head has {} outputs, not a multiple of the patch volume {}",
                 path.string(), head_out, c.patch_volume);
  c.out_dim = head_out / c.patch_volume;
  c.layers = wan_checkpoint_blocks(file);
  QJIT_CHECK_GEN("model", c.dim % head_dim == 0, "{}: cannot infer the Wan config: dim {} is not a multiple of head_dim {}",
                 path.string(), c.dim, head_dim);
  c.heads = c.dim / head_dim;
  c.name = path.stem().string();
  for (const WanConfig& preset : {WanConfig::wan_1_3b(), WanConfig::wan_14b(), WanConfig::tiny()}) {
    if (preset.dim == c.dim && preset.ffn_dim == c.ffn_dim && preset.heads == c.heads && preset.layers == c.layers &&
        preset.text_dim == c.text_dim && preset.freq_dim == c.freq_dim && preset.out_dim == c.out_dim &&
        preset.in_dim == c.in_dim) {
      c.name = preset.name;
      c.text_len = preset.text_len;
    }
  }
  c.validate();
  return c;
}

void save_wan_weights(const std::filesystem::path& path, const std::map<std::string, Tensor>& weights,
                      WanNaming naming) {
  std::vector<std::pair<std::string, Tensor>> tensors;
  tensors.reserve(weights.size());
  for (const auto& [native, t] : weights) {
    QJIT_CHECK_GEN("model", wan_is_parameter_path(native, WanNaming::kNative),
                   "{}: '{}' is not a native Wan parameter name", path.string(), native);
    tensors.emplace_back(*wan_rename(native, WanNaming::kNative, naming), t);
  }
  std::sort(tensors.begin(), tensors.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  save_safetensors(path, tensors, {{"format", "pt"}});
}

}  // namespace qjit
