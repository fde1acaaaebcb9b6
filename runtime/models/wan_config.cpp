#include "runtime/models/wan_config.hpp"

#include <fmt/format.h>

#include <cmath>

#include "common/error.hpp"

namespace qjit {

WanConfig WanConfig::wan_1_3b() { return {"wan2.1-1.3b", 1536, 8960, 12, 30}; }
WanConfig WanConfig::wan_14b() { return {"wan2.1-14b", 5120, 13824, 40, 40}; }

WanConfig WanConfig::tiny() {
  WanConfig c{"wan2.1-tiny", 128, 256, 2, 2};
  c.text_dim = 64;
  c.text_len = 32;
  return c;
}

WanConfig WanConfig::by_name(const std::string& name) {
  if (name == "wan2.1-1.3b" || name == "1.3b") return wan_1_3b();
  if (name == "wan2.1-14b" || name == "14b") return wan_14b();
  if (name == "wan2.1-tiny" || name == "tiny") return tiny();
  QJIT_THROW("model", "unknown model '{}' (known: wan2.1-1.3b, wan2.1-14b, wan2.1-tiny)", name);
}

void WanConfig::validate() const {
  const auto positive = [this](const char* field, std::int64_t v) {
    QJIT_CHECK_GEN("model", v > 0, "config '{}': {} is {}, must be positive", name, field, v);
  };
  positive("dim", dim);
  positive("ffn_dim", ffn_dim);
  positive("heads", heads);
  positive("layers", layers);
  positive("text_dim", text_dim);
  positive("freq_dim", freq_dim);
  positive("out_dim", out_dim);
  positive("in_dim", in_dim);
  positive("text_len", text_len);
  QJIT_CHECK_GEN("model", dim % heads == 0, "config '{}': dim {} is not a multiple of heads {}", name, dim, heads);
  // RoPE rotates channel pairs, and the sinusoidal embedding is cos/sin halves.
  QJIT_CHECK_GEN("model", head_dim() % 2 == 0, "config '{}': head_dim {} (dim {} / heads {}) must be even", name,
                 head_dim(), dim, heads);
  QJIT_CHECK_GEN("model", freq_dim % 2 == 0, "config '{}': freq_dim {} must be even", name, freq_dim);
  QJIT_CHECK_GEN("model", patch_volume == 4, "config '{}': patch_volume is {}, but Wan2.1's patch is (1, 2, 2)", name,
                 patch_volume);
  QJIT_CHECK_GEN("model", std::isfinite(eps) && eps > 0.0f, "config '{}': eps {} must be finite and positive", name,
                 eps);
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
