// libFuzzer target: every text form a user writes a rule in (quant_ops/rule.hpp): the first
// byte picks the form (field list or any inline --rule text, a JSON rules file's text, a DAX
// config, a LightX2V mm_type name), the rest is the text. Every bad input must be a
// qjit::Error; every rule read must resolve, print (str()) and read back to itself.

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/error.hpp"
#include "quant_ops/dax_config.hpp"
#include "quant_ops/rule.hpp"
#include "quant_ops/rule_text.hpp"

namespace {

// str() is canonical: it reads back to the same rule, which prints the same text.
void check_round_trip(const qjit::Rule& rule) {
  const qjit::ResolvedRule resolved = rule.resolve();
  const std::string text = rule.str();
  const qjit::Rule again = qjit::rule_detail::parse_text(text, /*allow_file=*/false).rules.at(0);
  if (again.str() != text || !(again.resolve() == resolved)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    switch (data[0] % 4) {
      case 0:
        for (const qjit::Rule& r : qjit::rule_detail::parse_text(text, /*allow_file=*/false).rules) check_round_trip(r);
        break;
      case 1:
        for (const qjit::Rule& r : qjit::rule_detail::parse_rules_json(text, "fuzz").rules) check_round_trip(r);
        break;
      case 2:
        for (const auto& [key, rule] : qjit::DaxConfig::parse_json(text, "fuzz").entries) {
          if (rule) check_round_trip(*rule);
        }
        break;
      case 3: check_round_trip(qjit::rule_detail::parse_mm_type(text).rule); break;
    }
  } catch (const qjit::Error&) {
  }
  return 0;
}
