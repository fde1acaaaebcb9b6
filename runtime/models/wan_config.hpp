#pragma once
// Wan2.1 DiT configurations and the linear layers they contain, with Wan's native names
// (blocks.N.self_attn.q, ffn.0, text_embedding.0, head.head, ...). Every parameter, not only
// the linears, is listed by wan_params.hpp.

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace qjit {

struct WanConfig {
  // NOTE: the first five fields are positional in the presets ({name, dim, ffn, heads,
  // layers}); new fields go at the end, with defaults that are Wan2.1 T2V's.
  std::string name;
  std::int64_t dim = 1536;
  std::int64_t ffn_dim = 8960;
  std::int64_t heads = 12;
  std::int64_t layers = 30;
  std::int64_t text_dim = 4096;  // umT5 embedding width
  std::int64_t freq_dim = 256;   // sinusoidal timestep embedding width
  std::int64_t out_dim = 16;     // latent channels out
  std::int64_t patch_volume = 4; // patch (1, 2, 2): must stay 4, see patch()
  std::int64_t in_dim = 16;      // latent channels in (T2V; I2V would be 36, not supported)
  std::int64_t text_len = 512;   // umT5 context length Wan pads the prompt embedding to
  float eps = 1e-6f;             // LayerNorm and RMSNorm epsilon (a Python float Wan adds in fp32)

  /// The patch (t, h, w) of patch_embedding's Conv3d and of the head's unpatchify. Fixed:
  /// every Wan2.1 model uses (1, 2, 2).
  static constexpr std::array<std::int64_t, 3> patch() { return {1, 2, 2}; }
  /// Wan2.1 is trained with 1000 diffusion timesteps; its schedulers sample t in [0, 1000].
  static constexpr double kMaxTimestep = 1000.0;
  /// Channels per attention head (128 in both published models).
  std::int64_t head_dim() const { return heads > 0 ? dim / heads : 0; }
  /// Throws qjit::Error (subsystem "model") naming the first field that is out of range:
  /// non-positive sizes, dim not a multiple of heads, an odd head_dim (RoPE pairs channels),
  /// patch_volume other than 4, eps not finite and positive.
  void validate() const;

  static WanConfig wan_1_3b();
  static WanConfig wan_14b();
  /// A small model of Wan2.1's exact structure for tests and demos: dim 128, 2 heads of 64,
  /// ffn 256, 2 blocks, text_dim 64, freq_dim 256, in/out 16, text_len 32. Not a published
  /// model; ~0.6 M parameters.
  static WanConfig tiny();
  static WanConfig by_name(const std::string& name);  // "wan2.1-1.3b" | "wan2.1-14b" | "wan2.1-tiny"
};

struct LinearShape {
  std::string name;  // dotted module path
  std::int64_t in_features = 0;   // K
  std::int64_t out_features = 0;  // N
};

// Every linear layer of the model, in module order.
std::vector<LinearShape> wan_linear_shapes(const WanConfig& config);

}  // namespace qjit
