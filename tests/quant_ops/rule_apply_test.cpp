// Rule::apply, RuleSet::apply and DaxConfig::apply on a small synthetic module tree
// (synthetic_model.hpp): full-match regexes, first match wins, weight none skips, unused
// rules, DAX prefix inheritance and skips, every error before any layer is replaced (the
// model unchanged afterwards), and the replaced layers: QuantLinear whose forward is
// linear_forward on the same quantized weights, and on sim the cpu's bits for int8.

#include "quant_ops/rule.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "device_test_util.hpp"
#include "quant_ops/dax_config.hpp"
#include "quant_ops/quant_linear.hpp"
#include "sim/sim_driver.hpp"
#include "synthetic_model.hpp"
#include "tests/support/checks.hpp"

namespace qjit {
namespace {

using Outcome = LayerApplied::Outcome;
using test::TinyModel;

using test::expect_error;
using test::same_bits;

// apply(model) must throw naming `parts`, and leave every module where it was.
void expect_rejected(Module& model, const std::function<void()>& apply, const std::vector<std::string>& parts) {
  const auto before = test::snapshot(model);
  expect_error(apply, parts);
  EXPECT_EQ(test::snapshot(model), before);
  for (const auto& path : test::tiny_layers()) {
    if (model.contains(path)) {
      EXPECT_EQ(model.at(path).type_name(), "Linear") << path;
    }
  }
}

std::string type_at(Module& m, const std::string& path) { return m.at(path).type_name(); }

Tensor scale_of(float v) { return Tensor::from_vector<float>({1}, std::vector<float>{v}); }

// A replaced layer is a QuantLinear under `rule` whose forward is linear_forward on the
// replaced Linear's weights quantized under that rule, bit for bit.
void expect_quantized_as(Module& model, const Linear& original, const std::string& path, const ResolvedRule& rule) {
  auto* ql = dynamic_cast<QuantLinear*>(&model.at(path));
  ASSERT_NE(ql, nullptr) << path << " is a " << type_at(model, path);
  EXPECT_EQ(ql->rule(), rule) << path;
  LinearOptions o;
  o.bias = original.bias();
  o.activation = original.gelu_tanh() ? reference::Activation::kGeluTanh : reference::Activation::kNone;
  o.act_scale = ql->act_scale();
  const Tensor x = test::seeded({3, original.in_features()}, DType::kBF16, 77);
  EXPECT_TRUE(same_bits(ql->forward(x), linear_forward(x, quantize_weight(original.weight(), rule), rule, o))) << path;
}

// The Linear layers of a fresh model, by path, kept alive to compare with after apply.
std::map<std::string, std::shared_ptr<Module>> originals(Module& model) {
  std::map<std::string, std::shared_ptr<Module>> out;
  for (const NamedModule& nm : model.named_modules()) {
    const std::size_t dot = nm.path.rfind('.');
    Module& parent = dot == std::string::npos ? model : model.at(nm.path.substr(0, dot));
    for (const auto& c : parent.children()) {
      if (c.module.get() == nm.module && dynamic_cast<Linear*>(nm.module)) out[nm.path] = c.module;
    }
  }
  return out;
}

const Linear& linear_of(const std::map<std::string, std::shared_ptr<Module>>& m, const std::string& path) {
  return dynamic_cast<const Linear&>(*m.at(path));
}

TEST(RuleApply, OneRuleAsWrittenQuantizesEveryLinear) {
  TinyModel model;
  const auto before = originals(model);
  const Tensor x = test::seeded({4, TinyModel::kDim}, DType::kBF16, 1);
  const ApplyReport report = qjit::Rule{.weight = "int8", .act = "int8"}.apply(model);
  ASSERT_EQ(report.layers.size(), test::tiny_layers().size());
  for (std::size_t i = 0; i < report.layers.size(); ++i) {
    const LayerApplied& l = report.layers[i];
    EXPECT_EQ(l.path, test::tiny_layers()[i]);
    EXPECT_EQ(l.outcome, Outcome::kQuantized);
    EXPECT_EQ(l.rule_index, 0u);
    EXPECT_EQ(l.why, "rule 0 'weight=int8,act=int8' matched");
    const Linear& lin = linear_of(before, l.path);
    EXPECT_EQ(l.bytes_before, lin.out_features() * lin.in_features() * 2);
    EXPECT_EQ(l.bytes_after, lin.out_features() * lin.in_features() + 4 * lin.out_features());
    expect_quantized_as(model, lin, l.path, Rule{.weight = "int8", .act = "int8"}.resolve());
  }
  EXPECT_TRUE(report.unused_rules.empty());
  EXPECT_EQ(report.count(Outcome::kQuantized), 7u);
  // Weights: 2 (32*32 + 64*32 + 32*64) + 16*32 = 10752 bf16 values, 2 bytes each; after, one
  // byte each plus one f32 scale per output channel: 10752 + 4 * (2 (32 + 64 + 32) + 16).
  EXPECT_EQ(report.bytes_before(), 2 * 10752);
  EXPECT_EQ(report.bytes_after(), 10752 + 4 * 272);
  // The model still runs, through the slots, on the new layers.
  EXPECT_EQ(model.forward(x).shape(), (std::vector<std::int64_t>{4, TinyModel::kOut}));
  // A second apply finds no Linear left.
  EXPECT_TRUE(Rule{.weight = "int8"}.apply(model).layers.empty());
}

TEST(RuleApply, FullMatchFirstMatchWinsSkipsAndUnusedRules) {
  TinyModel model;
  const auto before = originals(model);
  RuleSet rules;
  rules.rules = {
      Rule{.module_path = R"(blocks\.\d+\.ffn\..*)", .weight = "int8", .weight_granularity = "per_tensor", .name = "ffn"},
      Rule{.module_path = R"(blocks\.1\..*)", .weight = "none", .name = "keep-block1"},
      Rule{.module_path = R"(.*\.q)", .weight = "int8", .act = "none", .name = "q-weight-only"},
      Rule{.module_path = "head", .weight = "int8", .name = "head-partial"},  // a full match only: not head.head
      Rule{.module_path = R"(blocks\.0\.ffn\.0)", .weight = "int8", .name = "shadowed"},
  };
  const ApplyReport report = rules.apply(model);
  const std::map<std::string, std::pair<Outcome, std::optional<std::size_t>>> want = {
      {"blocks.0.self_attn.q", {Outcome::kQuantized, 2}}, {"blocks.0.ffn.0", {Outcome::kQuantized, 0}},
      {"blocks.0.ffn.2", {Outcome::kQuantized, 0}},       {"blocks.1.self_attn.q", {Outcome::kSkipped, 1}},
      {"blocks.1.ffn.0", {Outcome::kQuantized, 0}},       {"blocks.1.ffn.2", {Outcome::kQuantized, 0}},
      {"head.head", {Outcome::kKept, std::nullopt}},
  };
  ASSERT_EQ(report.layers.size(), want.size());
  for (const auto& [path, w] : want) {
    SCOPED_TRACE(path);
    const LayerApplied* l = report.find(path);
    ASSERT_NE(l, nullptr);
    EXPECT_EQ(l->outcome, w.first);
    EXPECT_EQ(l->rule_index, w.second);
    if (w.first == Outcome::kQuantized) {
      expect_quantized_as(model, linear_of(before, path), path, rules.rules[*w.second].resolve());
      EXPECT_LT(l->bytes_after, l->bytes_before);
    } else {
      EXPECT_EQ(type_at(model, path), "Linear");
      EXPECT_EQ(&model.at(path), before.at(path).get());
      EXPECT_EQ(l->bytes_after, l->bytes_before);
    }
  }
  EXPECT_EQ(report.find("blocks.1.self_attn.q")->why, "skipped (weight none): rule 1 'keep-block1' matched");
  EXPECT_EQ(report.find("blocks.1.self_attn.q")->rule_label, "keep-block1");
  EXPECT_EQ(report.find("head.head")->why, "no rule matched (kept)");
  EXPECT_EQ(report.find("blocks.0.ffn.0")->why, "rule 0 'ffn' matched");
  ASSERT_EQ(report.unused_rules.size(), 2u);
  EXPECT_EQ(report.unused_rules[0].index, 3u);
  EXPECT_EQ(report.unused_rules[0].label, "head-partial");
  EXPECT_EQ(report.unused_rules[1].index, 4u);
  EXPECT_EQ(report.count(Outcome::kQuantized), 5u);
  EXPECT_EQ(report.count(Outcome::kSkipped), 1u);
  EXPECT_EQ(report.count(Outcome::kKept), 1u);
  const std::string table = report.str();
  EXPECT_NE(table.find("head.head"), std::string::npos) << table;
  EXPECT_NE(table.find("unused: rule 3 'head-partial'"), std::string::npos) << table;
  EXPECT_NE(table.find("5 quantized, 1 skipped, 1 kept"), std::string::npos) << table;
}

// A dry run decides and checks as apply does and changes nothing: the same report, the same
// errors.
TEST(RuleApply, DryRunReportsWhatApplyDoesAndReplacesNothing) {
  RuleSet rules;
  rules.rules = {Rule{.module_path = R"(head\..*)", .weight = "none"},
                 Rule{.module_path = R"(blocks\.0\..*)", .weight = "fp8", .weight_granularity = "block128"},
                 Rule::preset("int8-static"), Rule{.weight = "int8"}};
  rules.rules[2].module_path = R"(blocks\.1\.ffn\.2)";
  ApplyOptions o;
  o.act_scales.emplace("blocks.1.ffn.2", scale_of(0.05f));
  o.dry_run = true;
  TinyModel model;
  const auto before = test::snapshot(model);
  const ApplyReport dry = rules.apply(model, o);
  EXPECT_EQ(test::snapshot(model), before);
  o.dry_run = false;
  const ApplyReport real = rules.apply(model, o);
  ASSERT_EQ(dry.layers.size(), real.layers.size());
  for (std::size_t i = 0; i < dry.layers.size(); ++i) {
    const LayerApplied &d = dry.layers[i], &r = real.layers[i];
    EXPECT_EQ(d.path, r.path);
    EXPECT_EQ(d.outcome, r.outcome) << d.path;
    EXPECT_EQ(d.rule_index, r.rule_index) << d.path;
    EXPECT_EQ(d.why, r.why) << d.path;
    EXPECT_EQ(d.bytes_before, r.bytes_before) << d.path;
    EXPECT_EQ(d.bytes_after, r.bytes_after) << d.path;
  }
  EXPECT_EQ(dry.str(), real.str());
  EXPECT_EQ(real.count(Outcome::kQuantized), 6u);
  TinyModel fresh;
  expect_rejected(fresh, [&] { rules.apply(fresh, {.dry_run = true}); }, {"blocks.1.ffn.2", "act_scales"});
}

// The rules of every text form go through the same apply (a preset here).
TEST(RuleApply, ParsedRulesApply) {
  TinyModel model;
  const ApplyReport report = Rule::parse("int8-weight-only").apply(model);
  EXPECT_EQ(report.count(Outcome::kQuantized), 7u);
  EXPECT_EQ(report.layers[0].rule_label, "int8-weight-only");
  EXPECT_TRUE(dynamic_cast<QuantLinear&>(model.at("head.head")).rule().weight_only());
}

TEST(RuleApply, StaticScalesComeFromTheOptions) {
  TinyModel model;
  const auto before = originals(model);
  RuleSet rules;
  rules.rules = {Rule::preset("int8-static"), Rule{.weight = "int8"}};
  rules.rules[0].module_path = R"(blocks\.0\.ffn\..*)";
  ApplyOptions o;
  o.act_scales.emplace("blocks.0.ffn.0", scale_of(0.02f));
  // A static rule's layer without a scale.
  expect_rejected(model, [&] { rules.apply(model, o); },
                  {"blocks.0.ffn.2", "rule 0 'int8-static'", "act_static_scale", "act_scales[\"blocks.0.ffn.2\"]"});
  // A scale for a layer whose rule is dynamic, or for no layer at all.
  o.act_scales.emplace("blocks.0.ffn.2", scale_of(0.03f));
  ApplyOptions stray = o;
  stray.act_scales.emplace("head.head", scale_of(0.1f));
  expect_rejected(model, [&] { rules.apply(model, stray); }, {"head.head", "rule 1", "dynamically"});
  stray = o;
  stray.act_scales.emplace("blocks.7.ffn.0", scale_of(0.1f));
  expect_rejected(model, [&] { rules.apply(model, stray); }, {"blocks.7.ffn.0", "not a Linear layer"});
  stray = o;
  stray.act_scales["blocks.0.ffn.2"] = scale_of(0.0f);
  expect_rejected(model, [&] { rules.apply(model, stray); }, {"blocks.0.ffn.2", "int8-static", "> 0"});

  const ApplyReport report = rules.apply(model, o);
  EXPECT_EQ(report.count(Outcome::kQuantized), 7u);
  auto& ffn0 = dynamic_cast<QuantLinear&>(model.at("blocks.0.ffn.0"));
  ASSERT_TRUE(ffn0.act_scale().has_value());
  EXPECT_EQ(ffn0.act_scale()->item_f32(0), 0.02f);
  expect_quantized_as(model, linear_of(before, "blocks.0.ffn.2"), "blocks.0.ffn.2", rules.rules[0].resolve());
  EXPECT_FALSE(dynamic_cast<QuantLinear&>(model.at("blocks.1.ffn.0")).act_scale().has_value());
}

TEST(RuleApply, ErrorsNameTheRuleAndTheLayerAndChangeNothing) {
  // A bad regex is caught when the rule is parsed or resolved, naming the rule.
  expect_error([] { Rule::parse(R"(module_path="blocks\.(",weight=int8)"); }, {"module_path", "bad regex"});
  TinyModel model;
  RuleSet bad;
  bad.rules = {Rule{.weight = "int8"}, Rule{.module_path = "blocks.(", .weight = "int8", .name = "broken"}};
  expect_rejected(model, [&] { bad.apply(model); }, {"rule 1 'broken'", "bad regex"});
  expect_rejected(model, [&] { Rule{.weight = "int4"}.apply(model); }, {"rule 0", "weight", "int4"});
  // A layer a kernel cannot take (N = 24) makes the whole apply fail, not only that layer.
  struct Odd final : Module {
    Odd() {
      add<LinearLayer>("ok", test::make_linear({}, 32, 32, 1, false));
      add<LinearLayer>("odd", test::make_linear({}, 24, 32, 2, false));
    }
    std::string type_name() const override { return "Odd"; }
  } odd;
  const auto odd_before = test::snapshot(odd);
  expect_error([&] { Rule{.weight = "int8", .name = "all"}.apply(odd); }, {"layer 'odd'", "rule 0 'all'", "N = 24"});
  EXPECT_EQ(test::snapshot(odd), odd_before);
  EXPECT_EQ(odd.at("ok").type_name(), "Linear");
  // A parent that calls its child as a Linear (not the LinearLayer interface) cannot take a
  // QuantLinear: found before any layer is replaced.
  struct Rigid final : Module {
    Rigid() {
      add<LinearLayer>("a", test::make_linear({}, 32, 32, 3, false));
      add<Linear>("b", test::make_linear({}, 32, 32, 4, false));
    }
    std::string type_name() const override { return "Rigid"; }
  } rigid;
  const auto rigid_before = test::snapshot(rigid);
  expect_error([&] { Rule{.weight = "int8"}.apply(rigid); }, {"layer 'b'", "calls it as a Linear", "nothing was replaced"});
  EXPECT_EQ(test::snapshot(rigid), rigid_before);
  EXPECT_EQ(rigid.at("a").type_name(), "Linear");
}

// fp8 W8A8 needs sm_89: on a model whose weights live on an sm_80 sim device the fp8 rule's
// first layer is named, and the int8 layers before it are not replaced either.
TEST(RuleApply, Fp8OnAnSm80ModelIsRejectedBeforeAnyWork) {
  std::string why;
  if (!test::device_available(Device::sim(), why)) GTEST_SKIP() << "sim unavailable: " << why;
  const auto sm80 = std::make_shared<sim::SimDriver>(sim::SimDeviceConfig::for_arch("sm_80"));
  TinyModel model(test::Placement{sm80});
  RuleSet rules;
  rules.rules = {Rule{.module_path = R"(.*\.q)", .weight = "int8"}, Rule{.weight = "fp8", .name = "fp8-rest"}};
  expect_rejected(model, [&] { rules.apply(model); }, {"layer 'blocks.0.ffn.0'", "rule 1 'fp8-rest'", "sm_89", "sm_80"});
  // Weight-only fp8 dequantizes in software and runs on sm_80.
  rules.rules[1] = Rule{.weight = "fp8", .act = "none"};
  EXPECT_EQ(rules.apply(model).count(Outcome::kQuantized), 7u);
  EXPECT_EQ(dynamic_cast<QuantLinear&>(model.at("head.head")).weight().q.device(), Device::sim());
}

// The same weights on cpu and on an sm_89 sim device, quantized by apply: an int8 layer
// without GELU (q, ffn.2 with its bias) gives the cpu's bits.
TEST(RuleApplySim, Int8LayersGiveTheCpusBits) {
  std::string why;
  if (!test::device_available(Device::sim(), why)) GTEST_SKIP() << "sim unavailable: " << why;
  const auto sm89 = std::make_shared<sim::SimDriver>(sim::SimDeviceConfig::for_arch("sm_89"));
  TinyModel on_cpu, on_sim(test::Placement{sm89});
  const Rule rule{.weight = "int8", .act = "int8"};
  rule.apply(on_cpu);
  rule.apply(on_sim);
  for (const std::string path : {"blocks.0.self_attn.q", "blocks.1.ffn.2"}) {
    auto& c = dynamic_cast<QuantLinear&>(on_cpu.at(path));
    auto& s = dynamic_cast<QuantLinear&>(on_sim.at(path));
    const Tensor x = test::seeded({5, c.in_features()}, DType::kBF16, 31);
    const Tensor y = s.forward(x.to(Device::sim(), sm89));
    EXPECT_EQ(y.device(), Device::sim());
    EXPECT_TRUE(same_bits(y, c.forward(x))) << path;
  }
}

TEST(DaxConfig, PrefixEntriesAreInheritedAndNoneSkips) {
  TinyModel model;
  const auto before = originals(model);
  const Rule int8{.weight = "int8", .act = "int8"};
  const Rule per_tensor{.weight = "int8", .weight_granularity = "per_tensor", .name = "int8-pt"};
  const Rule weight_only{.weight = "int8", .act = "none", .name = "wo"};
  const DaxConfig config{.entries = {{"", int8},
                                     {"blocks.1", std::nullopt},
                                     {"blocks.1.ffn", weight_only},
                                     {"blocks.0.ffn.2", per_tensor},
                                     {"head", std::nullopt},
                                     {"norm", int8}}};
  const ApplyReport report = config.apply(model);
  struct Want {
    Outcome outcome;
    std::string key, why;
    const Rule* rule;
  };
  const std::map<std::string, Want> want = {
      {"blocks.0.self_attn.q",
       {Outcome::kQuantized, "", "inherited from the whole model's entry '': rule 'weight=int8,act=int8'", &int8}},
      {"blocks.0.ffn.0",
       {Outcome::kQuantized, "", "inherited from the whole model's entry '': rule 'weight=int8,act=int8'", &int8}},
      {"blocks.0.ffn.2", {Outcome::kQuantized, "blocks.0.ffn.2", "own entry: rule 'int8-pt'", &per_tensor}},
      {"blocks.1.self_attn.q", {Outcome::kSkipped, "blocks.1", "skipped (none): inherited from parent 'blocks.1'", nullptr}},
      {"blocks.1.ffn.0", {Outcome::kQuantized, "blocks.1.ffn", "inherited from parent 'blocks.1.ffn': rule 'wo'", &weight_only}},
      {"blocks.1.ffn.2", {Outcome::kQuantized, "blocks.1.ffn", "inherited from parent 'blocks.1.ffn': rule 'wo'", &weight_only}},
      {"head.head", {Outcome::kSkipped, "head", "skipped (none): inherited from parent 'head'", nullptr}},
  };
  ASSERT_EQ(report.layers.size(), want.size());
  for (const auto& [path, w] : want) {
    SCOPED_TRACE(path);
    const LayerApplied* l = report.find(path);
    ASSERT_NE(l, nullptr);
    EXPECT_EQ(l->outcome, w.outcome);
    EXPECT_EQ(l->config_key, w.key);
    EXPECT_EQ(l->why, w.why);
    EXPECT_FALSE(l->rule_index.has_value());
    if (w.rule) {
      expect_quantized_as(model, linear_of(before, path), path, w.rule->resolve());
    } else {
      EXPECT_EQ(&model.at(path), before.at(path).get());
    }
  }
  // "norm" exists but has no Linear below it.
  EXPECT_EQ(report.unused_config_keys, (std::vector<std::string>{"norm"}));
  EXPECT_NE(report.str().find("unused: config entry 'norm'"), std::string::npos);
}

TEST(DaxConfig, EntriesCoverWholeSegmentsOnly) {
  const DaxConfig config{.entries = {{"blocks.1", std::nullopt}, {"blocks.1.ffn", Rule{}}}};
  EXPECT_EQ(config.entry_for("blocks.1")->first, "blocks.1");
  EXPECT_EQ(config.entry_for("blocks.1.ffn.0")->first, "blocks.1.ffn");
  EXPECT_EQ(config.entry_for("blocks.1.ffnx")->first, "blocks.1");
  EXPECT_EQ(config.entry_for("blocks.10.ffn.0"), nullptr);
  EXPECT_EQ(config.entry_for("blocks"), nullptr);
  // Without a "" entry, layers no entry covers are kept.
  TinyModel model;
  const ApplyReport report = DaxConfig{.entries = {{"blocks.0.ffn", Rule{.weight = "int8"}}}}.apply(model);
  EXPECT_EQ(report.count(Outcome::kQuantized), 2u);
  EXPECT_EQ(report.find("head.head")->outcome, Outcome::kKept);
  EXPECT_EQ(report.find("head.head")->why, "no config entry covers it (kept)");
  EXPECT_FALSE(report.find("head.head")->config_key.has_value());
}

TEST(DaxConfig, ErrorsNameTheEntryAndTheLayer) {
  TinyModel model;
  expect_rejected(model, [&] { DaxConfig{.entries = {{"blocks.2", Rule{}}}}.apply(model); },
                  {"config entry 'blocks.2'", "no module"});
  expect_rejected(model, [&] { DaxConfig{.entries = {{"head", Rule{.module_path = "x", .weight = "int8"}}}}.apply(model); },
                  {"config entry 'head'", "module_path"});
  expect_rejected(model, [&] { DaxConfig{.entries = {{"head", Rule{.weight = "int3"}}}}.apply(model); },
                  {"config entry 'head'", "int3"});
  expect_rejected(model,
                  [&] { DaxConfig{.entries = {{"", Rule{.weight = "int8", .act_static_scale = true, .name = "st"}}}}.apply(model); },
                  {"layer 'blocks.0.self_attn.q'", "config entry '' (the whole model), rule 'st'", "act_scales"});
}

}  // namespace
}  // namespace qjit
