#pragma once
// What Rule::apply, RuleSet::apply and DaxConfig::apply take besides the model, and what they
// report: per Linear layer the rule it got and why, and the rules nothing used. Rules and
// their matching: rule.hpp and README.md, section "Rules"; the DAX-style map: dax_config.hpp.

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/tensor.hpp"

namespace qjit {

struct ApplyOptions {
  // The calibrated activation scale of each layer whose rule has act_static_scale, by dotted
  // path (one f32 value, finite, > 0), e.g. act_scales_for(Calibrator's result) of
  // quant_ops/calibration.hpp: a static rule's layer without one is an error, and so is a
  // scale for a path that is not a layer getting a static rule.
  std::map<std::string, Tensor> act_scales{};
  // Decide and check everything, quantize and replace nothing: the report says what apply
  // would do (bytes_after from the shapes), as `qjit rules explain` prints it. The one check
  // left out needs a QuantLinear to exist: whether each parent's slot takes one.
  bool dry_run = false;
};

/// What happened to one Linear layer.
struct LayerApplied {
  enum class Outcome {
    kQuantized,  // replaced by a QuantLinear
    kSkipped,    // a rule or config said weight none (or a DAX entry none): kept in high precision
    kKept,       // no rule matched (no DAX entry covers it): kept in high precision
  };
  std::string path;  // dotted
  std::vector<std::string> aliases;  // the model's other names of the layer (diffusers' for Wan)
  Outcome outcome = Outcome::kKept;
  // A rule list: the index and label of the rule that matched (first match wins).
  std::optional<std::size_t> rule_index;
  // The matched rule's label (a DAX entry's rule too); empty when none matched or a DAX
  // entry said none.
  std::string rule_label;
  // A DAX config: the entry the layer's config came from ("" is the whole model's entry).
  std::optional<std::string> config_key;
  // Why, in words: "rule 1 'int8' matched", "skipped (weight none): rule 0 'keep-head'
  // matched", "no rule matched (kept)"; a DAX config's "inherited from parent 'blocks.0':
  // rule 'int8'", "own entry: rule 'int8'", "skipped (none): inherited from parent 'head'",
  // "no config entry covers it (kept)".
  std::string why;
  std::int64_t bytes_before = 0;  // the weight matrix (QuantLinear::weight_bytes)
  std::int64_t bytes_after = 0;   // == bytes_before unless quantized
};

/// "quantized", "skipped", "kept".
std::string_view outcome_name(LayerApplied::Outcome outcome);

struct ApplyReport {
  std::vector<LayerApplied> layers;  // every Linear layer of the model, pre-order
  struct UnusedRule {
    std::size_t index = 0;
    std::string label;
  };
  std::vector<UnusedRule> unused_rules;        // a rule list's rules that no layer got
  std::vector<std::string> unused_config_keys;  // a DAX config's entries no layer got

  std::size_t count(LayerApplied::Outcome outcome) const;
  const LayerApplied* find(const std::string& path) const;  // null if path is not a layer
  std::int64_t bytes_before() const;
  std::int64_t bytes_after() const;
  /// A table: one line per layer (path, outcome, why), then the unused rules or entries and
  /// the weight bytes before and after.
  std::string str() const;
};

}  // namespace qjit
