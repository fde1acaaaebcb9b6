#pragma once
// Wan2.1 DiT configurations and the linear layers they contain, with Wan's native names
// (blocks.N.self_attn.q, ffn.0, text_embedding.0, head.head, ...).

#include <cstdint>
#include <string>
#include <vector>

namespace qjit {

struct WanConfig {
  std::string name;
  std::int64_t dim = 1536;
  std::int64_t ffn_dim = 8960;
  std::int64_t heads = 12;
  std::int64_t layers = 30;
  std::int64_t text_dim = 4096;  // umT5 embedding width
  std::int64_t freq_dim = 256;   // sinusoidal timestep embedding width
  std::int64_t out_dim = 16;     // latent channels
  std::int64_t patch_volume = 4; // patch (1, 2, 2)

  static WanConfig wan_1_3b();
  static WanConfig wan_14b();
  static WanConfig by_name(const std::string& name);  // "wan2.1-1.3b" | "wan2.1-14b"
};

struct LinearShape {
  std::string name;  // dotted module path
  std::int64_t in_features = 0;   // K
  std::int64_t out_features = 0;  // N
};

// Every linear layer of the model, in module order.
std::vector<LinearShape> wan_linear_shapes(const WanConfig& config);

}  // namespace qjit
