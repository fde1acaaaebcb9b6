// The compile-time rule spelling (quant_ops/rule_spec.hpp): qjit::rule<qjit::RuleSpec{...}>
// quantizes the synthetic model exactly as the same qjit::Rule does, and check_rule_spec (the
// compile-time validation) agrees with Rule::resolve on every preset, every alias and an
// exhaustive grid of field values, down to the field an error names. That a bad spec does not
// compile, with g++ and clang++-14, is tested by CTest (RuleSpecCompile.*, tests/CMakeLists.txt).

#include "quant_ops/rule_spec.hpp"

#include <gtest/gtest.h>

#include <cctype>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "common/error.hpp"
#include "quant_ops/presets.hpp"
#include "synthetic_model.hpp"

namespace qjit {
namespace {

using test::TinyModel;

// Compile-time checks of the resolution: defaults filled as Rule::resolve fills them.
using Int8 = decltype(rule<RuleSpec{.weight = "int8", .act = "int8"}>);
static_assert(Int8::kResolved.ok() && Int8::kResolved.weight == QType::kInt8 && Int8::kResolved.act == QType::kInt8);
static_assert(Int8::kResolved.weight_granularity == Granularity::kPerChannel &&
              Int8::kResolved.act_granularity == Granularity::kPerToken);
using BlockFp8 = decltype(rule<RuleSpec{.weight = "FP8-E4M3", .act_granularity = " group128 "}>);
static_assert(BlockFp8::kResolved.weight_granularity == Granularity::kBlock128 &&
              BlockFp8::kResolved.act == QType::kE4M3);
using Static = decltype(rule<RuleSpec{.weight = "i8", .act_static_scale = true, .out_dtype = "Float32"}>);
static_assert(Static::kResolved.act_granularity == Granularity::kPerTensor && Static::kResolved.out_dtype == DType::kF32);
static_assert(check_rule_spec(RuleSpec{.weight = "int8", .act = "fp8"}).problem == RuleSpecProblem::kInt8WithFp8);
static_assert(check_rule_spec(RuleSpec{.weight = "int4"}).field == "weight");
// Equal text, equal template argument: the chars past the length stay zero.
static_assert(std::is_same_v<decltype(rule<RuleSpec{.weight = "int8"}>), decltype(rule<RuleSpec{.weight = "int8"}>)>);

bool same_bits(const Tensor& a, const Tensor& b) {
  const Tensor ha = a.contiguous(), hb = b.contiguous();
  return ha.shape() == hb.shape() && ha.dtype() == hb.dtype() &&
         std::memcmp(ha.raw_data_ptr(), hb.raw_data_ptr(), ha.nbytes()) == 0;
}

void expect_same_report(const ApplyReport& a, const ApplyReport& b) {
  ASSERT_EQ(a.layers.size(), b.layers.size());
  for (std::size_t i = 0; i < a.layers.size(); ++i) {
    EXPECT_EQ(a.layers[i].path, b.layers[i].path);
    EXPECT_EQ(a.layers[i].outcome, b.layers[i].outcome) << a.layers[i].path;
    EXPECT_EQ(a.layers[i].why, b.layers[i].why) << a.layers[i].path;
    EXPECT_EQ(a.layers[i].bytes_after, b.layers[i].bytes_after) << a.layers[i].path;
  }
  EXPECT_EQ(a.unused_rules.size(), b.unused_rules.size());
}

TEST(RuleSpec, SpellingQuantizesLikeTheRule) {
  TinyModel by_spec, by_rule;
  const ApplyReport a = rule<RuleSpec{.weight = "int8", .act = "int8"}>.apply(by_spec);
  const ApplyReport b = Rule{.weight = "int8", .act = "int8"}.apply(by_rule);
  expect_same_report(a, b);
  EXPECT_EQ(a.count(LayerApplied::Outcome::kQuantized), test::tiny_layers().size());
  // Both models hold the same quantized layers: the same input gives the same bits (cpu).
  const Tensor x = test::seeded({3, TinyModel::kDim}, DType::kBF16, 7);
  for (const std::string& path : test::tiny_layers()) {
    ASSERT_EQ(by_spec.at(path).type_name(), "QuantLinear") << path;
  }
  EXPECT_TRUE(same_bits(by_spec.forward(x), by_rule.forward(x)));
}

TEST(RuleSpec, SpellingWithPathAndOptions) {
  TinyModel model;
  const ApplyReport r =
      rule<RuleSpec{.module_path = R"(blocks\.\d+\.ffn\..*)", .weight = "fp8", .name = "ffn-fp8"}>.apply(
          model, ApplyOptions{.dry_run = true});
  EXPECT_EQ(r.count(LayerApplied::Outcome::kQuantized), 4u);
  EXPECT_EQ(r.find("blocks.1.ffn.2")->why, "rule 0 'ffn-fp8' matched");
  EXPECT_EQ(r.find("head.head")->outcome, LayerApplied::Outcome::kKept);
  EXPECT_EQ(model.at("blocks.0.ffn.0").type_name(), "Linear");  // a dry run replaces nothing
}

// The regex's syntax is the one check left to apply time; the error names the rule.
TEST(RuleSpec, BadRegexFailsAtApply) {
  TinyModel model;
  try {
    rule<RuleSpec{.module_path = "blocks.(", .weight = "int8"}>.apply(model);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("field module_path: bad regex 'blocks.('"), std::string::npos) << e.message();
  }
}

TEST(RuleSpec, ToRuleAndFromRuleRoundTrip) {
  const RuleSpec s{.module_path = "head\\..*", .weight = "none", .name = "keep-head"};
  const Rule r = s.to_rule();
  EXPECT_EQ(r, (Rule{.module_path = "head\\..*", .weight = "none", .name = "keep-head"}));
  EXPECT_EQ(RuleSpec::from_rule(r), s);
  Rule long_path{.module_path = std::string(kRuleSpecPathCapacity + 1, 'a')};
  try {
    RuleSpec::from_rule(long_path);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("field module_path"), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("at most 192"), std::string::npos) << e.message();
  }
}

