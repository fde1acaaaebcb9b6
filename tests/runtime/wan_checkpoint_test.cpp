// Wan checkpoints: saved in either naming and loaded back to the same native tensors, the
// naming detected per file, the config inferred from shapes, and every load error (mixed
// namings, missing, unexpected, wrong shape, non-float dtype, wrong config) named.

#include "runtime/models/wan_checkpoint.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <fmt/format.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "runtime/models/wan_params.hpp"
#include "runtime/models/wan_synthetic.hpp"
#include "tests/support/checks.hpp"

namespace qjit {
namespace {

namespace fs = std::filesystem;
using Weights = std::map<std::string, Tensor>;

class WanCheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "qjit_wan_ckpt_XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    config_ = WanConfig::tiny();
    weights_ = wan_synthetic_weights(config_, 7, DType::kBF16);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // weights_ in `naming`, renamed/changed by `edit` (file name -> tensor), written raw.
  fs::path write(const std::string& file, WanNaming naming,
                 const std::function<void(std::vector<std::pair<std::string, Tensor>>&)>& edit = {}) {
    std::vector<std::pair<std::string, Tensor>> tensors;
    for (const auto& [name, t] : weights_) tensors.emplace_back(*wan_rename(name, WanNaming::kNative, naming), t);
    if (edit) edit(tensors);
    const fs::path p = dir_ / file;
    save_safetensors(p, tensors);
    return p;
  }
  static void set(std::vector<std::pair<std::string, Tensor>>& tensors, const std::string& name, Tensor t) {
    for (auto& [n, v] : tensors) {
      if (n == name) v = std::move(t);
    }
  }
  static void erase(std::vector<std::pair<std::string, Tensor>>& tensors, const std::string& name) {
    std::erase_if(tensors, [&](const auto& e) { return e.first == name; });
  }

  void expect_same(const Weights& got) {
    ASSERT_EQ(got.size(), weights_.size());
    for (const auto& [name, t] : weights_) {
      ASSERT_TRUE(got.count(name)) << name;
      EXPECT_TRUE(test::same_bits(got.at(name), t)) << name;
      EXPECT_TRUE(got.at(name).device().is_host());
    }
  }

