// Every invalid rule fails with a qjit::Error that names the rule (its name or its text), the
// field, and what would be valid.

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "quant_ops/rule.hpp"

namespace qjit {
namespace {

// The message of the qjit::Error `f` throws; a test failure when it throws none.
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.subsystem(), "rules") << e.what();
    return e.message();
  }
  ADD_FAILURE() << "no qjit::Error thrown";
  return "";
}

void expect_error(const std::function<void()>& f, const std::vector<std::string>& parts) {
  const std::string msg = error_of(f);
  for (const std::string& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
}

// Each resolve() error twice: from the struct (named by its text or its name) and from parse
// (named by the input).
struct Case {
  Rule rule;
  std::string text;                 // the same rule as a field list
  std::vector<std::string> expect;  // in the message of both
};

TEST(RuleError, ResolveNamesTheRuleTheFieldAndTheValidValues) {
  const Case cases[] = {
      {Rule{.weight = "int4"}, "weight=int4", {"field weight", "'int4'", "int8, fp8_e4m3, fp8_e5m2, none"}},
      {Rule{.act = "fp16"}, "act=fp16", {"field act", "'fp16'", "fp8_e4m3"}},
      {Rule{.weight_granularity = "per_row"}, "weight_granularity=per_row",
       {"field weight_granularity", "'per_row'", "per_tensor, per_channel, per_token, block128, group128"}},
      {Rule{.act_granularity = "group64"}, "act_granularity=group64", {"field act_granularity", "'group64'", "group128"}},
      {Rule{.out_dtype = "f64"}, "out_dtype=f64", {"field out_dtype", "'f64'", "bf16, f16, f32"}},
      {Rule{.out_dtype = "int8"}, "out_dtype=int8", {"field out_dtype", "'int8'", "bf16, f16, f32"}},
      // weight none with a quantized activation
      {Rule{.weight = "none", .act = "int8"}, "weight=none,act=int8", {"field act", "must be none"}},
      {Rule{.weight = "none", .act_static_scale = true}, "weight=none,act_static_scale=true",
       {"field act_static_scale", "high precision"}},
      // block128 weights only with group128 fp8 activations
      {Rule{.weight = "fp8", .weight_granularity = "block128", .act_granularity = "per_token"},
       "weight=fp8,weight_granularity=block128,act_granularity=per_token",
       {"field act_granularity", "block128 weights need group128 activations"}},
      {Rule{.weight = "fp8", .weight_granularity = "per_channel", .act_granularity = "group128"},
       "weight=fp8,weight_granularity=per_channel,act_granularity=group128",
       {"field weight_granularity", "group128 activations need block128 weights"}},
      {Rule{.weight = "int8", .weight_granularity = "block128"}, "weight=int8,weight_granularity=block128",
       {"field weight", "fp8 only"}},
      {Rule{.weight = "fp8", .act = "none", .weight_granularity = "block128"},
       "weight=fp8,act=none,weight_granularity=block128", {"field weight_granularity", "act is none"}},
      // group128 is dynamic only; a static scale is per_tensor only
      {Rule{.weight = "fp8", .act_static_scale = true, .act_granularity = "group128"},
       "weight=fp8,act_static_scale=true,act_granularity=group128", {"field act_static_scale", "dynamic only"}},
      {Rule{.act_static_scale = true, .act_granularity = "per_token"}, "act_static_scale=true,act_granularity=per_token",
       {"field act_granularity", "per_token with act_static_scale=true", "per_tensor only"}},
      {Rule{.act = "none", .act_static_scale = true}, "act=none,act_static_scale=true",
       {"field act_static_scale", "act is none"}},
      // granularities on the wrong side
      {Rule{.act_granularity = "per_channel"}, "act_granularity=per_channel",
       {"field act_granularity", "per_channel is for weights", "per_token, per_tensor or group128"}},
      {Rule{.weight_granularity = "per_token"}, "weight_granularity=per_token",
       {"field weight_granularity", "per_token is for activations", "per_channel, per_tensor or block128"}},
      // mixed int8 / fp8
      {Rule{.weight = "int8", .act = "fp8_e4m3"}, "weight=int8,act=fp8_e4m3",
       {"field act", "int8 weights with fp8_e4m3 activations", "no kernel mixes int8 and fp8"}},
      {Rule{.weight = "fp8_e5m2", .act = "int8"}, "weight=fp8_e5m2,act=int8",
       {"field act", "fp8_e5m2 weights with int8 activations"}},
      // the regex
      {Rule{.module_path = ""}, "module_path=\"\"", {"field module_path", "empty regex"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    std::vector<std::string> from_struct = c.expect;
    from_struct.push_back("rule '" + c.rule.str() + "'");
    expect_error([&] { c.rule.resolve(); }, from_struct);
    std::vector<std::string> from_text = c.expect;
    from_text.push_back("rule '" + c.text + "'");
    expect_error([&] { Rule::parse(c.text); }, from_text);
  }
}

TEST(RuleError, BadRegexCarriesTheRegexError) {
  expect_error([] { Rule{.module_path = "blocks.(", .name = "ffn"}.resolve(); },
               {"rule 'ffn'", "field module_path: bad regex 'blocks.('", "missing ): blocks.("});
  expect_error([] { Rule::parse("module_path=[z-a],weight=int8"); },
               {"rule 'module_path=[z-a],weight=int8'", "field module_path: bad regex '[z-a]'"});
}

TEST(RuleError, NamedRulesAreCalledByTheirName) {
  expect_error([] { Rule{.weight = "int4", .name = "attention"}.resolve(); }, {"rule 'attention'", "field weight"});
}

TEST(RuleError, ParseNamesTheInputAndListsTheChoices) {
  // An unknown bare word is taken for a preset: the presets are listed, and the other forms.
  expect_error([] { Rule::parse("int4"); },
               {"unknown preset 'int4'", "int8, int8-per-tensor, int8-static, int8-weight-only, fp8, fp8-e5m2, "
                                          "fp8-block128, fp8-e4m3",
                "field list", "mm_type", "JSON"});
  expect_error([] { Rule::preset("w8a8"); }, {"unknown preset 'w8a8'", "int8-static"});
  expect_error([] { Rule::parse("weight=int8,qtype=int8"); },
               {"rule 'weight=int8,qtype=int8'", "unknown field 'qtype'",
                "module_path, weight, act, act_static_scale, weight_granularity, act_granularity, out_dtype, name"});
  expect_error([] { Rule::parse("act_static_scale=maybe"); }, {"field act_static_scale", "'maybe'", "true or false"});
  expect_error([] { Rule::parse("weight=int8,weight=fp8"); }, {"field weight given twice"});
  expect_error([] { Rule::parse("   "); }, {"empty rule", "preset"});
  expect_error([] { Rule::parse("weight=int8,,act=int8"); }, {"expected name=value", "empty item"});
  expect_error([] { Rule::parse("weight=int8,fp8"); }, {"expected name=value, got 'fp8'"});
  expect_error([] { Rule::parse("=int8"); }, {"no name before '='"});
  expect_error([] { Rule::parse(R"(module_path="blocks,weight=int8)"); }, {"field module_path", "unterminated"});
  expect_error([] { Rule::parse(R"(module_path="a"b,weight=int8)"); }, {"field module_path", "after the closing quote"});
  expect_error([] { Rule::parse("preset=int9"); }, {"field preset", "unknown preset 'int9'", "fp8-block128"});
  expect_error([] { Rule::parse("preset=int8,mm_type=W-int8-channel-sym-A-int8-channel-sym-dynamic"); },
               {"both preset and mm_type"});
}

TEST(RuleError, MmTypeProblemsShowTheGrammar) {
  const std::string grammar = "W-<int8|fp8|fp8_e5m2>";
  expect_error([] { Rule::parse("W-nvfp4-channel-sym-A-nvfp4-channel-sym-dynamic-Lightx2v"); },
               {"mm_type 'W-nvfp4-", "weight qtype", "unknown qtype 'nvfp4'", grammar});
  expect_error([] { Rule::parse("W-int8-channel-asym-A-int8-channel-asym-dynamic-Vllm"); },
               {"asymmetric quantization is not supported"});
  expect_error([] { Rule::parse("W-int8-channel-sym-A-int8-channel-sym"); }, {"missing dynamic or static", grammar});
  expect_error([] { Rule::parse("W-int8-channel-sym-int8-channel-sym-dynamic"); }, {"'int8' where 'A' belongs after the weight part"});
  expect_error([] { Rule::parse("W-int8"); }, {"missing the weight granularity"});
  // Well formed, but no kernel: named by the mm_type, with the field.
  expect_error([] { Rule::parse("W-fp8-block128-sym-A-fp8-channel-group128-sym-static-Deepgemm"); },
               {"rule 'W-fp8-block128-sym-A-fp8-channel-group128-sym-static-Deepgemm'", "field act_static_scale",
                "dynamic only"});
  expect_error([] { Rule::parse("W-int8-channel-sym-A-fp8-channel-sym-dynamic-Vllm"); },
               {"no kernel mixes int8 and fp8"});
}

}  // namespace
}  // namespace qjit
