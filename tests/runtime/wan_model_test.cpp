// The Wan2.1 model tree and its forward (runtime/models/wan_model.hpp) on the tiny config:
// the module tree names every linear of wan_linear_shapes with its shape and GELU, diffusers
// aliases, bad parameters and inputs rejected before any work, pieces checked against Wan's
// definitions written out (timestep embedding, patchify / unpatchify index maps), per-sample
// independence of the batch, and the whole forward on sim against the cpu within a derived
// NMSE bound.

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>

#include <fmt/format.h>

#include "runtime/linear.hpp"
#include "runtime/models/wan_model.hpp"
#include "runtime/models/wan_synthetic.hpp"
#include "tests/support/checks.hpp"
#include "tests/support/sim_devices.hpp"

namespace qjit {
namespace {

WanConfig tiny() { return WanConfig::tiny(); }

const std::map<std::string, Tensor>& weights() {
  static const auto w = wan_synthetic_weights(tiny(), 7);
  return w;
}

TEST(WanModel, TreeHasEveryLinearWithWansNamesAndShapes) {
  WanModel model(tiny(), weights());
  const auto linears = model.modules_of_type<LinearLayer>();
  const auto shapes = wan_linear_shapes(tiny());
  ASSERT_EQ(linears.size(), shapes.size());
  for (std::size_t i = 0; i < shapes.size(); ++i) {
    SCOPED_TRACE(shapes[i].name);
    EXPECT_EQ(linears[i].first, shapes[i].name);
    EXPECT_EQ(linears[i].second->in_features(), shapes[i].in_features);
    EXPECT_EQ(linears[i].second->out_features(), shapes[i].out_features);
    const bool gelu = shapes[i].name.ends_with("ffn.0") || shapes[i].name == "text_embedding.0";
    EXPECT_EQ(linears[i].second->gelu_tanh(), gelu);
  }
  EXPECT_EQ(model.num_blocks(), 2u);
  EXPECT_EQ(&model.at("blocks.1.cross_attn.k"), &model.block(1).cross_attn().k());
}

TEST(WanModel, DiffusersAliases) {
  WanModel model(tiny(), weights());
  EXPECT_EQ(model.path_aliases("blocks.0.self_attn.q"), std::vector<std::string>{"blocks.0.attn1.to_q"});
  EXPECT_EQ(model.path_aliases("blocks.1.ffn.0"), std::vector<std::string>{"blocks.1.ffn.net.0.proj"});
  EXPECT_EQ(model.path_aliases("head.head"), std::vector<std::string>{"proj_out"});
  EXPECT_EQ(model.path_aliases("time_projection.1"), std::vector<std::string>{"condition_embedder.time_proj"});
  EXPECT_TRUE(model.path_aliases("blocks").empty());  // the same in both namings
}

TEST(WanModel, ConfigurableBlockCount) {
  WanConfig c = tiny();
  c.layers = 1;  // the weights' extra block is simply not read
  WanModel model(c, weights());
  EXPECT_EQ(model.num_blocks(), 1u);
  EXPECT_FALSE(model.contains("blocks.1"));
}

TEST(WanModel, BadParametersAndInputsAreRejected) {
  using test::expect_error_mentions;
  auto w = weights();
  w.erase("blocks.1.norm3.bias");
  expect_error_mentions([&] { WanModel(tiny(), w); }, "no parameter 'blocks.1.norm3.bias'");
  w = weights();
  w["blocks.0.self_attn.q.weight"] = Tensor::zeros({128, 64}, DType::kBF16);
  expect_error_mentions([&] { WanModel(tiny(), w); }, "'blocks.0.self_attn.q.weight' must be a float tensor of shape [128, 128]");
  WanModel model(tiny(), weights());
  const WanInputs in = wan_synthetic_inputs(tiny(), 1, 1, 4, 4, 3, 1);
  expect_error_mentions([&] { model.forward(in.latents.narrow(4, 0, 3), in.timesteps, in.context); }, "H and W even");
  expect_error_mentions([&] { model.forward(in.latents, Tensor::zeros({2}, DType::kF32), in.context); },
                        "timesteps must be [1]");
  expect_error_mentions([&] { model.forward(in.latents, in.timesteps, in.context.narrow(2, 0, 8)); },
                        "context must be float [1, L, 64]");
}

// sinusoidal_embedding_1d of Wan, written out: cos then sin of t * 10000^(-j / half).
TEST(WanModel, TimestepEmbeddingIsWans) {
  const Tensor t = Tensor::from_vector<float>({2}, std::vector<float>{0.0f, 999.0f});
  const auto e = wan_timestep_embedding(t, 8).to_f32_vector();
  EXPECT_EQ(e[0], 1.0f);  // cos(0)
  EXPECT_EQ(e[4], 0.0f);  // sin(0)
  EXPECT_EQ(e[8 + 1], static_cast<float>(std::cos(999.0 * std::pow(10000.0, -0.25))));
  EXPECT_EQ(e[8 + 4 + 3], static_cast<float>(std::sin(999.0 * std::pow(10000.0, -0.75))));
}

// Wan's patch embedding is a Conv3d with kernel = stride = (1, 2, 2): token (f, h, w), column
// (c, kh, kw) is latent [c, f, 2h + kh, 2w + kw]; unpatchify's column (kh, kw, c) of token
// (f, h, w) goes back to the same place (einsum fhwpqrc -> cfphqwr).
TEST(WanModel, PatchifyAndUnpatchifyAreWans) {
  const std::int64_t b = 2, ch = 3, f = 2, h = 3, w = 2;
  std::vector<float> v(static_cast<std::size_t>(b * ch * f * 2 * h * 2 * w));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i);
  const Tensor lat = Tensor::from_vector<float>({b, ch, f, 2 * h, 2 * w}, v);
  const auto p = patchify(lat).to_f32_vector();
  const auto at = [&](std::int64_t n, std::int64_t c, std::int64_t ff, std::int64_t y, std::int64_t x) {
    return v[static_cast<std::size_t>((((n * ch + c) * f + ff) * 2 * h + y) * 2 * w + x)];
  };
  for (std::int64_t n = 0; n < b; ++n)
    for (std::int64_t ff = 0; ff < f; ++ff)
      for (std::int64_t y = 0; y < h; ++y)
        for (std::int64_t x = 0; x < w; ++x)
          for (std::int64_t c = 0; c < ch; ++c)
            for (std::int64_t ky = 0; ky < 2; ++ky)
              for (std::int64_t kx = 0; kx < 2; ++kx) {
                const std::int64_t token = ((n * f + ff) * h + y) * w + x;
                ASSERT_EQ(p[static_cast<std::size_t>(token * ch * 4 + c * 4 + ky * 2 + kx)],
                          at(n, c, ff, 2 * y + ky, 2 * x + kx));
              }
  // Unpatchify's columns are (kt, kh, kw, c): build them from the latent and get it back.
  std::vector<float> tokens(static_cast<std::size_t>(b * f * h * w * 4 * ch));
  for (std::int64_t n = 0; n < b; ++n)
    for (std::int64_t ff = 0; ff < f; ++ff)
      for (std::int64_t y = 0; y < h; ++y)
        for (std::int64_t x = 0; x < w; ++x)
          for (std::int64_t ky = 0; ky < 2; ++ky)
            for (std::int64_t kx = 0; kx < 2; ++kx)
              for (std::int64_t c = 0; c < ch; ++c) {
                const std::int64_t token = ((n * f + ff) * h + y) * w + x;
                tokens[static_cast<std::size_t>(token * 4 * ch + (ky * 2 + kx) * ch + c)] = at(n, c, ff, 2 * y + ky, 2 * x + kx);
              }
  const Tensor back = unpatchify(Tensor::from_vector<float>({b, f * h * w, 4 * ch}, tokens), ch, RopeGrid{f, h, w});
  test::expect_same_bits(back.to_f32_vector(), v, "unpatchify");
}

TEST(WanModel, ForwardShapesAndBatchIndependence) {
  WanModel model(tiny(), weights());
  const WanInputs in = wan_synthetic_inputs(tiny(), 2, 2, 4, 6, 5, 3);
  const Tensor y = model.forward(in.latents, in.timesteps, in.context);
  EXPECT_EQ(y.shape(), (std::vector<std::int64_t>{2, 16, 2, 4, 6}));
  const auto all = y.to_f32_vector();
  for (float v : all) ASSERT_TRUE(std::isfinite(v));
  // Sample 1 alone gives the bits it has in the batch: per-batch modulation, no mixing.
  const Tensor one = model.forward(in.latents.narrow(0, 1, 1).contiguous(), in.timesteps.narrow(0, 1, 1).contiguous(),
                                   in.context.narrow(0, 1, 1).contiguous());
  const auto alone = one.to_f32_vector();
  const std::vector<float> second(all.begin() + static_cast<long>(alone.size()), all.end());
  test::expect_same_bits(alone, second, "sample 1");
}

// The whole forward on sim against the cpu, unquantized. Every op but the GEMMs and the
// attention is bit-identical across devices; the GEMMs sum K in the tensor cores' order and
// attention uses ex2.approx and an online softmax, so such an op's bf16 output may differ by
// one rounding, relative 2^-8, where the two orders straddle a rounding boundary. A
// difference in a sum of order-changed fp32 terms is ~K * 2^-24 relative, so the chance an
// element's bf16 rounding flips is ~K * 2^-24 / 2^-8 = K * 2^-16 (K <= 256 here: <= 2^-8),
// and each flip adds (2^-8)^2 relative: NMSE per op ~ 2^-8 * 2^-16 = 6e-8. About 12 such ops
// per block (2 blocks, plus embeddings and head: ~30) add up, each amplified at most by the
// outlier channels' gain of 20 in amplitude (400 in squared error): 30 * 400 * 6e-8 = 7e-4,
// held to 1e-3.
TEST(WanModel, SimForwardMatchesCpu) {
  const auto dev = test::sim_device("sm_90");
  WanModel cpu(tiny(), weights());
  WanModel sim(tiny(), weights(), Device::sim(), dev);
  const WanInputs in = wan_synthetic_inputs(tiny(), 1, 1, 4, 4, 6, 5);
  const double e = test::nmse(sim.forward(in.latents, in.timesteps, in.context), cpu.forward(in.latents, in.timesteps, in.context));
  RecordProperty("nmse", fmt::format("{:.3g}", e));
  EXPECT_LT(e, 1e-3);
}

}  // namespace
}  // namespace qjit
