// Rules: the struct and its defaults, every preset, field lists, LightX2V mm_type names and
// the canonical text form. Errors: rule_error_test.cpp; JSON files: rule_file_test.cpp.

#include "quant_ops/rule.hpp"

#include <gtest/gtest.h>

#include <string>

#include "common/error.hpp"
#include "quant_ops/presets.hpp"

namespace qjit {
namespace {

using G = Granularity;

struct Expect {
  QType weight;
  G weight_granularity;
  QType act;
  G act_granularity;
  bool act_static_scale = false;
  DType out_dtype = DType::kBF16;
};

void expect_resolved(const ResolvedRule& r, const Expect& e, const std::string& what) {
  SCOPED_TRACE(what);
  EXPECT_EQ(r.weight, e.weight);
  EXPECT_EQ(r.weight_granularity, e.weight_granularity);
  EXPECT_EQ(r.act, e.act);
  if (e.act != QType::kNone) {
    EXPECT_EQ(r.act_granularity, e.act_granularity);
  }
  EXPECT_EQ(r.act_static_scale, e.act_static_scale);
  EXPECT_EQ(r.out_dtype, e.out_dtype);
}

TEST(RuleStruct, DesignatedInitializersCompileAndResolve) {
  const ResolvedRule r = qjit::Rule{.weight = "int8", .act = "int8"}.resolve();
  expect_resolved(r, {QType::kInt8, G::kPerChannel, QType::kInt8, G::kPerToken}, "W8A8");
  EXPECT_EQ(r.module_path, ".*");
  ASSERT_TRUE(r.module_regex);
  EXPECT_TRUE(r.module_regex->full_match("blocks.0.ffn.0"));
  EXPECT_EQ(r.label, "weight=int8,act=int8");
  EXPECT_FALSE(r.skips());
  EXPECT_FALSE(r.weight_only());

  const ResolvedRule ffn = Rule{.module_path = R"(blocks\.\d+\.ffn\..*)", .weight = "fp8_e4m3", .name = "ffn"}.resolve();
  EXPECT_TRUE(ffn.module_regex->full_match("blocks.12.ffn.2"));
  EXPECT_FALSE(ffn.module_regex->full_match("blocks.12.self_attn.q"));
  EXPECT_FALSE(ffn.module_regex->full_match("xblocks.1.ffn.0"));  // a full match, not a search
  EXPECT_EQ(ffn.label, "ffn");
}

TEST(RuleStruct, DefaultsFollowTheOtherFields) {
  expect_resolved(Rule{}.resolve(), {QType::kInt8, G::kPerChannel, QType::kInt8, G::kPerToken}, "Rule{}");
  // act empty: the weight's qtype.
  expect_resolved(Rule{.weight = "fp8_e4m3"}.resolve(), {QType::kE4M3, G::kPerChannel, QType::kE4M3, G::kPerToken},
                  "fp8");
  expect_resolved(Rule{.act_static_scale = true}.resolve(),
                  {QType::kInt8, G::kPerChannel, QType::kInt8, G::kPerTensor, true}, "static");
  expect_resolved(Rule{.weight = "fp8", .act_granularity = "group128"}.resolve(),
                  {QType::kE4M3, G::kBlock128, QType::kE4M3, G::kGroup128}, "group128 picks block128");
  expect_resolved(Rule{.weight = "fp8", .weight_granularity = "block128"}.resolve(),
                  {QType::kE4M3, G::kBlock128, QType::kE4M3, G::kGroup128}, "block128 picks group128");
  expect_resolved(Rule{.weight = "int8", .weight_granularity = "per_tensor", .act_granularity = "per_tensor"}.resolve(),
                  {QType::kInt8, G::kPerTensor, QType::kInt8, G::kPerTensor}, "per-tensor");
  expect_resolved(Rule{.out_dtype = "f32"}.resolve(),
                  {QType::kInt8, G::kPerChannel, QType::kInt8, G::kPerToken, false, DType::kF32}, "f32 out");

  const ResolvedRule wo = Rule{.weight = "int8", .act = "none"}.resolve();
  EXPECT_TRUE(wo.weight_only());
  EXPECT_FALSE(wo.skips());
  const ResolvedRule skip = Rule{.module_path = "head\\..*", .weight = "none"}.resolve();
  EXPECT_TRUE(skip.skips());
  EXPECT_EQ(skip.act, QType::kNone);
  EXPECT_FALSE(skip.weight_only());
}

TEST(RuleStruct, ResolvedRulesCompareWithoutTheRegexObject) {
  EXPECT_EQ(Rule{.weight = "fp8"}.resolve(), Rule{.weight = "fp8"}.resolve());
  EXPECT_FALSE(Rule{.weight = "fp8"}.resolve() == Rule{.weight = "int8"}.resolve());
}

TEST(RulePreset, EveryPresetOfDesignSection7) {
  struct Row {
    const char* name;
    Expect expect;
  };
  const Row rows[] = {
      {"int8", {QType::kInt8, G::kPerChannel, QType::kInt8, G::kPerToken}},
      {"int8-per-tensor", {QType::kInt8, G::kPerTensor, QType::kInt8, G::kPerTensor}},
      {"int8-static", {QType::kInt8, G::kPerChannel, QType::kInt8, G::kPerTensor, true}},
      {"int8-weight-only", {QType::kInt8, G::kPerChannel, QType::kNone, G::kPerToken}},
      {"fp8", {QType::kE4M3, G::kPerChannel, QType::kE4M3, G::kPerToken}},
      {"fp8-e4m3", {QType::kE4M3, G::kPerChannel, QType::kE4M3, G::kPerToken}},
      {"fp8-e5m2", {QType::kE4M3, G::kPerChannel, QType::kE5M2, G::kPerToken}},
      {"fp8-block128", {QType::kE4M3, G::kBlock128, QType::kE4M3, G::kGroup128}},
  };
  for (const Row& row : rows) {
    const RuleSet set = Rule::parse(row.name);
    EXPECT_EQ(set.form, RuleForm::kPreset) << row.name;
    EXPECT_EQ(set.source, row.name);
    EXPECT_TRUE(set.ignored_backends.empty());
    ASSERT_EQ(set.rules.size(), 1u) << row.name;
    expect_resolved(set.rules[0].resolve(), row.expect, row.name);
    EXPECT_EQ(set.rules[0], Rule::preset(row.name));
  }
  // Every preset of the table behind `qjit run` is reachable by its name.
  for (const Preset& p : presets()) {
    const Rule r = Rule::parse_one(p.name);
    EXPECT_EQ(r.name, p.name);
    const ResolvedRule rr = r.resolve();
    EXPECT_EQ(rr.weight, p.weight) << p.name;
    EXPECT_EQ(rr.act, p.act) << p.name;
    EXPECT_EQ(rr.act_static_scale, p.act_static) << p.name;
  }
  EXPECT_EQ(Rule::parse_one("fp8-e4m3").name, "fp8");
  EXPECT_EQ(Rule::parse_one("  INT8-Static "), Rule::preset("int8-static"));
}

TEST(RuleFields, CanonicalNames) {
  const RuleSet set = Rule::parse("weight=int8,act=int8,act_granularity=per_token,out_dtype=f32");
  EXPECT_EQ(set.form, RuleForm::kFields);
  ASSERT_EQ(set.rules.size(), 1u);
  const Rule& r = set.rules[0];
  EXPECT_EQ(r, (Rule{.weight = "int8", .act = "int8", .act_granularity = "per_token", .out_dtype = "f32"}));
  expect_resolved(r.resolve(), {QType::kInt8, G::kPerChannel, QType::kInt8, G::kPerToken, false, DType::kF32}, "list");

  const Rule all = Rule::parse_one(
      R"(module_path=blocks\.[0-9]+\.ffn\..*, weight=int8, act=int8, act_static_scale=true,)"
      R"( weight_granularity=per_channel, act_granularity=per_tensor, out_dtype=f16, name=ffn-static)");
  EXPECT_EQ(all.module_path, R"(blocks\.[0-9]+\.ffn\..*)");
  EXPECT_TRUE(all.act_static_scale);
  EXPECT_EQ(all.name, "ffn-static");
  expect_resolved(all.resolve(), {QType::kInt8, G::kPerChannel, QType::kInt8, G::kPerTensor, true, DType::kF16}, "all");
  EXPECT_TRUE(all.resolve().module_regex->full_match("blocks.3.ffn.0"));
}

TEST(RuleFields, ValuesAreCanonicalizedAndKeysForgiving) {
  const Rule r = Rule::parse_one(" Weight = FP8 ,act-granularity=token, Out_Dtype=bfloat16 ,act_static_scale = 0");
  EXPECT_EQ(r.weight, "fp8_e4m3");
  EXPECT_EQ(r.act_granularity, "per_token");
  EXPECT_EQ(r.out_dtype, "bf16");
  EXPECT_FALSE(r.act_static_scale);
  EXPECT_EQ(Rule::parse_one("weight=e5m2,act=fp8-e5m2").act, "fp8_e5m2");
  for (const char* yes : {"true", "TRUE", "1", "yes", "on"}) {
    EXPECT_TRUE(Rule::parse_one(std::string("act_static_scale=") + yes).act_static_scale) << yes;
  }
  // An empty granularity asks for the default.
  EXPECT_EQ(Rule::parse_one("weight=int8,weight_granularity=").weight_granularity, "");
}

TEST(RuleFields, PresetOrMmTypeAsABase) {
  const Rule r = Rule::parse_one(R"(module_path=blocks\..*,preset=int8-static,out_dtype=f32)");
  Rule want = Rule::preset("int8-static");
  want.module_path = R"(blocks\..*)";
  want.out_dtype = "f32";
  EXPECT_EQ(r, want);

  const RuleSet set = Rule::parse("mm_type=W-fp8-channel-sym-A-fp8-channel-sym-dynamic-Q8F,name=q8");
  ASSERT_EQ(set.rules.size(), 1u);
  EXPECT_EQ(set.rules[0].name, "q8");
  EXPECT_EQ(set.rules[0].weight, "fp8_e4m3");
  EXPECT_EQ(set.ignored_backends, std::vector<std::string>{"Q8F"});
}

TEST(RuleFields, QuotedValuesMayHoldCommasAndQuotes) {
  const Rule r = Rule::parse_one(R"(module_path="blocks\.(0|1)\.ffn\.[0,2]", weight=int8, name='it''s ffn, early')");
  EXPECT_EQ(r.module_path, R"(blocks\.(0|1)\.ffn\.[0,2])");  // backslashes kept as written
  EXPECT_EQ(r.name, "it's ffn, early");
  const ResolvedRule rr = r.resolve();
  EXPECT_TRUE(rr.module_regex->full_match("blocks.1.ffn.2"));
  EXPECT_FALSE(rr.module_regex->full_match("blocks.2.ffn.2"));
  EXPECT_EQ(Rule::parse_one(R"(name="say ""hi""",weight=int8)").name, R"(say "hi")");
  EXPECT_EQ(Rule::parse_one(R"(module_path = "a{1,2}" ,weight=none)").module_path, "a{1,2}");
}

TEST(RuleMmType, TheLightX2VNames) {
  struct Row {
    const char* text;
    Expect expect;
    const char* backend;
  };
  const Row rows[] = {
      {"W-int8-channel-sym-A-int8-channel-sym-dynamic-Vllm",
       {QType::kInt8, G::kPerChannel, QType::kInt8, G::kPerToken}, "Vllm"},
      {"W-fp8-channel-sym-A-fp8-channel-sym-dynamic-Q8F", {QType::kE4M3, G::kPerChannel, QType::kE4M3, G::kPerToken},
       "Q8F"},
      {"W-fp8-block128-sym-A-fp8-channel-group128-sym-dynamic-Deepgemm",
       {QType::kE4M3, G::kBlock128, QType::kE4M3, G::kGroup128}, "Deepgemm"},
      // A calibrated scale is one per layer: LightX2V's static "channel" is per_tensor.
      {"W-int8-channel-sym-A-int8-channel-sym-static-Vllm",
       {QType::kInt8, G::kPerChannel, QType::kInt8, G::kPerTensor, true}, "Vllm"},
      {"W-fp8-block128-sym-A-fp8-channel-group128-sym-dynamic-Deepgemm-ActSgl",
       {QType::kE4M3, G::kBlock128, QType::kE4M3, G::kGroup128}, "Deepgemm-ActSgl"},
      {"W-int8-channel-sym-A-int8-channel-sym-dynamic-Torchao",
       {QType::kInt8, G::kPerChannel, QType::kInt8, G::kPerToken}, "Torchao"},
      {"W-fp8-channel-sym-A-fp8-channel-sym-dynamic-Sgl", {QType::kE4M3, G::kPerChannel, QType::kE4M3, G::kPerToken},
       "Sgl"},
      // Odd spellings: case, spaces around the dashes, the fp8 variant spelled out, no backend.
      {"w-int8-channel-sym-a-int8-channel-sym-dynamic-vllm",
       {QType::kInt8, G::kPerChannel, QType::kInt8, G::kPerToken}, "vllm"},
      {"  W - FP8 - Channel - SYM - A - FP8 - Channel - SYM - Dynamic - Q8F  ",
       {QType::kE4M3, G::kPerChannel, QType::kE4M3, G::kPerToken}, "Q8F"},
      {"W-fp8-e4m3-channel-sym-A-fp8-e5m2-channel-sym-dynamic",
       {QType::kE4M3, G::kPerChannel, QType::kE5M2, G::kPerToken}, ""},
      {"W-int8-tensor-sym-A-int8-tensor-sym-dynamic-Vllm",
       {QType::kInt8, G::kPerTensor, QType::kInt8, G::kPerTensor}, "Vllm"},
  };
  for (const Row& row : rows) {
    const RuleSet set = Rule::parse(row.text);
    EXPECT_EQ(set.form, RuleForm::kMmType) << row.text;
    ASSERT_EQ(set.rules.size(), 1u);
    expect_resolved(set.rules[0].resolve(), row.expect, row.text);
    EXPECT_EQ(set.rules[0].name, set.source);  // messages name the rule by its mm_type
    if (*row.backend) {
      EXPECT_EQ(set.ignored_backends, std::vector<std::string>{row.backend}) << row.text;
      ASSERT_EQ(set.notes().size(), 1u);
      EXPECT_NE(set.notes()[0].find(row.backend), std::string::npos) << set.notes()[0];
    } else {
      EXPECT_TRUE(set.ignored_backends.empty()) << row.text;
    }
  }
}

TEST(RuleStr, CanonicalText) {
  EXPECT_EQ((Rule{.weight = "int8", .act = "int8"}.str()), "weight=int8,act=int8");
  EXPECT_EQ(Rule{}.str(), "weight=int8");
  EXPECT_EQ((Rule{.weight = "FP8", .act = "e5m2", .out_dtype = "float32"}.str()),
            "weight=fp8_e4m3,act=fp8_e5m2,out_dtype=f32");
  EXPECT_EQ(Rule::preset("int8-static").str(),
            "weight=int8,act=int8,act_static_scale=true,weight_granularity=per_channel,act_granularity=per_tensor,"
            "name=int8-static");
  EXPECT_EQ((Rule{.module_path = "a,b", .weight = "none"}.str()), R"(module_path="a,b",weight=none)");
}

TEST(RuleStr, RoundTrip) {
  const char* texts[] = {
      "int8",
      "int8-per-tensor",
      "int8-static",
      "int8-weight-only",
      "fp8",
      "fp8-e5m2",
      "fp8-block128",
      "weight=int8,act=int8,act_granularity=per_token,out_dtype=f32",
      R"(module_path="blocks\.(0|1)\.ffn\.[0,2]",weight=int8,name='it''s "quoted"')",
      "module_path=head\\..*,weight=none",
      "weight=fp8,act=none,out_dtype=f16",
      "weight=fp8,weight_granularity=block128",
      "name=  padded  ,weight=int8",
      "W-fp8-block128-sym-A-fp8-channel-group128-sym-dynamic-Deepgemm",
      "W-int8-channel-sym-A-int8-channel-sym-static-Vllm",
  };
  for (const char* text : texts) {
    const Rule r = Rule::parse_one(text);
    const std::string s = r.str();
    EXPECT_EQ(Rule::parse_one(s), r) << text << " -> " << s;
    EXPECT_EQ(Rule::parse_one(s).str(), s) << text;  // canonical: a fixed point
  }
  // Hand-written rules with aliases come back canonicalized, resolving the same.
  const Rule aliased{.weight = "E4M3", .act = "fp8-e5m2", .act_granularity = "token", .out_dtype = "half"};
  const Rule back = Rule::parse_one(aliased.str());
  EXPECT_EQ(back.resolve(), aliased.resolve());
  EXPECT_EQ(back.act_granularity, "per_token");
}

}  // namespace
}  // namespace qjit
