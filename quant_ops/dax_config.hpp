#pragma once
// A DAX-style quantization config: a map from module name to the rule its subtree gets, or
// to none (keep the subtree in high precision). A key is a module's dotted path; it covers
// that module and everything below it, and a layer gets the entry of its nearest covering
// module (the longest key that is its path or a dotted prefix of it), so children inherit
// their parent's config unless an entry of their own overrides it; "" covers the whole model.
//
//   qjit::DaxConfig{.entries = {{"", qjit::Rule{.weight = "int8", .act = "int8"}},
//                               {"text_embedding", std::nullopt},
//                               {"head", std::nullopt}}}.apply(model);
//
// The key selects the modules, so an entry's rule keeps module_path at its default ".*".
// Applying runs through the same checks and replacement as RuleSet::apply (rule.hpp).

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "quant_ops/rule.hpp"
#include "quant_ops/rule_apply.hpp"

namespace qjit {

struct DaxConfig {
  // Module name -> its config, or std::nullopt: skip (a rule with weight none skips too).
  std::map<std::string, std::optional<Rule>> entries{};

  /// The entry covering the module at `path`: the longest key equal to it or a prefix of it
  /// ending at a '.' ("blocks.1" covers "blocks.1.ffn.0", not "blocks.10.ffn.0"); "" covers
  /// every path. Null when no entry covers it.
  const std::pair<const std::string, std::optional<Rule>>* entry_for(std::string_view path) const;

  /// Puts a QuantLinear in place of every Linear layer whose entry has a quantizing rule;
  /// layers under a none entry, or under no entry, stay Linear. Errors, all before any layer
  /// is replaced and naming the entry and the layer: a key that names no module of `model`,
  /// an entry's rule that does not resolve or sets module_path, and everything RuleSet::apply
  /// checks per layer. The report gives each layer's entry (LayerApplied::config_key: which
  /// parent it inherited from) and the entries no layer got.
  ApplyReport apply(Module& model) const;
  ApplyReport apply(Module& model, const ApplyOptions& options) const;

  /// A config written as JSON: an object mapping module names to one rule (any one-rule
  /// --rule text but a file) or null (skip), e.g. {"": "int8", "head": null}. `text` is the
  /// JSON itself or the path of a .json file (at most kMaxRulesFileBytes, kMaxDaxEntries
  /// entries). What a rule's parse reports (an mm_type's ignored backend) goes to `notes`.
  /// Throws qjit::Error naming the input (`option`, e.g. "--dax") and the entry.
  static DaxConfig parse(const std::string& text, std::vector<std::string>* notes = nullptr,
                         const std::string& option = "--dax");
  /// parse() on JSON text; `where` names it in messages.
  static DaxConfig parse_json(std::string_view json, const std::string& where,
                              std::vector<std::string>* notes = nullptr);
};

inline constexpr std::size_t kMaxDaxEntries = 16384;

}  // namespace qjit