// What Rule::resolve says of `rule`: ok and the enums, or the field its message names.
struct Verdict {
  bool ok = false;
  std::string field;
  ResolvedRule resolved;
};

Verdict resolve(const Rule& rule) {
  Verdict v;
  try {
    v.resolved = rule.resolve();
    v.ok = true;
  } catch (const Error& e) {
    const std::string& m = e.message();
    const auto at = m.find("field ");
    if (at != std::string::npos) {
      const auto end = m.find(':', at);
      v.field = m.substr(at + 6, end - at - 6);
    }
  }
  return v;
}

// check_rule_spec and Rule::resolve agree on `rule`: both accept it with the same enums, or
// both reject it naming the same field.
void expect_agree(const Rule& rule) {
  const RuleSpecCheck c = check_rule_spec(RuleSpec::from_rule(rule));
  const Verdict v = resolve(rule);
  const std::string what = rule.str();
  ASSERT_EQ(c.ok(), v.ok) << what << " (resolve: field '" << v.field << "'; spec: '" << c.field << "')";
  if (!v.ok) {
    EXPECT_EQ(std::string(c.field), v.field) << what;
    return;
  }
  EXPECT_EQ(c.weight, v.resolved.weight) << what;
  EXPECT_EQ(c.act, v.resolved.act) << what;
  EXPECT_EQ(c.act_static_scale, v.resolved.act_static_scale) << what;
  EXPECT_EQ(c.weight_granularity, v.resolved.weight_granularity) << what;
  EXPECT_EQ(c.act_granularity, v.resolved.act_granularity) << what;
  EXPECT_EQ(c.out_dtype, v.resolved.out_dtype) << what;
}

TEST(RuleSpec, EveryPresetAgreesWithResolve) {
  std::vector<std::string> names = {"fp8-e4m3"};
  for (const Preset& p : presets()) names.push_back(p.name);
  for (const std::string& name : names) {
    const Rule r = Rule::preset(name);
    SCOPED_TRACE(name);
    EXPECT_TRUE(check_rule_spec(RuleSpec::from_rule(r)).ok());
    expect_agree(r);
  }
}

// Every alias of qtype.cpp / dtype.cpp, in its written case, upper case and with dashes,
// plus blanks and near misses: the same verdict from both sides.
TEST(RuleSpec, EveryNameAgreesWithResolve) {
  std::vector<std::string> qtypes = {"", " ", "int4", "fp8e4m3", "float8_e4m3", "e4m3 fn", " int8 ", "\tfp8\n"};
  for (const auto& a : rule_spec_detail::kQTypes) qtypes.emplace_back(a.name);
  std::vector<std::string> variants;
  auto add_variants = [&variants](const std::string& s) {
    variants.push_back(s);
    std::string upper = s, dashed = s;
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    for (char& c : dashed) c = c == '_' ? '-' : c;
    variants.push_back(upper);
    variants.push_back(dashed);
  };
  for (const auto& q : qtypes) add_variants(q);
  for (const auto& q : variants) {
    expect_agree(Rule{.weight = q, .act = "none"});
    expect_agree(Rule{.weight = "fp8", .act = q});
  }
  variants.clear();
  for (const auto& g : rule_spec_detail::kGranularities) add_variants(std::string(g.name));
  for (const char* g : {"", "  ", "per_row", "block64", "per-token "}) add_variants(g);
  for (const auto& g : variants) {
    expect_agree(Rule{.weight = "fp8", .weight_granularity = g});
    expect_agree(Rule{.weight = "fp8", .act_granularity = g});
  }
  variants.clear();
  for (const auto& d : rule_spec_detail::kOutDTypes) add_variants(std::string(d.name));
  for (const char* d : {"", "int8", "fp8_e4m3", "f64", " bf16 ", "b-f16"}) add_variants(d);
  for (const auto& d : variants) expect_agree(Rule{.weight = "int8", .out_dtype = d});
}

// Every combination of canonical values (and one bad value per field): 5 x 6 x 7 x 7 x 2 x 3
// = 8820 rules, each judged the same way by both sides.
TEST(RuleSpec, EveryCombinationAgreesWithResolve) {
  const std::vector<std::string> weights = {"none", "int8", "fp8_e4m3", "fp8_e5m2", "int3"};
  const std::vector<std::string> acts = {"", "none", "int8", "fp8_e4m3", "fp8_e5m2", "int3"};
  const std::vector<std::string> grans = {"", "per_tensor", "per_channel", "per_token", "block128", "group128", "row"};
  const std::vector<std::string> dtypes = {"bf16", "f32", "int8"};
  int accepted = 0, total = 0;
  for (const auto& w : weights) {
    for (const auto& a : acts) {
      for (const auto& wg : grans) {
        for (const auto& ag : grans) {
          for (bool st : {false, true}) {
            for (const auto& d : dtypes) {
              const Rule r{.weight = w, .act = a, .act_static_scale = st, .weight_granularity = wg,
                           .act_granularity = ag, .out_dtype = d};
              expect_agree(r);
              accepted += check_rule_spec(RuleSpec::from_rule(r)).ok() ? 1 : 0;
              ++total;
            }
          }
        }
      }
    }
  }
  EXPECT_EQ(total, 8820);
  // Both sides accept some and reject most: the grid exercises both verdicts.
  EXPECT_GT(accepted, 100);
  EXPECT_LT(accepted, total / 2);
}

}  // namespace
}  // namespace qjit
