// The native <-> diffusers table of wan_names.hpp, looked up at the model level and inside a
// block (blocks.N. stripped and put back), so that one table row serves every block.

#include "runtime/models/wan_names.hpp"

#include <array>
#include <cstdint>

#include "common/error.hpp"

namespace qjit {

namespace {

// The parameters a mapped module owns.
enum class Leaves {
  kNone,        // containers, parameterless norms
  kWeight,      // RMSNorm
  kWeightBias,  // Linear, Conv3d, affine LayerNorm
  kSelf,        // the row is itself a parameter (modulation / scale_shift_table)
};

struct Row {
  std::string_view native;
  std::string_view diffusers;
  Leaves leaves;
};

// Paths relative to the model.
constexpr std::array kModelRows = {
    Row{"", "", Leaves::kNone},
    Row{"patch_embedding", "patch_embedding", Leaves::kWeightBias},
    Row{"text_embedding", "condition_embedder.text_embedder", Leaves::kNone},
    Row{"text_embedding.0", "condition_embedder.text_embedder.linear_1", Leaves::kWeightBias},
    Row{"text_embedding.2", "condition_embedder.text_embedder.linear_2", Leaves::kWeightBias},
    Row{"time_embedding", "condition_embedder.time_embedder", Leaves::kNone},
    Row{"time_embedding.0", "condition_embedder.time_embedder.linear_1", Leaves::kWeightBias},
    Row{"time_embedding.2", "condition_embedder.time_embedder.linear_2", Leaves::kWeightBias},
    Row{"time_projection.1", "condition_embedder.time_proj", Leaves::kWeightBias},
    Row{"blocks", "blocks", Leaves::kNone},
    Row{"head.norm", "norm_out", Leaves::kNone},
    Row{"head.head", "proj_out", Leaves::kWeightBias},
    Row{"head.modulation", "scale_shift_table", Leaves::kSelf},
};

// Paths relative to blocks.N ("" is the block itself).
constexpr std::array kBlockRows = {
    Row{"", "", Leaves::kNone},
    Row{"modulation", "scale_shift_table", Leaves::kSelf},
    Row{"norm1", "norm1", Leaves::kNone},
    Row{"self_attn", "attn1", Leaves::kNone},
    Row{"self_attn.q", "attn1.to_q", Leaves::kWeightBias},
    Row{"self_attn.k", "attn1.to_k", Leaves::kWeightBias},
    Row{"self_attn.v", "attn1.to_v", Leaves::kWeightBias},
    Row{"self_attn.o", "attn1.to_out.0", Leaves::kWeightBias},
    Row{"self_attn.norm_q", "attn1.norm_q", Leaves::kWeight},
    Row{"self_attn.norm_k", "attn1.norm_k", Leaves::kWeight},
    // NOTE: the swap: Wan calls its norms in the order norm1, norm3, norm2 (norm3 is the
    // affine one before cross-attention); diffusers numbers them in call order.
    Row{"norm3", "norm2", Leaves::kWeightBias},
    Row{"cross_attn", "attn2", Leaves::kNone},
    Row{"cross_attn.q", "attn2.to_q", Leaves::kWeightBias},
    Row{"cross_attn.k", "attn2.to_k", Leaves::kWeightBias},
    Row{"cross_attn.v", "attn2.to_v", Leaves::kWeightBias},
    Row{"cross_attn.o", "attn2.to_out.0", Leaves::kWeightBias},
    Row{"cross_attn.norm_q", "attn2.norm_q", Leaves::kWeight},
    Row{"cross_attn.norm_k", "attn2.norm_k", Leaves::kWeight},
    Row{"norm2", "norm3", Leaves::kNone},
    Row{"ffn", "ffn", Leaves::kNone},
    Row{"ffn.0", "ffn.net.0.proj", Leaves::kWeightBias},
    Row{"ffn.2", "ffn.net.2", Leaves::kWeightBias},
};

constexpr std::string_view kBlocks = "blocks.";

struct Mapped {
  std::string path;
  bool parameter = false;
};

std::string_view side(const Row& r, WanNaming n) { return n == WanNaming::kNative ? r.native : r.diffusers; }

// `rel` (a path relative to the rows' level) in `to`, or nullopt.
template <std::size_t N>
std::optional<Mapped> lookup(const std::array<Row, N>& rows, std::string_view rel, WanNaming from, WanNaming to) {
  for (const Row& r : rows) {
    const std::string_view key = side(r, from);
    if (rel == key) return Mapped{std::string(side(r, to)), r.leaves == Leaves::kSelf};
    // A leaf: the module's path, a dot, "weight" or "bias" (never on the empty root path).
    if (key.empty() || r.leaves == Leaves::kNone || r.leaves == Leaves::kSelf) continue;
    if (rel.size() <= key.size() + 1 || rel.substr(0, key.size()) != key || rel[key.size()] != '.') continue;
    const std::string_view leaf = rel.substr(key.size() + 1);
    if (leaf == "weight" || (leaf == "bias" && r.leaves == Leaves::kWeightBias)) {
      return Mapped{std::string(side(r, to)) + "." + std::string(leaf), true};
    }
  }
  return std::nullopt;
}

// Splits "blocks.N[.rest]" into N's text and rest; false for anything else. N is a canonical
// decimal (no sign, no leading zero, at most 9 digits) so that renaming is a bijection.
bool split_block(std::string_view path, std::string_view& index, std::string_view& rest) {
  if (path.substr(0, kBlocks.size()) != kBlocks) return false;
  const std::string_view tail = path.substr(kBlocks.size());
  const std::size_t dot = tail.find('.');
  index = tail.substr(0, dot);
  if (index.empty() || index.size() > 9 || (index.size() > 1 && index[0] == '0')) return false;
  for (const char ch : index) {
    if (ch < '0' || ch > '9') return false;
  }
  if (dot == std::string_view::npos) {
    rest = {};
    return true;
  }
  rest = tail.substr(dot + 1);
  return !rest.empty();  // "blocks.3." is no path
}

std::optional<Mapped> map_path(std::string_view path, WanNaming from, WanNaming to) {
  std::string_view index, rest;
  if (split_block(path, index, rest)) {
    std::optional<Mapped> m = lookup(kBlockRows, rest, from, to);
    if (!m) return std::nullopt;
    m->path = std::string(kBlocks) + std::string(index) + (m->path.empty() ? "" : "." + m->path);
    return m;
  }
  return lookup(kModelRows, path, from, to);
}

}  // namespace

std::string_view wan_naming_name(WanNaming naming) {
  switch (naming) {
    case WanNaming::kNative:
      return "native";
    case WanNaming::kDiffusers:
      return "diffusers";
  }
  QJIT_THROW("model", "unknown WanNaming {}", static_cast<int>(naming));
}

std::optional<std::string> wan_rename(std::string_view path, WanNaming from, WanNaming to) {
  std::optional<Mapped> m = map_path(path, from, to);
  if (!m) return std::nullopt;
  return std::move(m->path);
}

std::optional<std::string> wan_diffusers_name(std::string_view native_path) {
  return wan_rename(native_path, WanNaming::kNative, WanNaming::kDiffusers);
}

std::optional<std::string> wan_native_name(std::string_view diffusers_path) {
  return wan_rename(diffusers_path, WanNaming::kDiffusers, WanNaming::kNative);
}

bool wan_is_parameter_path(std::string_view path, WanNaming naming) {
  const std::optional<Mapped> m = map_path(path, naming, naming);
  return m && m->parameter;
}

}  // namespace qjit
