// Rule validation and resolution, and the canonical text form.

#include "quant_ops/rule.hpp"

#include <fmt/format.h>

#include <optional>
#include <tuple>

#include "common/error.hpp"
#include "quant_ops/rule_text.hpp"

namespace qjit {

namespace rule_detail {

namespace {

using G = Granularity;

// Runs a value parser of qtype.hpp / dtype.hpp and puts the rule and field in front of its
// message, which already names the bad value and lists the valid ones.
template <class F>
auto checked(std::string_view where, std::string_view field, F&& parse) {
  try {
    return parse();
  } catch (const Error& e) {
    QJIT_THROW("rules", "{}: field {}: {}", where, field, e.message());
  }
}

std::optional<Granularity> optional_granularity(const std::string& value, std::string_view where,
                                                std::string_view field) {
  if (value.empty()) return std::nullopt;
  return checked(where, field, [&] { return parse_granularity(value); });
}

// The combinations DESIGN.md section 5 and issue 4's kernel families cover. Everything else
// is rejected here so that no kernel selection ever sees it.
void check_quantized(const ResolvedRule& r, bool act_granularity_given, std::string_view where) {
  auto fail = [&](std::string_view field, const std::string& why) {
    QJIT_THROW("rules", "{}: field {}: {}", where, field, why);
  };
  const std::string_view wq = qtype_name(r.weight), aq = qtype_name(r.act);
  const std::string_view wg = granularity_name(r.weight_granularity), ag = granularity_name(r.act_granularity);
  if (r.weight_granularity == G::kPerToken || r.weight_granularity == G::kGroup128) {
    fail("weight_granularity",
         fmt::format("{} is for activations; weights take per_channel, per_tensor or block128", wg));
  }
  if (r.act == QType::kNone) {
    if (r.act_static_scale) {
      fail("act_static_scale", "a static activation scale needs a quantized activation, but act is none (weight-only)");
    }
    if (r.weight_granularity == G::kBlock128) {
      fail("weight_granularity", "block128 weights need fp8 group128 activations, but act is none; weight-only "
                                 "layers take per_channel or per_tensor weights");
    }
    return;
  }
  if (act_granularity_given && (r.act_granularity == G::kPerChannel || r.act_granularity == G::kBlock128)) {
    fail("act_granularity", fmt::format("{} is for weights; activations take per_token, per_tensor or group128 "
                                        "(LightX2V's A-...-channel means per_token)",
                                        ag));
  }
  if ((r.weight == QType::kInt8) != (r.act == QType::kInt8)) {
    fail("act", fmt::format("{} weights with {} activations: no kernel mixes int8 and fp8 (use int8 for both, "
                            "or fp8 for both)",
                            wq, aq));
  }
  if (r.weight_granularity == G::kBlock128 && r.act_granularity != G::kGroup128) {
    fail("act_granularity", fmt::format("block128 weights need group128 activations, not {}", ag));
  }
  if (r.act_granularity == G::kGroup128 && r.weight_granularity != G::kBlock128) {
    fail("weight_granularity", fmt::format("group128 activations need block128 weights, not {}", wg));
  }
  if (r.weight_granularity == G::kBlock128 && r.weight == QType::kInt8) {
    fail("weight", "block128/group128 scaling is for fp8 only (block-fp8); int8 takes per_channel or per_tensor weights");
  }
  if (r.act_static_scale && r.act_granularity == G::kGroup128) {
    fail("act_static_scale", "group128 activation scales are dynamic only");
  }
  if (r.act_static_scale && r.act_granularity != G::kPerTensor) {
    fail("act_granularity", fmt::format("{} with act_static_scale=true: a static (calibrated) activation scale is "
                                        "per_tensor only",
                                        ag));
  }
}

// The canonical spelling of a value when it parses, else the value as written, so str()
// never throws.
template <class Parse, class Name>
std::string canonical_or_raw(const std::string& value, Parse parse, Name name) {
  if (value.empty()) return value;
  try {
    return std::string(name(parse(value)));
  } catch (const Error&) {
    return value;
  }
}

}  // namespace

DType parse_out_dtype(std::string_view value) {
  std::optional<DType> t;
  try {
    t = parse_dtype(trim(value));
  } catch (const Error&) {
  }
  if (!t || !(*t == DType::kBF16 || *t == DType::kF16 || *t == DType::kF32)) {
    QJIT_THROW("rules", "'{}' is not an output dtype (expected one of bf16, f16, f32)", value);
  }
  return *t;
}

ResolvedRule resolve_rule(const Rule& rule, std::string_view where) {
  ResolvedRule r;
  QJIT_CHECK_GEN("rules", rule.name.size() <= kMaxRuleNameBytes, "{}: field name: {} bytes is longer than the {} allowed",
                 where, rule.name.size(), kMaxRuleNameBytes);
  r.label = rule.label();
  r.module_path = rule.module_path;
  if (rule.module_path.empty()) {
    QJIT_THROW("rules", "{}: field module_path: empty regex (\".*\" matches every layer)", where);
  }
  try {
    r.module_regex = std::make_shared<const Regex>(rule.module_path, "rules");
  } catch (const Error& e) {
    QJIT_THROW("rules", "{}: field module_path: bad regex '{}': {}", where, clip(rule.module_path), e.message());
  }
  r.weight = checked(where, "weight", [&] { return parse_qtype(trim(rule.weight)); });
  r.act = rule.act.empty() ? r.weight : checked(where, "act", [&] { return parse_qtype(trim(rule.act)); });
  r.act_static_scale = rule.act_static_scale;
  const auto wg = optional_granularity(trim(rule.weight_granularity), where, "weight_granularity");
  const auto ag = optional_granularity(trim(rule.act_granularity), where, "act_granularity");
  r.out_dtype = checked(where, "out_dtype", [&] { return parse_out_dtype(rule.out_dtype); });

  // NOTE: the defaults depend on the other granularity so that naming one side of block-fp8
  // (or a static scale) is enough.
  r.weight_granularity = wg ? *wg : (ag == G::kGroup128 ? G::kBlock128 : G::kPerChannel);
  r.act_granularity = ag ? *ag
                         : (r.weight_granularity == G::kBlock128 ? G::kGroup128
                            : r.act_static_scale                 ? G::kPerTensor
                                                                 : G::kPerToken);
  if (r.weight == QType::kNone) {
    if (r.act != QType::kNone) {
      QJIT_THROW("rules",
                 "{}: field act: weight none keeps the layer in high precision, so act must be none too, not {}",
                 where, qtype_name(r.act));
    }
    if (r.act_static_scale) {
      QJIT_THROW("rules", "{}: field act_static_scale: weight none keeps the layer in high precision; it has no "
                 "activation scale", where);
    }
    // Granularities of a skipped layer mean nothing; their names were still checked above.
    r.weight_granularity = G::kPerChannel;
    r.act_granularity = G::kPerToken;
    return r;
  }
  check_quantized(r, ag.has_value(), where);
  if (r.act == QType::kNone) r.act_granularity = G::kPerToken;  // unused; one value so == holds
  return r;
}

}  // namespace rule_detail

ResolvedRule Rule::resolve() const {
  return rule_detail::resolve_rule(*this, fmt::format("rule '{}'", rule_detail::clip(label())));
}

std::string Rule::label() const { return name.empty() ? str() : name; }

std::string Rule::str() const {
  using rule_detail::canonical_or_raw;
  auto trimmed = [](auto parse) { return [parse](const std::string& v) { return parse(rule_detail::trim(v)); }; };
  std::string out;
  auto add = [&](std::string_view key, const std::string& value) {
    if (!out.empty()) out += ',';
    out += fmt::format("{}={}", key, rule_detail::quote_if_needed(value));
  };
  // NOTE: defaults are left out (parse gives them back), except weight, without which the
  // text would not say what the rule does.
  if (module_path != ".*") add("module_path", module_path);
  add("weight", canonical_or_raw(weight, trimmed(parse_qtype), qtype_name));
  if (!act.empty()) add("act", canonical_or_raw(act, trimmed(parse_qtype), qtype_name));
  if (act_static_scale) add("act_static_scale", "true");
  if (!weight_granularity.empty()) {
    add("weight_granularity", canonical_or_raw(weight_granularity, trimmed(parse_granularity), granularity_name));
  }
  if (!act_granularity.empty()) {
    add("act_granularity", canonical_or_raw(act_granularity, trimmed(parse_granularity), granularity_name));
  }
  const std::string dtype = canonical_or_raw(out_dtype, rule_detail::parse_out_dtype, dtype_name);
  if (dtype != "bf16") add("out_dtype", dtype);
  if (!name.empty()) add("name", name);
  return out;
}

std::string_view rule_form_name(RuleForm f) {
  switch (f) {
    case RuleForm::kPreset: return "preset";
    case RuleForm::kFields: return "fields";
    case RuleForm::kMmType: return "mm_type";
    case RuleForm::kFile: return "file";
  }
  QJIT_THROW("rules", "invalid RuleForm value {}", static_cast<int>(f));
}

std::vector<std::string> RuleSet::notes() const {
  std::vector<std::string> out;
  for (const auto& b : ignored_backends) {
    out.push_back(fmt::format("mm_type backend '{}' ignored: qjit generates its own kernels", b));
  }
  return out;
}

bool operator==(const ResolvedRule& a, const ResolvedRule& b) {
  auto key = [](const ResolvedRule& r) {
    return std::tie(r.label, r.module_path, r.weight, r.act, r.act_static_scale, r.weight_granularity,
                    r.act_granularity, r.out_dtype);
  };
  return key(a) == key(b);
}

}  // namespace qjit
