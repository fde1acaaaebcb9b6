// Rule::apply, RuleSet::apply and DaxConfig::apply: decide what every Linear layer gets,
// check everything, quantize, then replace. The three share one executor, so a rule list and
// a DAX config are checked and reported the same way.

#include <fmt/format.h>

#include <algorithm>
#include <memory>

#include "common/error.hpp"
#include "quant_ops/dax_config.hpp"
#include "quant_ops/quant_linear.hpp"
#include "quant_ops/rule_text.hpp"
#include "runtime/linear.hpp"
#include "runtime/module.hpp"

namespace qjit {

namespace {

// Whether DAX key `key` covers `path`: equal, a dotted prefix of it, or "" (everything).
bool covers(std::string_view key, std::string_view path) {
  return key.empty() || key == path || (path.size() > key.size() && path.starts_with(key) && path[key.size()] == '.');
}

constexpr const char* kSub = "rules";

using Outcome = LayerApplied::Outcome;

// One Linear layer and what it is to get.
struct Planned {
  LayerApplied report;
  Linear* linear = nullptr;
  std::optional<ResolvedRule> rule;  // set exactly when report.outcome is kQuantized
  std::string who;                   // the rule or entry, for messages: "rule 1 'int8'"
};

std::string rule_ref(std::size_t index, const std::string& label) { return fmt::format("rule {} '{}'", index, label); }

std::string entry_ref(const std::string& key) {
  return key.empty() ? std::string("config entry '' (the whole model)") : fmt::format("config entry '{}'", key);
}

// The parent's record of the child at `path` (which exists).
const Module::Child& slot_of(Module& model, const std::string& path) {
  const std::size_t dot = path.rfind('.');
  Module& parent = dot == std::string::npos ? model : model.at(path.substr(0, dot));
  const std::string name = dot == std::string::npos ? path : path.substr(dot + 1);
  for (const Module::Child& c : parent.children()) {
    if (c.name == name) return c;
  }
  QJIT_THROW(kSub, "layer '{}' is not a child of its parent", path);  // cannot happen: the path was listed
}

// Every static scale given belongs to a layer that is quantized under a static rule.
void check_stray_scales(const std::vector<Planned>& plan, const ApplyOptions& options) {
  for (const auto& entry : options.act_scales) {
    const std::string& path = entry.first;  // NOTE: not a structured binding: Clang 14 cannot capture those
    const auto it = std::find_if(plan.begin(), plan.end(), [&](const Planned& p) { return p.report.path == path; });
    QJIT_CHECK_GEN(kSub, it != plan.end(),
                   "ApplyOptions::act_scales has a scale for '{}', which is not a Linear layer of the model", path);
    QJIT_CHECK_GEN(kSub, it->report.outcome == Outcome::kQuantized,
                   "ApplyOptions::act_scales has a scale for layer '{}', which is not quantized ({})", path,
                   it->report.why);
  }
}

// Checks everything, quantizes every layer to be quantized, checks that each parent takes a
// QuantLinear where the Linear was, and only then replaces: any error leaves the model as it
// was.
ApplyReport execute(Module& model, std::vector<Planned> plan, const ApplyOptions& options, ApplyReport report) {
  auto scale_for = [&](const Planned& p) -> std::optional<Tensor> {
    const auto it = options.act_scales.find(p.report.path);
    if (it == options.act_scales.end()) return std::nullopt;
    return it->second;
  };
  for (const Planned& p : plan) {
    if (p.report.outcome != Outcome::kQuantized) continue;
    const std::string& path = p.report.path;
    const std::optional<Tensor> scale = scale_for(p);
    if (p.rule->act_static_scale) {
      QJIT_CHECK_GEN(kSub, scale.has_value(),
                     "layer '{}', {}: the rule has a static activation scale (act_static_scale=true) and the layer "
                     "has no calibrated scale: calibrate it (quant_ops/calibration.hpp, act_scales_for) or give it "
                     "as ApplyOptions::act_scales[\"{}\"]",
                     path, p.who, path);
    } else {
      QJIT_CHECK_GEN(kSub, !scale.has_value(),
                     "layer '{}', {}: ApplyOptions::act_scales has a static activation scale for the layer, but the "
                     "rule quantizes activations {}",
                     path, p.who, p.rule->weight_only() ? "not at all (weight-only)" : "dynamically");
    }
    try {
      QuantLinear::check(*p.linear, *p.rule, scale);
    } catch (const Error& e) {
      QJIT_THROW(kSub, "layer '{}', {}: {}", path, p.who, e.message());
    }
  }
  check_stray_scales(plan, options);
  if (options.dry_run) {
    for (Planned& p : plan) {
      const Tensor& w = p.linear->weight();
      p.report.bytes_before = w.numel() * static_cast<std::int64_t>(dtype_size(w.dtype()));
      p.report.bytes_after = p.rule ? QuantLinear::weight_bytes(*p.linear, *p.rule).after : p.report.bytes_before;
      report.layers.push_back(std::move(p.report));
    }
    return report;
  }

  std::vector<std::shared_ptr<QuantLinear>> built(plan.size());
  for (std::size_t i = 0; i < plan.size(); ++i) {
    const Planned& p = plan[i];
    if (p.report.outcome != Outcome::kQuantized) continue;
    try {
      built[i] = QuantLinear::from(*p.linear, *p.rule, scale_for(p));
    } catch (const Error& e) {
      QJIT_THROW(kSub, "layer '{}', {}: {}", p.report.path, p.who, e.message());
    }
    const Module::Child& slot = slot_of(model, p.report.path);
    QJIT_CHECK_GEN(kSub, slot.accepts(*built[i]),
                   "layer '{}', {}: its parent calls it as a {}, which a QuantLinear is not (nothing was replaced)",
                   p.report.path, p.who, slot.interface_name);
  }

  // NOTE: nothing below throws (every slot accepts its replacement), so the model is either
  // fully updated or untouched.
  for (std::size_t i = 0; i < plan.size(); ++i) {
    Planned& p = plan[i];
    const Tensor& w = p.linear->weight();
    p.report.bytes_before = w.numel() * static_cast<std::int64_t>(dtype_size(w.dtype()));
    p.report.bytes_after = p.report.bytes_before;
    if (built[i]) {
      p.report.bytes_after = built[i]->weight_bytes().after;
      model.replace(p.report.path, built[i]);
    }
    report.layers.push_back(std::move(p.report));
  }
  return report;
}

}  // namespace

std::string_view outcome_name(Outcome outcome) {
  switch (outcome) {
    case Outcome::kQuantized: return "quantized";
    case Outcome::kSkipped: return "skipped";
    case Outcome::kKept: return "kept";
  }
  QJIT_THROW(kSub, "invalid LayerApplied::Outcome value {}", static_cast<int>(outcome));
}

std::size_t ApplyReport::count(Outcome outcome) const {
  return static_cast<std::size_t>(
      std::count_if(layers.begin(), layers.end(), [&](const LayerApplied& l) { return l.outcome == outcome; }));
}

const LayerApplied* ApplyReport::find(const std::string& path) const {
  for (const LayerApplied& l : layers) {
    if (l.path == path) return &l;
  }
  return nullptr;
}

std::int64_t ApplyReport::bytes_before() const {
  std::int64_t b = 0;
  for (const LayerApplied& l : layers) b += l.bytes_before;
  return b;
}

std::int64_t ApplyReport::bytes_after() const {
  std::int64_t b = 0;
  for (const LayerApplied& l : layers) b += l.bytes_after;
  return b;
}

std::string ApplyReport::str() const {
  std::size_t width = 5;
  for (const LayerApplied& l : layers) width = std::max(width, l.path.size());
  std::string out = fmt::format("{:<{}}  {:<9}  why\n", "layer", width, "outcome");
  for (const LayerApplied& l : layers) out += fmt::format("{:<{}}  {:<9}  {}\n", l.path, width, outcome_name(l.outcome), l.why);
  for (const UnusedRule& r : unused_rules) out += fmt::format("unused: {}\n", rule_ref(r.index, r.label));
  for (const std::string& k : unused_config_keys) out += fmt::format("unused: {}\n", entry_ref(k));
  out += fmt::format("{} quantized, {} skipped, {} kept; weights {} -> {} bytes\n", count(Outcome::kQuantized),
                     count(Outcome::kSkipped), count(Outcome::kKept), bytes_before(), bytes_after());
  return out;
}

ApplyReport Rule::apply(Module& model) const { return apply(model, ApplyOptions{}); }

ApplyReport Rule::apply(Module& model, const ApplyOptions& options) const {
  RuleSet set;
  set.rules = {*this};
  return set.apply(model, options);
}

ApplyReport RuleSet::apply(Module& model) const { return apply(model, ApplyOptions{}); }

ApplyReport RuleSet::apply(Module& model, const ApplyOptions& options) const {
  std::vector<ResolvedRule> resolved;
  for (std::size_t i = 0; i < rules.size(); ++i) {
    resolved.push_back(rule_detail::resolve_rule(rules[i], rule_ref(i, rules[i].label())));
  }
  std::vector<bool> used(rules.size(), false);
  std::vector<Planned> plan;
  for (const auto& [path, linear] : model.modules_of_type<Linear>()) {
    Planned p;
    p.report.path = path;
    p.linear = linear;
    p.report.why = "no rule matched (kept)";
    const std::vector<std::string> aliases = model.path_aliases(path);
    p.report.aliases = aliases;
    // NOTE: first match wins (Qwix): later rules never see a layer an earlier one matched,
    // even when that one skips it. A rule matches the path or one of its aliases (diffusers'
    // names of a Wan layer), so either naming selects the same layers.
    for (std::size_t i = 0; i < resolved.size(); ++i) {
      const std::string* as = nullptr;
      if (!resolved[i].module_regex->full_match(path)) {
        for (const std::string& a : aliases) {
          if (resolved[i].module_regex->full_match(a)) as = &a;
        }
        if (as == nullptr) continue;
      }
      used[i] = true;
      p.who = rule_ref(i, resolved[i].label);
      if (as != nullptr) p.who += fmt::format(" (as '{}')", *as);
      p.report.rule_index = i;
      p.report.rule_label = resolved[i].label;
      if (resolved[i].skips()) {
        p.report.outcome = Outcome::kSkipped;
        p.report.why = fmt::format("skipped (weight none): {} matched", p.who);
      } else {
        p.report.outcome = Outcome::kQuantized;
        p.report.why = fmt::format("{} matched", p.who);
        p.rule = resolved[i];
      }
      break;
    }
    plan.push_back(std::move(p));
  }
  ApplyReport report;
  for (std::size_t i = 0; i < rules.size(); ++i) {
    if (!used[i]) report.unused_rules.push_back({i, resolved[i].label});
  }
  return execute(model, std::move(plan), options, std::move(report));
}

const std::pair<const std::string, std::optional<Rule>>* DaxConfig::entry_for(std::string_view path) const {
  const std::pair<const std::string, std::optional<Rule>>* best = nullptr;
  for (const auto& e : entries) {
    if (covers(e.first, path) && (best == nullptr || e.first.size() > best->first.size())) best = &e;
  }
  return best;
}

ApplyReport DaxConfig::apply(Module& model) const { return apply(model, ApplyOptions{}); }

ApplyReport DaxConfig::apply(Module& model, const ApplyOptions& options) const {
  std::map<std::string, std::optional<ResolvedRule>> resolved;
  // Every module's path and its aliases: what a key may name (or be a dotted prefix of, for
  // an alias scheme whose parent has no module of its own, like diffusers' condition_embedder).
  std::vector<std::string> names;
  for (const NamedModule& nm : model.named_modules()) {
    names.push_back(nm.path);
    for (std::string& a : model.path_aliases(nm.path)) names.push_back(std::move(a));
  }
  const auto names_a_module = [&](const std::string& key) {
    return std::any_of(names.begin(), names.end(), [&](const std::string& n) { return covers(key, n); });
  };
  for (const auto& [key, rule] : entries) {
    if (!key.empty() && !model.contains(key) && !names_a_module(key)) {
      try {
        model.at(key);
      } catch (const Error& e) {
        QJIT_THROW(kSub, "{}: {}", entry_ref(key), e.message());
      }
    }
    std::optional<ResolvedRule> r;
    if (rule) {
      QJIT_CHECK_GEN(kSub, rule->module_path == ".*",
                     "{}: its rule '{}' sets module_path '{}'; in a DAX config the key selects the modules, so "
                     "leave module_path at its default \".*\"",
                     entry_ref(key), rule->label(), rule->module_path);
      r = rule_detail::resolve_rule(*rule, fmt::format("{}: rule '{}'", entry_ref(key), rule->label()));
    }
    resolved.emplace(key, std::move(r));
  }
  std::map<std::string, bool> used;
  std::vector<Planned> plan;
  for (const auto& [path, linear] : model.modules_of_type<Linear>()) {
    Planned p;
    p.report.path = path;
    p.linear = linear;
    p.report.aliases = model.path_aliases(path);
    const auto* entry = entry_for(path);
    std::string as;  // the alias the entry covers the layer as, when it does not cover its path
    for (const std::string& a : p.report.aliases) {
      const auto* e = entry_for(a);
      if (e != nullptr && (entry == nullptr || e->first.size() > entry->first.size())) entry = e, as = a;
    }
    if (entry == nullptr) {
      p.report.why = "no config entry covers it (kept)";
      plan.push_back(std::move(p));
      continue;
    }
    const std::string& key = entry->first;
    used[key] = true;
    const std::optional<ResolvedRule>& rule = resolved.at(key);
    p.report.config_key = key;
    std::string from = key == path || (!as.empty() && key == as) ? std::string("own entry")
                       : key.empty()            ? std::string("inherited from the whole model's entry ''")
                                                : fmt::format("inherited from parent '{}'", key);
    if (!as.empty()) from += fmt::format(" (as '{}')", as);
    p.who = rule ? fmt::format("{}, rule '{}'", entry_ref(key), rule->label) : entry_ref(key);
    if (!rule) {
      p.report.outcome = Outcome::kSkipped;
      p.report.why = fmt::format("skipped (none): {}", from);
    } else if (rule->skips()) {
      p.report.outcome = Outcome::kSkipped;
      p.report.rule_label = rule->label;
      p.report.why = fmt::format("skipped (weight none): {}: rule '{}'", from, rule->label);
    } else {
      p.report.outcome = Outcome::kQuantized;
      p.report.rule_label = rule->label;
      p.report.why = fmt::format("{}: rule '{}'", from, rule->label);
      p.rule = rule;
    }
    plan.push_back(std::move(p));
  }
  ApplyReport report;
  for (const auto& [key, rule] : entries) {
    if (!used.count(key)) report.unused_config_keys.push_back(key);
  }
  return execute(model, std::move(plan), options, std::move(report));
}

}  // namespace qjit
