// wan_parameters: the published parameter counts of Wan2.1 T2V 1.3B and 14B, state_dict
// order, agreement with wan_linear_shapes, and WanConfig's presets and validation.

#include "runtime/models/wan_params.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "runtime/models/wan_config.hpp"
#include "tests/support/checks.hpp"

namespace qjit {
namespace {

WanConfig two_blocks() {
  WanConfig c = WanConfig::tiny();
  c.layers = 2;
  return c;
}

// The count written out from wan/modules/model.py, as a check on the list (Linear: in*out +
// out; per block 8 attention linears, 4 RMSNorm gains, the affine norm3, 2 ffn linears, the
// [1, 6, dim] modulation).
std::int64_t count_by_formula(const WanConfig& c) {
  const auto linear = [](std::int64_t in, std::int64_t out) { return in * out + out; };
  const std::int64_t block = 8 * linear(c.dim, c.dim) + 4 * c.dim + 2 * c.dim + linear(c.dim, c.ffn_dim) +
                             linear(c.ffn_dim, c.dim) + 6 * c.dim;
  return (c.dim * c.in_dim * 4 + c.dim) + linear(c.text_dim, c.dim) + linear(c.dim, c.dim) +
         linear(c.freq_dim, c.dim) + linear(c.dim, c.dim) + linear(c.dim, 6 * c.dim) + c.layers * block +
         (2 * c.dim + linear(c.dim, c.out_dim * 4));
}

TEST(WanParams, PublishedParameterCounts) {
  // Wan2.1-T2V-1.3B: 1,418,996,800 parameters in 825 tensors (what the Hugging Face
  // checkpoint's metadata reports for the DiT); 14B: 14,288,491,584 in 1095.
  const WanConfig small = WanConfig::wan_1_3b();
  EXPECT_EQ(wan_parameter_count(small), 1'418'996'800);
  EXPECT_EQ(wan_parameters(small).size(), 825u);
  EXPECT_EQ(count_by_formula(small), 1'418'996'800);
  const WanConfig large = WanConfig::wan_14b();
  EXPECT_EQ(wan_parameter_count(large), 14'288'491'584);
  EXPECT_EQ(wan_parameters(large).size(), 1095u);
  EXPECT_EQ(wan_parameter_count(WanConfig::tiny()), count_by_formula(WanConfig::tiny()));
}

TEST(WanParams, StateDictOrderAndShapes) {
  const WanConfig c = two_blocks();
  const auto params = wan_parameters(c);
  using S = std::vector<std::int64_t>;
  const std::vector<ParamShape> head = {
      {"patch_embedding.weight", S{128, 16, 1, 2, 2}},
      {"patch_embedding.bias", S{128}},
      {"text_embedding.0.weight", S{128, 64}},
      {"text_embedding.0.bias", S{128}},
      {"text_embedding.2.weight", S{128, 128}},
      {"text_embedding.2.bias", S{128}},
      {"time_embedding.0.weight", S{128, 256}},
      {"time_embedding.0.bias", S{128}},
      {"time_embedding.2.weight", S{128, 128}},
      {"time_embedding.2.bias", S{128}},
      {"time_projection.1.weight", S{768, 128}},
      {"time_projection.1.bias", S{128 * 6}},
      // A module's own parameters come before its children's.
      {"blocks.0.modulation", S{1, 6, 128}},
      {"blocks.0.self_attn.q.weight", S{128, 128}},
      {"blocks.0.self_attn.q.bias", S{128}},
      {"blocks.0.self_attn.k.weight", S{128, 128}},
      {"blocks.0.self_attn.k.bias", S{128}},
      {"blocks.0.self_attn.v.weight", S{128, 128}},
      {"blocks.0.self_attn.v.bias", S{128}},
      {"blocks.0.self_attn.o.weight", S{128, 128}},
      {"blocks.0.self_attn.o.bias", S{128}},
      {"blocks.0.self_attn.norm_q.weight", S{128}},
      {"blocks.0.self_attn.norm_k.weight", S{128}},
      {"blocks.0.norm3.weight", S{128}},
      {"blocks.0.norm3.bias", S{128}},
      {"blocks.0.cross_attn.q.weight", S{128, 128}},
      {"blocks.0.cross_attn.q.bias", S{128}},
      {"blocks.0.cross_attn.k.weight", S{128, 128}},
      {"blocks.0.cross_attn.k.bias", S{128}},
      {"blocks.0.cross_attn.v.weight", S{128, 128}},
      {"blocks.0.cross_attn.v.bias", S{128}},
      {"blocks.0.cross_attn.o.weight", S{128, 128}},
      {"blocks.0.cross_attn.o.bias", S{128}},
      {"blocks.0.cross_attn.norm_q.weight", S{128}},
      {"blocks.0.cross_attn.norm_k.weight", S{128}},
      {"blocks.0.ffn.0.weight", S{256, 128}},
      {"blocks.0.ffn.0.bias", S{256}},
      {"blocks.0.ffn.2.weight", S{128, 256}},
      {"blocks.0.ffn.2.bias", S{128}},
      {"blocks.1.modulation", S{1, 6, 128}},
  };
  ASSERT_EQ(params.size(), 12u + 2 * 27 + 3);
  for (std::size_t i = 0; i < head.size(); ++i) {
    EXPECT_EQ(params[i].name, head[i].name) << i;
    EXPECT_EQ(params[i].shape, head[i].shape) << head[i].name;
  }
  const std::size_t n = params.size();
  EXPECT_EQ(params[n - 4].name, "blocks.1.ffn.2.bias");
  EXPECT_EQ(params[n - 3].name, "head.modulation");
  EXPECT_EQ(params[n - 3].shape, (S{1, 2, 128}));
  EXPECT_EQ(params[n - 2].name, "head.head.weight");
  EXPECT_EQ(params[n - 2].shape, (S{64, 128}));  // out_dim 16 x patch volume 4
  EXPECT_EQ(params[n - 1].name, "head.head.bias");

  std::set<std::string> names;
  for (const auto& p : params) EXPECT_TRUE(names.insert(p.name).second) << "twice: " << p.name;
}

TEST(WanParams, LinearShapesMatchTheParameterList) {
  for (const WanConfig& c : {WanConfig::wan_1_3b(), WanConfig::wan_14b(), WanConfig::tiny(), two_blocks()}) {
    SCOPED_TRACE(c.name);
    std::map<std::string, std::vector<std::int64_t>> by_name;
    for (const auto& p : wan_parameters(c)) by_name[p.name] = p.shape;
    const auto linears = wan_linear_shapes(c);
    std::set<std::string> linear_weights;
    for (const LinearShape& l : linears) {
      ASSERT_TRUE(by_name.count(l.name + ".weight")) << l.name;
      EXPECT_EQ(by_name[l.name + ".weight"], (std::vector<std::int64_t>{l.out_features, l.in_features})) << l.name;
      ASSERT_TRUE(by_name.count(l.name + ".bias")) << l.name;
      EXPECT_EQ(by_name[l.name + ".bias"], (std::vector<std::int64_t>{l.out_features})) << l.name;
      linear_weights.insert(l.name + ".weight");
    }
    // And every 2-D weight is one of those linears (nothing left out of wan_linear_shapes).
    std::size_t two_d = 0;
    for (const auto& [name, shape] : by_name) {
      if (shape.size() != 2) continue;
      ++two_d;
      EXPECT_TRUE(linear_weights.count(name)) << name << " is 2-D but no LinearShape";
    }
    EXPECT_EQ(two_d, linears.size());
  }
}

TEST(WanConfig, PresetsAndByName) {
  const WanConfig t = WanConfig::by_name("wan2.1-tiny");
  EXPECT_EQ(t.name, "wan2.1-tiny");
  EXPECT_EQ(t.dim, 128);
  EXPECT_EQ(t.heads, 2);
  EXPECT_EQ(t.head_dim(), 64);
  EXPECT_EQ(t.ffn_dim, 256);
  EXPECT_EQ(t.layers, 2);
  EXPECT_EQ(t.text_dim, 64);
  EXPECT_EQ(t.text_len, 32);
  const WanConfig s = WanConfig::by_name("1.3b");
  EXPECT_EQ(s.head_dim(), 128);
  EXPECT_EQ(s.in_dim, 16);
  EXPECT_EQ(s.text_len, 512);
  EXPECT_EQ(s.eps, 1e-6f);
  EXPECT_EQ(WanConfig::by_name("wan2.1-14b").head_dim(), 128);
  EXPECT_EQ(WanConfig::patch(), (std::array<std::int64_t, 3>{1, 2, 2}));
  test::expect_error([] { WanConfig::by_name("wan2.2"); }, {"unknown model 'wan2.2'", "wan2.1-tiny"});
}

TEST(WanConfig, ValidateNamesTheBadField) {
  const auto bad = [](auto change, std::vector<std::string> parts) {
    WanConfig c = WanConfig::tiny();
    change(c);
    test::expect_error([&] { c.validate(); }, parts);
    test::expect_error([&] { wan_parameters(c); }, parts);
  };
  bad([](WanConfig& c) { c.heads = 3; }, {"dim 128 is not a multiple of heads 3"});
  bad([](WanConfig& c) { c.dim = 126, c.heads = 2; }, {"head_dim 63", "even"});
  bad([](WanConfig& c) { c.layers = 0; }, {"layers is 0"});
  bad([](WanConfig& c) { c.ffn_dim = -1; }, {"ffn_dim is -1"});
  bad([](WanConfig& c) { c.patch_volume = 8; }, {"patch_volume is 8"});
  bad([](WanConfig& c) { c.eps = 0.0f; }, {"eps"});
  bad([](WanConfig& c) { c.freq_dim = 255; }, {"freq_dim 255"});
  for (const WanConfig& c : {WanConfig::wan_1_3b(), WanConfig::wan_14b(), WanConfig::tiny()}) c.validate();
}

}  // namespace
}  // namespace qjit
