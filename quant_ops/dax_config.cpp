// DaxConfig::parse: a DAX-style config from JSON text or a .json file.

#include "quant_ops/dax_config.hpp"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "common/text_file.hpp"
#include "quant_ops/rule_text.hpp"

namespace qjit {

DaxConfig DaxConfig::parse(const std::string& text, std::vector<std::string>* notes, const std::string& option) {
  std::error_code ec;
  const bool file = text.ends_with(".json") || std::filesystem::is_regular_file(text, ec);
  if (!file) return parse_json(text, option, notes);
  const std::string where = fmt::format("{} {}", option, rule_detail::clip(text));
  return parse_json(read_text_file(text, kMaxRulesFileBytes, "rules", where), where, notes);
}

DaxConfig DaxConfig::parse_json(std::string_view text, const std::string& where, std::vector<std::string>* notes) {
  using rule_detail::clip;
  QJIT_CHECK_GEN("rules", text.size() <= kMaxRulesFileBytes, "{}: {} bytes is longer than the {} allowed", where,
                 text.size(), kMaxRulesFileBytes);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    QJIT_THROW("rules", "{}: not JSON: {}", where, e.what());
  }
  QJIT_CHECK_GEN("rules", j.is_object() && !j.empty(),
                 "{}: expected a non-empty JSON object of module name -> rule text or null, got {}", where,
                 clip(j.dump()));
  QJIT_CHECK_GEN("rules", j.size() <= kMaxDaxEntries, "{}: {} entries; a config may hold at most {}", where,
                 j.size(), kMaxDaxEntries);
  DaxConfig config;
  for (const auto& [key, value] : j.items()) {
    if (value.is_null()) {
      config.entries.emplace(key, std::nullopt);
      continue;
    }
    QJIT_CHECK_GEN("rules", value.is_string(), "{}: entry '{}': expected a rule (a string) or null, got {}", where,
                   clip(key), clip(value.dump()));
    const std::string rule_text = value.get<std::string>();
    RuleSet one;
    try {
      one = rule_detail::parse_text(rule_text, /*allow_file=*/false);
    } catch (const Error& e) {
      QJIT_THROW("rules", "{}: entry '{}': {}", where, clip(key), e.message());
    }
    if (notes) {
      for (std::string& n : one.notes()) notes->push_back(std::move(n));
    }
    config.entries.emplace(key, std::move(one.rules.front()));
  }
  return config;
}

}  // namespace qjit
