// Quantized checkpoints: save_quantized_checkpoint writes every linear layer of the synthetic
// model under the LightX2V / vLLM names (checkpoint.hpp), and load_quantized_checkpoint puts
// back QuantLinear layers whose forward on the cpu is bit-identical to the saved model's, for
// every family; malformed files are refused, naming the file, layer and tensor, with the model
// left as it was.

#include "quant_ops/checkpoint.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/error.hpp"
#include "quant_ops/quant_linear.hpp"
#include "quant_ops/rule.hpp"
#include "runtime/safetensors.hpp"
#include "synthetic_model.hpp"
#include "tests/support/checks.hpp"

namespace qjit {
namespace {

namespace fs = std::filesystem;
using test::expect_error;
using test::same_bits;
using test::TinyModel;
using Shape = std::vector<std::int64_t>;

// A fresh directory per test, removed after.
class Checkpoint : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / fmt::format("qjit_checkpoint_{}_{}", info->name(), ::getpid());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path file(const std::string& name) const { return dir_ / name; }

  fs::path dir_;
};

Tensor scale_of(float v) { return Tensor::from_vector<float>({1}, std::vector<float>{v}); }

// The synthetic model quantized by `rule` (every layer, or as its module_path says), with a
// static scale per layer when the rule is static.
std::shared_ptr<TinyModel> quantized_model(const Rule& rule) {
  auto model = std::make_shared<TinyModel>();
  ApplyOptions o;
  if (rule.resolve().act_static_scale) {
    float s = 2.0f / 127.0f;
    for (const std::string& p : test::tiny_layers()) o.act_scales.emplace(p, scale_of(s += 0.5f / 127.0f));
  }
  rule.apply(*model, o);
  return model;
}

Tensor input() { return test::seeded({2, 3, TinyModel::kDim}, DType::kBF16, 77); }

// Every tensor and the metadata of a file, to write altered copies of it.
struct Contents {
  std::vector<std::pair<std::string, Tensor>> tensors;
  std::map<std::string, std::string> metadata;