  fs::path dir_;
  WanConfig config_;
  Weights weights_;
};

TEST_F(WanCheckpointTest, EitherNamingLoadsTheSameNativeTensors) {
  const fs::path native = dir_ / "native.safetensors";
  const fs::path diffusers = dir_ / "diffusers.safetensors";
  save_wan_weights(native, weights_, WanNaming::kNative);
  save_wan_weights(diffusers, weights_, WanNaming::kDiffusers);

  const SafetensorsFile nf = SafetensorsFile::open(native), df = SafetensorsFile::open(diffusers);
  EXPECT_EQ(detect_wan_naming(nf), WanNaming::kNative);
  EXPECT_EQ(detect_wan_naming(df), WanNaming::kDiffusers);
  EXPECT_TRUE(nf.has("blocks.1.self_attn.q.weight"));
  EXPECT_TRUE(df.has("blocks.1.attn1.to_q.weight"));
  EXPECT_TRUE(df.has("scale_shift_table"));
  EXPECT_EQ(df.metadata().at("format"), "pt");
  // Written in name order, as the reference writer orders them.
  EXPECT_TRUE(std::is_sorted(df.names().begin(), df.names().end()));

  const Weights a = load_wan_weights(native, config_);
  const Weights b = load_wan_weights(diffusers, config_);
  expect_same(a);
  expect_same(b);
}

TEST_F(WanCheckpointTest, MixedFloatDTypesLoadAsStored) {
  weights_["blocks.0.ffn.0.weight"] = weights_["blocks.0.ffn.0.weight"].to_dtype(DType::kF32);
  weights_["head.modulation"] = weights_["head.modulation"].to_dtype(DType::kF16);
  const fs::path p = dir_ / "mixed.safetensors";
  save_wan_weights(p, weights_, WanNaming::kDiffusers);
  const Weights got = load_wan_weights(p, config_);
  EXPECT_EQ(got.at("blocks.0.ffn.0.weight").dtype(), DType::kF32);
  EXPECT_EQ(got.at("head.modulation").dtype(), DType::kF16);
  EXPECT_EQ(got.at("head.head.weight").dtype(), DType::kBF16);
  expect_same(got);
}

TEST_F(WanCheckpointTest, MixedNamingsNameOneTensorOfEach) {
  const fs::path p = write("mix.safetensors", WanNaming::kNative, [](auto& t) {
    for (auto& [name, v] : t) {
      if (name == "blocks.1.ffn.2.bias") name = "blocks.1.ffn.net.2.bias";
    }
  });
  for (const auto& call : std::vector<std::function<void()>>{[&] { load_wan_weights(p, config_); },
                                                             [&] { infer_wan_config(p, 64); }}) {
    test::expect_error(call, {p.string(), "mixes", "'blocks.1.ffn.net.2.bias' a diffusers", "native name"});
  }
}

TEST_F(WanCheckpointTest, MissingParameterIsNamed) {
  const fs::path p = write("missing.safetensors", WanNaming::kDiffusers,
                           [](auto& t) { erase(t, "blocks.1.attn2.norm_k.weight"); });
  test::expect_error([&] { load_wan_weights(p, config_); },
                     {p.string(), "diffusers names", "wan2.1-tiny", "missing 1 of the 69 parameters",
                      "'blocks.1.attn2.norm_k.weight'"});
  // A config with more blocks than the file: every parameter of the extra block is listed.
  WanConfig three = config_;
  three.layers = 3;
  const fs::path q = write("two_blocks.safetensors", WanNaming::kNative);
  test::expect_error([&] { load_wan_weights(q, three); },
                     {"missing 27 of the 96 parameters", "'blocks.2.modulation'", "and 19 more"});
}

TEST_F(WanCheckpointTest, WrongShapeNamesExpectedAndFound) {
  const fs::path p = write("shape.safetensors", WanNaming::kDiffusers, [](auto& t) {
    set(t, "blocks.0.ffn.net.0.proj.weight", Tensor::zeros({128, 256}, DType::kBF16));
  });
  test::expect_error([&] { load_wan_weights(p, config_); },
                     {p.string(), "tensor 'blocks.0.ffn.net.0.proj.weight' (native 'blocks.0.ffn.0.weight')",
                      "shape [128, 256], expected [256, 128]"});
  // Against another config, the first parameter of another shape is named.
  WanConfig other = config_;
  other.ffn_dim = 512;
  test::expect_error([&] { load_wan_weights(p, other); }, {"blocks.0.ffn", "expected [512"});
}

TEST_F(WanCheckpointTest, UnexpectedTensorNamesTheNearestExpectedOne) {
  const fs::path p = write("unknown.safetensors", WanNaming::kNative,
                           [](auto& t) { t.emplace_back("blocks.0.self_attn.q.weigth", Tensor::zeros({2}, DType::kF32)); });
  test::expect_error([&] { load_wan_weights(p, config_); },
                     {p.string(), "unexpected tensor 'blocks.0.self_attn.q.weigth' (not a Wan parameter name)",
                      "nearest expected name is 'blocks.0.self_attn.q.weight'"});
  // A file with more blocks than the config.
  WanConfig one = config_;
  one.layers = 1;
  const fs::path q = write("two.safetensors", WanNaming::kDiffusers);
  test::expect_error([&] { load_wan_weights(q, one); },
                     {"unexpected tensor 'blocks.1.", "block 1, but the config has 1 blocks"});
}

TEST_F(WanCheckpointTest, NonFloatDTypesAreRefused) {
  const fs::path p = write("int.safetensors", WanNaming::kNative, [](auto& t) {
    set(t, "head.head.bias", Tensor::zeros({64}, DType::kI32));
  });
  test::expect_error([&] { load_wan_weights(p, config_); },
                     {p.string(), "tensor 'head.head.bias' has dtype I32", "F32, F16 or BF16"});
  const fs::path q = write("fp8.safetensors", WanNaming::kNative, [](auto& t) {
    set(t, "blocks.0.ffn.0.weight", Tensor::zeros({256, 128}, DType::kE4M3));
  });
  test::expect_error([&] { load_wan_weights(q, config_); }, {"dtype F8_E4M3", "pre-quantized fp8"});
  // A dtype qjit tensors lack entirely (I64) is refused the same way, by the header alone.
  const std::string header = R"({"patch_embedding.bias":{"dtype":"I64","shape":[128],"data_offsets":[0,1024]}})";
  std::string bytes(8, '\0');
  const std::uint64_t n = header.size();
  std::memcpy(bytes.data(), &n, 8);
  bytes += header + std::string(1024, '\0');
  const fs::path r = dir_ / "i64.safetensors";
  std::ofstream(r, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  test::expect_error([&] { load_wan_weights(r, config_); }, {"'patch_embedding.bias' has dtype I64"});
}

TEST_F(WanCheckpointTest, MalformedFilesAreSafetensorsErrors) {
  const fs::path p = dir_ / "bad.safetensors";
  std::ofstream(p, std::ios::binary) << "not a safetensors file";
  try {
    load_wan_weights(p, config_);
    ADD_FAILURE() << "loaded";
  } catch (const Error& e) {
    EXPECT_EQ(e.subsystem(), "safetensors");
    EXPECT_NE(e.message().find(p.string()), std::string::npos) << e.message();
  }
  test::expect_error([&] { load_wan_weights(dir_ / "none.safetensors", config_); }, {"cannot open"});
}

TEST_F(WanCheckpointTest, InfersTheConfigFromShapes) {
  const fs::path native = dir_ / "native.safetensors";
  const fs::path diffusers = dir_ / "diffusers.safetensors";
  save_wan_weights(native, weights_, WanNaming::kNative);
  save_wan_weights(diffusers, weights_, WanNaming::kDiffusers);
  for (const fs::path& p : {native, diffusers}) {
    const WanConfig c = infer_wan_config(p, 64);
    EXPECT_EQ(c.name, "wan2.1-tiny");
    EXPECT_EQ(c.dim, 128);
    EXPECT_EQ(c.heads, 2);
    EXPECT_EQ(c.ffn_dim, 256);
    EXPECT_EQ(c.layers, 2);
    EXPECT_EQ(c.text_dim, 64);
    EXPECT_EQ(c.freq_dim, 256);
    EXPECT_EQ(c.in_dim, 16);
    EXPECT_EQ(c.out_dim, 16);
    EXPECT_EQ(c.text_len, 32);
    EXPECT_EQ(wan_parameters(c).size(), weights_.size());
  }
  // Not a preset: named after the file; heads from the default head_dim 128.
  const WanConfig custom = infer_wan_config(native);
  EXPECT_EQ(custom.name, "native");
  EXPECT_EQ(custom.heads, 1);
  test::expect_error([&] { infer_wan_config(native, 96); }, {"dim 128 is not a multiple of head_dim 96"});
  const fs::path partial = write("partial.safetensors", WanNaming::kNative, [](auto& t) { erase(t, "head.head.weight"); });
  test::expect_error([&] { infer_wan_config(partial); }, {partial.string(), "no tensor 'head.head.weight'"});
}

TEST_F(WanCheckpointTest, SaveRefusesNamesThatAreNoNativeParameter) {
  Weights w = {{"blocks.0.attn1.to_q.weight", Tensor::zeros({2}, DType::kF32)}};
  const fs::path p = dir_ / "x.safetensors";
  test::expect_error([&] { save_wan_weights(p, w, WanNaming::kDiffusers); },
                     {"'blocks.0.attn1.to_q.weight' is not a native Wan parameter name"});
  EXPECT_FALSE(fs::exists(p));
}

}  // namespace
}  // namespace qjit

