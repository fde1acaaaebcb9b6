// JSON rules files: {"version": 1, "rules": [ {rule fields...} | "rule text", ... ]} or one
// rule object. Schema: README.md, section "Rules".

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/error.hpp"
#include "common/text_file.hpp"
#include "quant_ops/rule_text.hpp"

namespace qjit::rule_detail {

namespace {

using nlohmann::json;

Rule rule_from_json(const json& j, const std::string& where, std::vector<std::string>& backends) {
  if (j.is_string()) {
    // Any single-rule text form: "int8", "weight=none,module_path=head\\..*", an mm_type.
    const std::string text = j.get<std::string>();
    RuleSet inner;
    try {
      inner = parse_text(text, /*allow_file=*/false);
    } catch (const Error& e) {
      QJIT_THROW("rules", "{}: {}", where, e.message());
    }
    backends.insert(backends.end(), inner.ignored_backends.begin(), inner.ignored_backends.end());
    return inner.rules.front();
  }
  if (!j.is_object()) {
    QJIT_THROW("rules", "{}: expected a rule object or a rule string, got {}", where, j.type_name());
  }
  Fields fields;
  for (const auto& [key, value] : j.items()) {
    const std::string k = canonical_key(key);
    if (value.is_string()) {
      fields.emplace_back(k, value.get<std::string>());
    } else if (value.is_boolean()) {
      fields.emplace_back(k, value.get<bool>() ? "true" : "false");
    } else {
      QJIT_THROW("rules", "{}: field {}: expected a string (or a bool for act_static_scale), got {}", where, k,
                 value.type_name());
    }
  }
  return rule_from_fields(fields, where, backends);
}

}  // namespace

RuleSet parse_rules_file(const std::string& path) {
  const std::string where = fmt::format("rules file '{}'", clip(path));
  RuleSet set = parse_rules_json(read_text_file(path, kMaxRulesFileBytes, "rules", where), where);
  set.source = path;
  return set;
}

RuleSet parse_rules_json(std::string_view text, const std::string& where) {
  RuleSet set;
  set.form = RuleForm::kFile;
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    QJIT_THROW("rules", "{}: not valid JSON: {}", where, e.what());
  }
  if (!j.is_object()) {
    QJIT_THROW("rules", "{}: expected an object ({{\"rules\": [...]}} or one rule), got {}", where, j.type_name());
  }
  if (!j.contains("rules")) {  // one rule object
    set.rules.push_back(rule_from_json(j, where, set.ignored_backends));
    resolve_rule(set.rules.back(), where);
    return set;
  }
  for (const auto& [key, value] : j.items()) {
    if (key != "rules" && key != "version") {
      QJIT_THROW("rules", "{}: unknown top-level key '{}' (expected rules and optionally version)", where, key);
    }
  }
  if (j.contains("version") && !(j["version"].is_number_integer() && j["version"].get<int>() == kRulesFileVersion)) {
    QJIT_THROW("rules", "{}: version {} is not supported (this qjit reads version {})", where, j["version"].dump(),
               kRulesFileVersion);
  }
  const json& rules = j["rules"];
  if (!rules.is_array() || rules.empty()) {
    QJIT_THROW("rules", "{}: \"rules\" must be a non-empty array of rules, got {}", where,
               rules.is_array() ? "an empty array" : rules.type_name());
  }
  QJIT_CHECK_GEN("rules", rules.size() <= kMaxRulesPerFile, "{}: {} rules; a file may hold at most {}", where,
                 rules.size(), kMaxRulesPerFile);
  for (size_t k = 0; k < rules.size(); ++k) {
    std::string rule_where = fmt::format("{}, rule {}", where, k + 1);
    set.rules.push_back(rule_from_json(rules[k], rule_where, set.ignored_backends));
    if (!set.rules.back().name.empty()) rule_where += fmt::format(" ('{}')", clip(set.rules.back().name));
    resolve_rule(set.rules.back(), rule_where);
  }
  return set;
}

}  // namespace qjit::rule_detail
