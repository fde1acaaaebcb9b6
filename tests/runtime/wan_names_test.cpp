// wan_names: native <-> diffusers names of every parameter and of the modules, both ways,
// against the names diffusers' WanTransformer3DModel checkpoints hold (written out here).

#include "runtime/models/wan_names.hpp"

#include <gtest/gtest.h>

#include <set>

#include "runtime/models/wan_params.hpp"

namespace qjit {
namespace {

WanConfig blocks(std::int64_t n) {
  WanConfig c = WanConfig::tiny();
  c.layers = n;
  return c;
}

// The tensor names of a one-block Wan2.1-T2V checkpoint in diffusers' naming (the keys of
// Wan-AI/Wan2.1-T2V-1.3B-Diffusers' transformer, restricted to block 0).
const std::set<std::string> kDiffusersOneBlock = {
    "patch_embedding.weight",
    "patch_embedding.bias",
    "condition_embedder.text_embedder.linear_1.weight",
    "condition_embedder.text_embedder.linear_1.bias",
    "condition_embedder.text_embedder.linear_2.weight",
    "condition_embedder.text_embedder.linear_2.bias",
    "condition_embedder.time_embedder.linear_1.weight",
    "condition_embedder.time_embedder.linear_1.bias",
    "condition_embedder.time_embedder.linear_2.weight",
    "condition_embedder.time_embedder.linear_2.bias",
    "condition_embedder.time_proj.weight",
    "condition_embedder.time_proj.bias",
    "blocks.0.scale_shift_table",
    "blocks.0.attn1.to_q.weight",
    "blocks.0.attn1.to_q.bias",
    "blocks.0.attn1.to_k.weight",
    "blocks.0.attn1.to_k.bias",
    "blocks.0.attn1.to_v.weight",
    "blocks.0.attn1.to_v.bias",
    "blocks.0.attn1.to_out.0.weight",
    "blocks.0.attn1.to_out.0.bias",
    "blocks.0.attn1.norm_q.weight",
    "blocks.0.attn1.norm_k.weight",
    "blocks.0.norm2.weight",
    "blocks.0.norm2.bias",
    "blocks.0.attn2.to_q.weight",
    "blocks.0.attn2.to_q.bias",
    "blocks.0.attn2.to_k.weight",
    "blocks.0.attn2.to_k.bias",
    "blocks.0.attn2.to_v.weight",
    "blocks.0.attn2.to_v.bias",
    "blocks.0.attn2.to_out.0.weight",
    "blocks.0.attn2.to_out.0.bias",
    "blocks.0.attn2.norm_q.weight",
    "blocks.0.attn2.norm_k.weight",
    "blocks.0.ffn.net.0.proj.weight",
    "blocks.0.ffn.net.0.proj.bias",
    "blocks.0.ffn.net.2.weight",
    "blocks.0.ffn.net.2.bias",
    "scale_shift_table",
    "proj_out.weight",
    "proj_out.bias",
};

TEST(WanNames, EveryParameterOfOneBlockIsDiffusersName) {
  std::set<std::string> got;
  for (const ParamShape& p : wan_parameters(blocks(1))) {
    const auto d = wan_diffusers_name(p.name);
    ASSERT_TRUE(d.has_value()) << p.name;
    got.insert(*d);
  }
  EXPECT_EQ(got, kDiffusersOneBlock);
}

TEST(WanNames, EveryParameterRoundTripsBothWays) {
  std::set<std::string> native, diffusers;
  for (const ParamShape& p : wan_parameters(blocks(2))) {
    SCOPED_TRACE(p.name);
    const auto d = wan_diffusers_name(p.name);
    ASSERT_TRUE(d.has_value());
    EXPECT_EQ(wan_native_name(*d), p.name);
    EXPECT_EQ(wan_rename(p.name, WanNaming::kNative, WanNaming::kDiffusers), d);
    EXPECT_EQ(wan_rename(*d, WanNaming::kDiffusers, WanNaming::kNative), p.name);
    EXPECT_EQ(wan_rename(p.name, WanNaming::kNative, WanNaming::kNative), p.name);
    EXPECT_TRUE(wan_is_parameter_path(p.name, WanNaming::kNative));
    EXPECT_TRUE(wan_is_parameter_path(*d, WanNaming::kDiffusers));
    native.insert(p.name);
    EXPECT_TRUE(diffusers.insert(*d).second) << "two parameters map to " << *d;
  }
  // Only the patch embedding is spelled alike; that is what lets a loader tell the namings apart.
  std::set<std::string> both;
  for (const auto& n : native) {
    if (diffusers.count(n)) both.insert(n);
  }
  EXPECT_EQ(both, (std::set<std::string>{"patch_embedding.weight", "patch_embedding.bias"}));
  // And no native-only name is a diffusers parameter, nor the reverse.
  for (const auto& n : native) {
    if (!both.count(n)) EXPECT_FALSE(wan_is_parameter_path(n, WanNaming::kDiffusers)) << n;
  }
  for (const auto& d : diffusers) {
    if (!both.count(d)) EXPECT_FALSE(wan_is_parameter_path(d, WanNaming::kNative)) << d;
  }
}

TEST(WanNames, ModulePathsMapOneToOne) {
  const std::vector<std::pair<std::string, std::string>> modules = {
      {"", ""},
      {"patch_embedding", "patch_embedding"},
      {"text_embedding", "condition_embedder.text_embedder"},
      {"text_embedding.0", "condition_embedder.text_embedder.linear_1"},
      {"text_embedding.2", "condition_embedder.text_embedder.linear_2"},
      {"time_embedding", "condition_embedder.time_embedder"},
      {"time_embedding.0", "condition_embedder.time_embedder.linear_1"},
      {"time_embedding.2", "condition_embedder.time_embedder.linear_2"},
      {"time_projection.1", "condition_embedder.time_proj"},
      {"blocks", "blocks"},
      {"blocks.3", "blocks.3"},
      {"blocks.12.norm1", "blocks.12.norm1"},
      {"blocks.3.self_attn", "blocks.3.attn1"},
      {"blocks.3.self_attn.q", "blocks.3.attn1.to_q"},
      {"blocks.3.self_attn.o", "blocks.3.attn1.to_out.0"},
      {"blocks.3.self_attn.norm_k", "blocks.3.attn1.norm_k"},
      {"blocks.3.norm3", "blocks.3.norm2"},
      {"blocks.3.cross_attn", "blocks.3.attn2"},
      {"blocks.3.cross_attn.v", "blocks.3.attn2.to_v"},
      {"blocks.3.cross_attn.norm_q", "blocks.3.attn2.norm_q"},
      {"blocks.3.norm2", "blocks.3.norm3"},
      {"blocks.3.ffn", "blocks.3.ffn"},
      {"blocks.3.ffn.0", "blocks.3.ffn.net.0.proj"},
      {"blocks.39.ffn.2", "blocks.39.ffn.net.2"},
      {"head.norm", "norm_out"},
      {"head.head", "proj_out"},
  };
  for (const auto& [native, diffusers] : modules) {
    EXPECT_EQ(wan_diffusers_name(native), diffusers) << native;
    EXPECT_EQ(wan_native_name(diffusers), native) << diffusers;
    EXPECT_FALSE(wan_is_parameter_path(native, WanNaming::kNative)) << native;
  }
  // Every linear of wan_linear_shapes has a diffusers module.
  for (const LinearShape& l : wan_linear_shapes(blocks(2))) {
    const auto d = wan_diffusers_name(l.name);
    ASSERT_TRUE(d.has_value()) << l.name;
    EXPECT_EQ(wan_native_name(*d), l.name);
  }
}

TEST(WanNames, PathsWithoutACounterpartAreNullopt) {
  for (const char* native : {"time_projection", "time_projection.0", "head", "text_embedding.1", "blocks.0.ffn.1",
                             "blocks.0.norm1.weight",   // norm1 has no parameters
                             "blocks.0.norm2.weight",   // nor has Wan's norm2 (diffusers' norm2 has)
                             "blocks.0.self_attn.norm_q.bias", "head.norm.weight", "ffn.0.weight",
                             "blocks.01.ffn.0.weight", "blocks.-1.ffn.0", "blocks.3.", "blocks.x.ffn.0", "blocks.",
                             "blocks.1234567890.ffn.0", "patch_embedding.scale", "head.head.weight.extra",
                             "condition_embedder", "model.blocks.0.ffn.0.weight", "self_attn.q", "blocks.0.modulation.weight"}) {
    EXPECT_EQ(wan_diffusers_name(native), std::nullopt) << native;
  }
  for (const char* diffusers : {"condition_embedder", "condition_embedder.act_fn", "blocks.0.attn1.to_out",
                                "blocks.0.attn1.to_out.1", "blocks.0.ffn.net", "blocks.0.ffn.net.0",
                                "blocks.0.norm3.weight", "blocks.0.norm1.bias", "norm_out.linear.weight",
                                "blocks.0.self_attn.q", "time_embedding.0.weight", "rope"}) {
    EXPECT_EQ(wan_native_name(diffusers), std::nullopt) << diffusers;
  }
  EXPECT_EQ(wan_diffusers_name("blocks.0.modulation"), "blocks.0.scale_shift_table");
  EXPECT_EQ(wan_native_name("scale_shift_table"), "head.modulation");
  EXPECT_TRUE(wan_is_parameter_path("scale_shift_table", WanNaming::kDiffusers));
  EXPECT_FALSE(wan_is_parameter_path("scale_shift_table", WanNaming::kNative));
  EXPECT_EQ(wan_naming_name(WanNaming::kNative), "native");
  EXPECT_EQ(wan_naming_name(WanNaming::kDiffusers), "diffusers");
}

}  // namespace
}  // namespace qjit