namespace qjit {
namespace {

// A sharded checkpoint as Wan2.1-14B and diffusers ship one: shard files and an index whose
// weight_map names each tensor's shard.
class WanShardedCheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "qjit_wan_shards_XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    weights_ = wan_synthetic_weights(WanConfig::tiny(), 3, DType::kBF16);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // `shards` files in `naming`, tensors dealt round-robin; the index unless `with_index` is
  // false. Returns the index path (or the directory).
  fs::path write(WanNaming naming, int shards, bool with_index = true) {
    std::vector<std::vector<std::pair<std::string, Tensor>>> parts(static_cast<std::size_t>(shards));
    nlohmann::json map = nlohmann::json::object();
    int i = 0;
    for (const auto& [name, t] : weights_) {
      const std::string file_name = *wan_rename(name, WanNaming::kNative, naming);
      const int s = i++ % shards;
      parts[static_cast<std::size_t>(s)].emplace_back(file_name, t);
      map[file_name] = shard_name(s, shards);
    }
    for (int s = 0; s < shards; ++s) save_safetensors(dir_ / shard_name(s, shards), parts[static_cast<std::size_t>(s)]);
    if (!with_index) return dir_;
    index_json_ = {{"metadata", {{"total_size", 0}}}, {"weight_map", map}};
    write_index(index_json_);
    return dir_ / "diffusion_pytorch_model.safetensors.index.json";
  }
  void write_index(const nlohmann::json& j) {
    std::ofstream(dir_ / "diffusion_pytorch_model.safetensors.index.json") << j.dump();
  }
  static std::string shard_name(int s, int n) {
    return fmt::format("diffusion_pytorch_model-{:05d}-of-{:05d}.safetensors", s + 1, n);
  }
  void expect_same(const Weights& got) {
    ASSERT_EQ(got.size(), weights_.size());
    for (const auto& [name, t] : weights_) EXPECT_TRUE(test::same_bits(got.at(name), t)) << name;
  }