  static Contents of(const fs::path& p) {
    const SafetensorsFile f = SafetensorsFile::open(p);
    Contents c;
    for (const std::string& n : f.names()) c.tensors.emplace_back(n, f.get(n));
    c.metadata = f.metadata();
    return c;
  }
  void erase(const std::string& name) {
    std::erase_if(tensors, [&](const auto& t) { return t.first == name; });
  }
  void set(const std::string& name, Tensor t) {
    for (auto& [n, v] : tensors) {
      if (n == name) v = std::move(t);
    }
  }
  void save(const fs::path& p) const { save_safetensors(p, tensors, metadata); }
};

// Every family: the loaded model (a fresh, unquantized one) runs bit for bit as the saved one,
// and its layers hold the same codes, scales, static scale, bias and rule.
TEST_F(Checkpoint, RoundTripIsBitIdenticalForEveryFamily) {
  for (const std::string preset : {"int8", "fp8", "fp8-block128", "int8-static", "int8-weight-only"}) {
    SCOPED_TRACE(preset);
    const auto saved = quantized_model(Rule::preset(preset));
    const fs::path p = file(preset + ".safetensors");
    save_quantized_checkpoint(p, *saved);

    TinyModel loaded;
    const std::vector<std::string> replaced = load_quantized_checkpoint(p, loaded);
    EXPECT_EQ(std::set<std::string>(replaced.begin(), replaced.end()),
              std::set<std::string>(test::tiny_layers().begin(), test::tiny_layers().end()));
    for (const std::string& path : test::tiny_layers()) {
      SCOPED_TRACE(path);
      const auto& a = dynamic_cast<const QuantLinear&>(saved->at(path));
      const auto* b = dynamic_cast<const QuantLinear*>(&loaded.at(path));
      ASSERT_NE(b, nullptr);
      EXPECT_TRUE(same_bits(a.weight().q, b->weight().q));
      EXPECT_TRUE(same_bits(a.weight().scales, b->weight().scales));
      EXPECT_EQ(a.weight().scales.shape(), b->weight().scales.shape());
      EXPECT_EQ(a.bias().has_value(), b->bias().has_value());
      if (a.bias()) EXPECT_TRUE(same_bits(*a.bias(), *b->bias()));
      EXPECT_EQ(a.act_scale().has_value(), b->act_scale().has_value());
      if (a.act_scale()) EXPECT_TRUE(same_bits(*a.act_scale(), *b->act_scale()));
      EXPECT_EQ(a.gelu_tanh(), b->gelu_tanh());
      EXPECT_EQ(a.high_precision(), b->high_precision());
      const ResolvedRule &ra = a.rule(), &rb = b->rule();
      EXPECT_EQ(ra.weight, rb.weight);
      EXPECT_EQ(ra.act, rb.act);
      EXPECT_EQ(ra.act_static_scale, rb.act_static_scale);
      EXPECT_EQ(ra.weight_granularity, rb.weight_granularity);
      if (ra.act != QType::kNone) EXPECT_EQ(ra.act_granularity, rb.act_granularity);
      EXPECT_EQ(ra.out_dtype, rb.out_dtype);
    }
    const Tensor x = input();
    const Tensor y = loaded.forward(x);
    EXPECT_TRUE(same_bits(y, saved->forward(x)));
  }
}

// The names and layouts checkpoint.hpp documents, on a model whose head a rule kept in high
// precision: it is written as a plain Linear and left out of the metadata (and loading keeps
// the model's own head).
TEST_F(Checkpoint, TensorNamesDtypesShapesAndMetadata) {
  RuleSet rules{.rules = {Rule{.module_path = "head\\..*", .weight = "none"}, Rule::preset("int8-static")}};
  auto model = std::make_shared<TinyModel>();
  ApplyOptions o;
  for (const std::string& p : test::tiny_layers()) {
    if (p != "head.head") o.act_scales.emplace(p, scale_of(3.0f / 127.0f));
  }
  rules.apply(*model, o);
  const fs::path p = file("names.safetensors");
  save_quantized_checkpoint(p, *model);

  const SafetensorsFile f = SafetensorsFile::open(p);
  std::set<std::string> want;
  const Shape none;
  for (const std::string& layer : test::tiny_layers()) {
    SCOPED_TRACE(layer);
    const bool bias = layer.find(".ffn.") != std::string::npos || layer == "head.head";
    if (bias) want.insert(layer + ".bias");
    want.insert(layer + ".weight");
    const SafetensorsTensorInfo& w = f.info(layer + ".weight");
    if (layer == "head.head") {
      EXPECT_EQ(w.dtype, "BF16");
      EXPECT_EQ(w.shape, (Shape{TinyModel::kOut, TinyModel::kDim}));
      continue;
    }
    want.insert(layer + ".weight_scale");
    want.insert(layer + ".input_scale");
    EXPECT_EQ(w.dtype, "I8");
    const std::int64_t n = w.shape.at(0);
    EXPECT_EQ(f.info(layer + ".weight_scale").dtype, "F32");
    EXPECT_EQ(f.info(layer + ".weight_scale").shape, (Shape{n, 1}));  // per_channel as vLLM / LightX2V
    EXPECT_EQ(f.info(layer + ".input_scale").dtype, "F32");
    EXPECT_EQ(f.info(layer + ".input_scale").shape, (Shape{1}));
    if (bias) EXPECT_EQ(f.info(layer + ".bias").dtype, "BF16");
  }
  EXPECT_EQ(std::set<std::string>(f.names().begin(), f.names().end()), want);

  EXPECT_EQ(f.metadata().at(std::string(kCheckpointVersionKey)), "1");
  const auto meta = nlohmann::json::parse(f.metadata().at(std::string(kCheckpointQuantizationKey)));
  EXPECT_EQ(meta.at("format_version"), 1);
  EXPECT_EQ(meta.at("layers").size(), test::tiny_layers().size() - 1);
  EXPECT_FALSE(meta.at("layers").contains("head.head"));
  const Rule r = Rule::parse_one(meta.at("layers").at("blocks.1.ffn.0").at("rule").get<std::string>());
  EXPECT_EQ(r.resolve().act_static_scale, true);
  EXPECT_EQ(r.resolve().act_granularity, Granularity::kPerTensor);

  TinyModel loaded;
  const Module* head = &loaded.at("head.head");
  load_quantized_checkpoint(p, loaded);
  EXPECT_EQ(&loaded.at("head.head"), head);
  EXPECT_TRUE(same_bits(loaded.forward(input()), model->forward(input())));

  // fp8 codes and block128 scales: [ceil(N/128), ceil(K/128)].
  const fs::path p8 = file("block.safetensors");
  save_quantized_checkpoint(p8, *quantized_model(Rule::preset("fp8-block128")));
  const SafetensorsFile f8 = SafetensorsFile::open(p8);
  EXPECT_EQ(f8.info("blocks.0.ffn.0.weight").dtype, "F8_E4M3");
  EXPECT_EQ(f8.info("blocks.0.ffn.0.weight_scale").shape, (Shape{1, 1}));
  EXPECT_FALSE(f8.has("blocks.0.ffn.0.input_scale"));
}

// Scales in the logical per_channel layout [N] (as another writer may store them) load too,
// and a checkpoint loads onto a model that is already quantized (its layers are replaced).
TEST_F(Checkpoint, LoadsLogicalScalesAndOntoAQuantizedModel) {
  const auto saved = quantized_model(Rule::preset("fp8"));
  const fs::path p = file("fp8.safetensors");
  save_quantized_checkpoint(p, *saved);
  Contents c = Contents::of(p);
  for (auto& [name, t] : c.tensors) {
    if (name.ends_with(".weight_scale")) t = t.reshape({t.size(0)});
  }
  const fs::path flat = file("flat.safetensors");
  c.save(flat);

  const auto loaded = quantized_model(Rule::preset("int8"));
  load_quantized_checkpoint(flat, *loaded);
  EXPECT_EQ(dynamic_cast<const QuantLinear&>(loaded->at("blocks.0.ffn.0")).rule().weight, QType::kE4M3);
  EXPECT_TRUE(same_bits(loaded->forward(input()), saved->forward(input())));
}

// Each malformed file throws naming the file and what is wrong, and leaves the model as it was.
TEST_F(Checkpoint, MalformedFilesAreRefusedAndTheModelIsUnchanged) {
  const fs::path good = file("good.safetensors");
  save_quantized_checkpoint(good, *quantized_model(Rule::preset("int8-static")));

  const auto refused = [&](const fs::path& p, const std::vector<std::string>& parts) {
    SCOPED_TRACE(p.filename().string());
    TinyModel model;
    const auto before = test::snapshot(model);
    std::vector<std::string> want = parts;
    want.push_back(p.filename().string());
    expect_error([&] { load_quantized_checkpoint(p, model); }, want);
    EXPECT_EQ(test::snapshot(model), before);
  };
  const auto altered = [&](const std::string& name, const std::function<void(Contents&)>& change) {
    Contents c = Contents::of(good);
    change(c);
    const fs::path p = file(name);
    c.save(p);
    return p;
  };

  {  // truncated: the header promises bytes the file lacks
    const fs::path p = file("truncated.safetensors");
    fs::copy_file(good, p);
    fs::resize_file(p, fs::file_size(p) - 100);
    refused(p, {});
  }
  refused(altered("no_scale.safetensors", [](Contents& c) { c.erase("blocks.1.ffn.0.weight_scale"); }),
          {"blocks.1.ffn.0", "blocks.1.ffn.0.weight_scale", "missing"});
  refused(altered("no_input_scale.safetensors", [](Contents& c) { c.erase("head.head.input_scale"); }),
          {"head.head", "head.head.input_scale", "missing"});
  refused(altered("scale_shape.safetensors",
                  [](Contents& c) { c.set("blocks.0.ffn.2.weight_scale", Tensor::zeros({5, 1}, DType::kF32)); }),
          {"blocks.0.ffn.2", "blocks.0.ffn.2.weight_scale", "[5, 1]"});
  refused(altered("weight_shape.safetensors",
                  [](Contents& c) { c.set("blocks.0.ffn.2.weight", Tensor::zeros({32, 32}, DType::kI8)); }),
          {"blocks.0.ffn.2", "blocks.0.ffn.2.weight", "[32, 32]", "[32, 64]"});
  refused(altered("weight_dtype.safetensors",
                  [](Contents& c) { c.set("blocks.0.ffn.2.weight", Tensor::zeros({32, 64}, DType::kBF16)); }),
          {"blocks.0.ffn.2", "blocks.0.ffn.2.weight'", "int8"});
  refused(altered("bias_shape.safetensors",
                  [](Contents& c) { c.set("head.head.bias", Tensor::zeros({8}, DType::kBF16)); }),
          {"head.head.bias", "[8]"});
  refused(altered("bad_json.safetensors",
                  [](Contents& c) { c.metadata[std::string(kCheckpointQuantizationKey)] = "{\"layers\": {"; }),
          {"not valid JSON"});
  refused(altered("no_layers.safetensors",
                  [](Contents& c) { c.metadata[std::string(kCheckpointQuantizationKey)] = "[1, 2]"; }),
          {"\"layers\""});
  refused(altered("version.safetensors", [](Contents& c) { c.metadata[std::string(kCheckpointVersionKey)] = "7"; }),
          {"format version '7'"});
  refused(altered("no_metadata.safetensors", [](Contents& c) { c.metadata.clear(); }),
          {"not a qjit quantized checkpoint"});
  const auto with_layers = [&](const std::string& name, const std::string& layers) {
    return altered(name, [&](Contents& c) {
      c.metadata[std::string(kCheckpointQuantizationKey)] =
          fmt::format("{{\"format_version\": 1, \"layers\": {}}}", layers);
    });
  };
  refused(with_layers("unknown_layer.safetensors",
                      R"({"blocks.0.ffn.0": {"rule": "weight=int8,act_static_scale=true"},)"
                      R"( "blocks.7.ffn.0": {"rule": "weight=int8,act_static_scale=true"}})"),
          {"blocks.7.ffn.0", "not a module"});
  refused(with_layers("not_linear.safetensors", R"({"blocks.0.ffn": {"rule": "weight=int8"}})"),
          {"blocks.0.ffn", "not a linear layer"});
  refused(with_layers("bad_rule.safetensors", R"({"blocks.0.ffn.0": {"rule": "weight=int9"}})"),
          {"blocks.0.ffn.0", "int9"});
  refused(with_layers("preset_rule.safetensors", R"({"blocks.0.ffn.0": {"rule": "int8"}})"),
          {"blocks.0.ffn.0", "comma list of fields"});
  refused(with_layers("no_rule.safetensors", R"({"blocks.0.ffn.0": {}})"), {"blocks.0.ffn.0", "\"rule\""});
  // The file's rule disagrees with its codes (fp8 codes expected, int8 stored): the weights'
  // dtype is checked against the rule.
  refused(with_layers("rule_mismatch.safetensors",
                      R"({"blocks.0.ffn.0": {"rule": "weight=fp8_e4m3,act=fp8_e4m3,act_static_scale=true"}})"),
          {"blocks.0.ffn.0"});
  // A rule without a static scale while the file holds one.
  refused(with_layers("extra_input_scale.safetensors", R"({"blocks.0.ffn.0": {"rule": "weight=int8,act=int8"}})"),
          {"blocks.0.ffn.0.input_scale", "is present"});
  refused(file("absent.safetensors"), {});
}

}  // namespace
}  // namespace qjit
