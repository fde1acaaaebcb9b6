#include "runtime/models/wan_params.hpp"

#include <fmt/format.h>

namespace qjit {

namespace {

void add_linear(std::vector<ParamShape>& out, const std::string& path, std::int64_t in, std::int64_t out_features) {
  out.push_back({path + ".weight", {out_features, in}});
  out.push_back({path + ".bias", {out_features}});
}

}  // namespace

std::vector<ParamShape> wan_parameters(const WanConfig& c) {
  c.validate();
  const auto [pt, ph, pw] = WanConfig::patch();
  std::vector<ParamShape> out;
  out.push_back({"patch_embedding.weight", {c.dim, c.in_dim, pt, ph, pw}});
  out.push_back({"patch_embedding.bias", {c.dim}});
  add_linear(out, "text_embedding.0", c.text_dim, c.dim);
  add_linear(out, "text_embedding.2", c.dim, c.dim);
  add_linear(out, "time_embedding.0", c.freq_dim, c.dim);
  add_linear(out, "time_embedding.2", c.dim, c.dim);
  add_linear(out, "time_projection.1", c.dim, 6 * c.dim);
  for (std::int64_t b = 0; b < c.layers; ++b) {
    const std::string p = fmt::format("blocks.{}.", b);
    out.push_back({p + "modulation", {1, 6, c.dim}});
    // WanSelfAttention registers q, k, v, o, then norm_q, norm_k; cross-attention subclasses it.
    const auto attention = [&](const std::string& a) {
      for (const char* proj : {"q", "k", "v", "o"}) add_linear(out, a + proj, c.dim, c.dim);
      out.push_back({a + "norm_q.weight", {c.dim}});
      out.push_back({a + "norm_k.weight", {c.dim}});
    };
    attention(p + "self_attn.");
    out.push_back({p + "norm3.weight", {c.dim}});
    out.push_back({p + "norm3.bias", {c.dim}});
    attention(p + "cross_attn.");
    add_linear(out, p + "ffn.0", c.dim, c.ffn_dim);
    add_linear(out, p + "ffn.2", c.ffn_dim, c.dim);
  }
  out.push_back({"head.modulation", {1, 2, c.dim}});
  add_linear(out, "head.head", c.dim, c.out_dim * c.patch_volume);
  return out;
}

std::int64_t shape_numel(const std::vector<std::int64_t>& shape) {
  std::int64_t n = 1;
  for (const std::int64_t d : shape) n *= d;
  return n;
}

std::int64_t wan_parameter_count(const WanConfig& config) {
  std::int64_t total = 0;
  for (const ParamShape& p : wan_parameters(config)) total += shape_numel(p.shape);
  return total;
}

}  // namespace qjit
