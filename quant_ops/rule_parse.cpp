// Rule::parse: which form the text is, presets, and comma lists of fields. The mm_type and
// JSON file forms live in rule_mm_type.cpp and rule_file.cpp.

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "common/error.hpp"
#include "quant_ops/presets.hpp"
#include "quant_ops/rule.hpp"
#include "quant_ops/rule_text.hpp"

namespace qjit {

namespace rule_detail {

namespace {

constexpr std::string_view kForms =
    "a rule is a preset, a field list (weight=int8,act=int8,...), a LightX2V mm_type "
    "(W-int8-channel-sym-A-int8-channel-sym-dynamic-Vllm) or the path of a JSON rules file";

bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

std::string preset_names() {
  std::vector<std::string> names;
  for (const Preset& p : presets()) names.push_back(p.name);
  names.push_back("fp8-e4m3");
  return fmt::format("{}", fmt::join(names, ", "));
}

bool is_preset(std::string_view name) {
  const std::string key = lower(trim(name));
  if (key == "fp8-e4m3") return true;
  return std::any_of(presets().begin(), presets().end(), [&](const Preset& p) { return p.name == key; });
}

bool parse_bool(std::string_view value, std::string_view where) {
  const std::string v = lower(trim(value));
  if (v == "true" || v == "1" || v == "yes" || v == "on") return true;
  if (v == "false" || v == "0" || v == "no" || v == "off") return false;
  QJIT_THROW("rules", "{}: field act_static_scale: '{}' is not a bool (expected true or false)", where, value);
}

// Checks one value and returns its canonical spelling; the message names the field and, from
// the value parsers of qtype.hpp / dtype.hpp, the valid values.
template <class Parse, class Name>
std::string canonical(std::string_view value, std::string_view where, std::string_view field, Parse parse,
                      Name name) {
  try {
    return std::string(name(parse(trim(value))));
  } catch (const Error& e) {
    QJIT_THROW("rules", "{}: field {}: {}", where, field, e.message());
  }
}

void set_field(Rule& r, const std::string& key, std::string_view value, std::string_view where) {
  if (key == "module_path") {
    r.module_path = std::string(value);  // checked by resolve(), which reports the regex error
  } else if (key == "weight") {
    r.weight = canonical(value, where, key, parse_qtype, qtype_name);
  } else if (key == "act") {
    r.act = canonical(value, where, key, parse_qtype, qtype_name);
  } else if (key == "act_static_scale") {
    r.act_static_scale = parse_bool(value, where);
  } else if (key == "weight_granularity" || key == "act_granularity") {
    // Empty is allowed: it asks for the default (see Rule).
    std::string g = trim(value).empty() ? "" : canonical(value, where, key, parse_granularity, granularity_name);
    (key == "weight_granularity" ? r.weight_granularity : r.act_granularity) = std::move(g);
  } else if (key == "out_dtype") {
    r.out_dtype = canonical(value, where, key, parse_out_dtype, dtype_name);
  } else if (key == "name") {
    r.name = std::string(value);  // unquoted values arrive trimmed; quoted ones as written
  } else {
    QJIT_THROW("rules", "{}: unknown field '{}' (fields: {}; or preset=NAME / mm_type=NAME as the base)", where, key,
               fmt::join(field_names(), ", "));
  }
}

}  // namespace

std::string trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return std::string(s);
}

std::string clip(std::string_view s, std::size_t max) {
  if (s.size() <= max) return std::string(s);
  return fmt::format("{}... ({} bytes)", s.substr(0, max), s.size());
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string canonical_key(std::string_view key) {
  std::string out = lower(trim(key));
  std::replace(out.begin(), out.end(), '-', '_');
  return out;
}

const std::vector<std::string_view>& field_names() {
  static const std::vector<std::string_view> names = {
      "module_path", "weight", "act", "act_static_scale", "weight_granularity", "act_granularity", "out_dtype", "name"};
  return names;
}

Fields split_fields(std::string_view text, std::string_view where) {
  Fields out;
  size_t i = 0;
  const size_t n = text.size();
  auto skip_space = [&] {
    while (i < n && is_space(text[i])) ++i;
  };
  while (true) {
    skip_space();
    const size_t key_start = i;
    while (i < n && text[i] != '=' && text[i] != ',') ++i;
    const std::string key = canonical_key(text.substr(key_start, i - key_start));
    if (i == n || text[i] == ',') {
      const std::string item = trim(text.substr(key_start, i - key_start));
      QJIT_THROW("rules", "{}: expected name=value, got '{}'{}", where, item,
                 item.empty() ? " (an empty item between commas)" : "");
    }
    if (key.empty()) QJIT_THROW("rules", "{}: a field with no name before '=' at offset {}", where, key_start);
    ++i;  // '='
    skip_space();
    std::string value;
    if (i < n && (text[i] == '"' || text[i] == '\'')) {
      const char quote = text[i++];
      bool closed = false;
      while (i < n) {
        if (text[i] == quote) {
          if (i + 1 < n && text[i + 1] == quote) {  // a doubled quote stands for one
            value += quote;
            i += 2;
            continue;
          }
          ++i;
          closed = true;
          break;
        }
        value += text[i++];
      }
      if (!closed) QJIT_THROW("rules", "{}: field {}: unterminated {} quote", where, key, quote);
      skip_space();
      if (i < n && text[i] != ',') {
        QJIT_THROW("rules", "{}: field {}: unexpected '{}' after the closing quote (expected ',' or the end)", where,
                   key, text.substr(i));
      }
    } else {
      const size_t start = i;
      while (i < n && text[i] != ',') ++i;
      value = trim(text.substr(start, i - start));
    }
    if (std::any_of(out.begin(), out.end(), [&](const auto& kv) { return kv.first == key; })) {
      QJIT_THROW("rules", "{}: field {} given twice", where, key);
    }
    out.emplace_back(key, std::move(value));
    if (i == n) return out;
    ++i;  // ','
  }
}

std::string quote_if_needed(std::string_view value) {
  const bool plain = !value.empty() && !is_space(value.front()) && !is_space(value.back()) &&
                     value.find_first_of(",\"'") == std::string_view::npos;
  if (plain) return std::string(value);
  std::string out = "\"";
  for (char c : value) {
    if (c == '"') out += '"';  // doubled: split_fields reads it as one
    out += c;
  }
  return out + "\"";
}

Rule rule_from_fields(const Fields& fields, std::string_view where, std::vector<std::string>& backends) {
  Rule r;
  const std::pair<std::string, std::string>* base = nullptr;
  for (const auto& kv : fields) {
    if (kv.first != "preset" && kv.first != "mm_type") continue;
    if (base) QJIT_THROW("rules", "{}: both {} and {} given; a rule has one base", where, base->first, kv.first);
    base = &kv;
  }
  try {
    if (base && base->first == "preset") {
      r = Rule::preset(base->second);
    } else if (base) {
      MmType m = parse_mm_type(base->second);
      r = std::move(m.rule);
      if (!m.backend.empty()) backends.push_back(std::move(m.backend));
    }
  } catch (const Error& e) {
    QJIT_THROW("rules", "{}: field {}: {}", where, base->first, e.message());
  }
  for (const auto& [key, value] : fields) {
    if (key != "preset" && key != "mm_type") set_field(r, key, value, where);
  }
  return r;
}

}  // namespace rule_detail

Rule Rule::preset(std::string_view name) {
  const std::string key = rule_detail::lower(rule_detail::trim(name));
  if (!rule_detail::is_preset(key)) {
    QJIT_THROW("rules", "unknown preset '{}' (presets: {})", name, rule_detail::preset_names());
  }
  const Preset& p = find_preset(key);
  Rule r;
  r.weight = qtype_name(p.weight);
  r.act = qtype_name(p.act);
  r.act_static_scale = p.act_static;
  r.weight_granularity = granularity_name(p.weight_granularity);
  if (p.act != QType::kNone) r.act_granularity = granularity_name(p.act_granularity);
  r.name = p.name;
  return r;
}

RuleSet Rule::parse(std::string_view text) { return rule_detail::parse_text(text, /*allow_file=*/true); }

RuleSet rule_detail::parse_text(std::string_view text, bool allow_file) {
  using namespace rule_detail;
  // NOTE: bounded before anything copies it: a rule's text is a few hundred bytes, and every
  // layer's report quotes its rule.
  QJIT_CHECK_GEN("rules", text.size() <= kMaxRuleTextBytes, "rule '{}': {} bytes is longer than the {} a rule may take",
                 clip(text), text.size(), kMaxRuleTextBytes);
  RuleSet set;
  set.source = trim(text);
  const std::string& s = set.source;
  const std::string where = fmt::format("rule '{}'", clip(s));
  if (s.empty()) QJIT_THROW("rules", "empty rule: {}", kForms);
  // NOTE: the order matters only for text that could be two forms: a path ending in .json
  // is a file even with '=' in it, and a preset wins over a file of the same name.
  const bool json_path = lower(s).ends_with(".json");
  if (!json_path && s.find('=') != std::string::npos) {
    set.form = RuleForm::kFields;
    set.rules.push_back(rule_from_fields(split_fields(s, where), where, set.ignored_backends));
  } else if (!json_path && looks_like_mm_type(s)) {
    set.form = RuleForm::kMmType;
    MmType m = parse_mm_type(s);
    set.rules.push_back(std::move(m.rule));
    if (!m.backend.empty()) set.ignored_backends.push_back(std::move(m.backend));
  } else if (!json_path && is_preset(s)) {
    set.form = RuleForm::kPreset;
    set.rules.push_back(Rule::preset(s));
  } else if (std::error_code ec; allow_file && (json_path || std::filesystem::is_regular_file(s, ec))) {
    return parse_rules_file(s);  // validates its rules, naming the file and the rule's index
  } else {
    QJIT_THROW("rules", "unknown preset '{}' (presets: {}); {}{}", clip(s), preset_names(), kForms,
               allow_file ? "" : " (a rules file or DAX config cannot include another file)");
  }
  for (const Rule& r : set.rules) resolve_rule(r, where);
  return set;
}

Rule Rule::parse_one(std::string_view text) {
  RuleSet set = parse(text);
  if (set.rules.size() != 1) {
    QJIT_THROW("rules", "rule '{}': the file holds {} rules where one was expected", rule_detail::clip(set.source),
               set.rules.size());
  }
  return std::move(set.rules.front());
}

}  // namespace qjit
