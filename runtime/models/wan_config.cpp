#include "runtime/models/wan_config.hpp"

#include <fmt/format.h>

#include "common/error.hpp"

namespace qjit {

WanConfig WanConfig::wan_1_3b() { return {"wan2.1-1.3b", 1536, 8960, 12, 30}; }
WanConfig WanConfig::wan_14b() { return {"wan2.1-14b", 5120, 13824, 40, 40}; }

WanConfig WanConfig::by_name(const std::string& name) {
  if (name == "wan2.1-1.3b" || name == "1.3b") return wan_1_3b();
  if (name == "wan2.1-14b" || name == "14b") return wan_14b();
  QJIT_THROW("model", "unknown model '{}' (known: wan2.1-1.3b, wan2.1-14b)", name);
}

std::vector<LinearShape> wan_linear_shapes(const WanConfig& c) {
  std::vector<LinearShape> out = {
      {"text_embedding.0", c.text_dim, c.dim},
      {"text_embedding.2", c.dim, c.dim},
      {"time_embedding.0", c.freq_dim, c.dim},
      {"time_embedding.2", c.dim, c.dim},
      {"time_projection.1", c.dim, 6 * c.dim},
  };
  for (std::int64_t b = 0; b < c.layers; ++b) {
    const std::string p = fmt::format("blocks.{}.", b);
    for (const char* attn : {"self_attn", "cross_attn"}) {
      for (const char* proj : {"q", "k", "v", "o"}) out.push_back({p + attn + "." + proj, c.dim, c.dim});
    }
    out.push_back({p + "ffn.0", c.dim, c.ffn_dim});
    out.push_back({p + "ffn.2", c.ffn_dim, c.dim});
  }
  out.push_back({"head.head", c.dim, c.out_dim * c.patch_volume});
  return out;
}

}  // namespace qjit