  fs::path dir_;
  Weights weights_;
  nlohmann::json index_json_;
};

TEST_F(WanShardedCheckpointTest, IndexAndDirectoryLoadInEitherNaming) {
  for (WanNaming naming : {WanNaming::kNative, WanNaming::kDiffusers}) {
    SCOPED_TRACE(std::string(wan_naming_name(naming)));
    for (const auto& e : fs::directory_iterator(dir_)) fs::remove(e.path());
    const fs::path index = write(naming, 3);
    expect_same(load_wan_weights(index, WanConfig::tiny()));
    expect_same(load_wan_weights(dir_, WanConfig::tiny()));
    const WanConfig inferred = infer_wan_config(index, 64);
    EXPECT_EQ(inferred.name, "wan2.1-tiny");
    EXPECT_EQ(wan_checkpoint_blocks(CheckpointFiles::open(dir_)), 2);
    // First blocks of a longer checkpoint.
    WanConfig one = WanConfig::tiny();
    one.layers = 1;
    EXPECT_EQ(load_wan_weights(index, one, /*first_blocks=*/true).size(), wan_parameters(one).size());
  }
  // Shards without an index: a directory of them is the union.
  for (const auto& e : fs::directory_iterator(dir_)) fs::remove(e.path());
  expect_same(load_wan_weights(write(WanNaming::kNative, 2, /*with_index=*/false), WanConfig::tiny()));
}

TEST_F(WanShardedCheckpointTest, BadShardsAndIndexesAreNamed) {
  using test::expect_error_mentions;
  const WanConfig tiny = WanConfig::tiny();
  expect_error_mentions([&] { load_wan_weights(dir_, tiny); }, "holds no .safetensors file");
  const fs::path index = write(WanNaming::kNative, 3);
  fs::remove(dir_ / shard_name(1, 3));
  expect_error_mentions([&] { load_wan_weights(index, tiny); }, "does not exist");
  write(WanNaming::kNative, 3);
  nlohmann::json moved = index_json_;
  moved["weight_map"]["head.head.weight"] = shard_name(0, 3) == moved["weight_map"]["head.head.weight"] ? shard_name(1, 3)
                                                                                                        : shard_name(0, 3);
  write_index(moved);
  expect_error_mentions([&] { load_wan_weights(index, tiny); }, "places 'head.head.weight'");
  nlohmann::json unlisted = index_json_;
  unlisted["weight_map"].erase("head.head.bias");
  write_index(unlisted);
  expect_error_mentions([&] { load_wan_weights(index, tiny); }, "holds 'head.head.bias', which the index does not list");
  std::ofstream(index) << "{not json";
  expect_error_mentions([&] { load_wan_weights(index, tiny); }, "not JSON");
  write_index({{"metadata", {}}});
  expect_error_mentions([&] { load_wan_weights(index, tiny); }, "no \"weight_map\"");
  std::ofstream(dir_ / "other.safetensors.index.json") << "{}";
  expect_error_mentions([&] { load_wan_weights(dir_, tiny); }, "2 indexes");
  // Two shards holding one tensor (no index to say which).
  for (const auto& e : fs::directory_iterator(dir_)) fs::remove(e.path());
  write(WanNaming::kNative, 2, false);
  save_safetensors(dir_ / "extra.safetensors", {{"head.head.bias", weights_.at("head.head.bias")}});
  expect_error_mentions([&] { load_wan_weights(dir_, tiny); }, "tensor 'head.head.bias' is in two shards");
}

}  // namespace
}  // namespace qjit
