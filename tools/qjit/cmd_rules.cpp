// qjit rules explain --model M (--rule R [--rule R2 ...] | --dax CONFIG) [--blocks N]
// [--act-scales F] [--json]: which rule each linear layer of a Wan2.1 model gets and why, and
// the rules (or DAX entries) no layer got. It is RuleSet::apply (DaxConfig::apply) with
// ApplyOptions::dry_run on a module tree of Linear layers named and shaped by
// wan_linear_shapes, so the answer is apply's own (first match wins or nearest entry, weight
// none skips, the same checks and errors), not a re-implementation of the matching.

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "commands.hpp"
#include "common/error.hpp"
#include "quant_ops/dax_config.hpp"
#include "quant_ops/rule.hpp"
#include "runtime/linear.hpp"
#include "runtime/models/wan_config.hpp"
#include "runtime/models/wan_names.hpp"
#include "runtime/module.hpp"
#include "runtime/safetensors.hpp"
#include "runtime/tensor.hpp"

namespace qjit::cli {

namespace {

struct RulesFlags {
  std::string model;
  std::vector<std::string> rules;
  std::int64_t blocks = -1;  // -1: the model's own count
  std::string act_scales;    // safetensors of <layer>.input_scale tensors; empty: none
  std::string dax;           // a DAX-style config (JSON text or file) instead of --rule
  bool json = false;
};

// An inner module of the tree built from dotted names (blocks, blocks.0, blocks.0.self_attn).
// The root answers the diffusers name of a path (wan_names.hpp), as WanModel does, so rules
// and DAX keys may use either naming.
class Node final : public Module {
 public:
  std::string type_name() const override { return "Node"; }
  std::vector<std::string> path_aliases(std::string_view path) const override {
    std::optional<std::string> d = wan_diffusers_name(path);
    if (!d || *d == path) return {};
    return {std::move(*d)};
  }
  Node& node(const std::string& name) {
    if (Module* m = child(name)) return dynamic_cast<Node&>(*m);
    auto n = std::make_shared<Node>();
    Node& ref = *n;
    add<Node>(name, std::move(n));
    return ref;
  }
  void linear(const std::string& name, std::shared_ptr<Linear> l) { add<LinearLayer>(name, std::move(l)); }
};

// Wan's linears that GELU-tanh follows (nn.GELU(approximate='tanh') in its Sequentials).
bool gelu_follows(const std::string& path) { return path.ends_with("ffn.0") || path == "text_embedding.0"; }

// The model's Linear layers with shape-only bf16 weights and biases: every one a stride-0 view
// of a single zero element, so the 14B model's 16 G parameters cost 2 bytes. A dry run reads
// only shapes, dtypes and the device (QuantLinear::check, QuantLinear::weight_bytes).
// NOTE: these layers must never run forward or be quantized for real; explain only dry-runs.
std::shared_ptr<Node> shape_only_model(const std::vector<LinearShape>& shapes) {
  const std::shared_ptr<Storage> one = Tensor::zeros({1}, DType::kBF16).storage();
  auto root = std::make_shared<Node>();
  for (const LinearShape& s : shapes) {
    Node* parent = root.get();
    std::string rest = s.name;
    for (std::size_t dot; (dot = rest.find('.')) != std::string::npos; rest = rest.substr(dot + 1)) {
      parent = &parent->node(rest.substr(0, dot));
    }
    Tensor w = Tensor::from_storage(one, {s.out_features, s.in_features}, {0, 0}, 0, DType::kBF16);
    Tensor b = Tensor::from_storage(one, {s.out_features}, {0}, 0, DType::kBF16);
    parent->linear(rest, std::make_shared<Linear>(std::move(w), std::move(b), gelu_follows(s.name)));
  }
  return root;
}

constexpr std::string_view kInputScaleSuffix = ".input_scale";

// ApplyOptions::act_scales from the `<layer>.input_scale` tensors of a safetensors file, as
// LightX2V names a quantized checkpoint's static scales; its other tensors are not read.
std::map<std::string, Tensor> read_act_scales(const std::string& path) {
  const SafetensorsFile file = SafetensorsFile::open(path);
  std::map<std::string, Tensor> scales;
  for (const std::string& name : file.names()) {
    if (name.size() <= kInputScaleSuffix.size() || !name.ends_with(kInputScaleSuffix)) continue;
    scales.emplace(name.substr(0, name.size() - kInputScaleSuffix.size()), file.get(name));
  }
  QJIT_CHECK_GEN("rules", !scales.empty(), "--act-scales {}: no tensor named <layer>{} among its {} tensors", path,
                 kInputScaleSuffix, file.size());
  return scales;
}

nlohmann::json rule_json(const Rule& rule) {
  const ResolvedRule r = rule.resolve();
  nlohmann::json j = {{"label", r.label}, {"text", rule.str()}, {"module_path", r.module_path},
                      {"weight", qtype_name(r.weight)}};
  if (!r.skips()) {
    j["act"] = qtype_name(r.act);
    j["weight_granularity"] = granularity_name(r.weight_granularity);
    if (!r.weight_only()) {
      j["act_granularity"] = granularity_name(r.act_granularity);
      j["act_static_scale"] = r.act_static_scale;
    }
    j["out_dtype"] = dtype_name(r.out_dtype);
  }
  return j;
}

// "int8 per_channel x int8 per_token dynamic -> bf16", "weight-only int8 per_channel -> bf16",
// "none (keep in high precision)".
std::string rule_summary(const Rule& rule) {
  const ResolvedRule r = rule.resolve();
  if (r.skips()) return "none (keep in high precision)";
  if (r.weight_only()) {
    return fmt::format("weight-only {} {} -> {}", qtype_name(r.weight), granularity_name(r.weight_granularity),
                       dtype_name(r.out_dtype));
  }
  return fmt::format("{} {} x {} {} {} -> {}", qtype_name(r.weight), granularity_name(r.weight_granularity),
                     qtype_name(r.act), granularity_name(r.act_granularity),
                     r.act_static_scale ? "static" : "dynamic", dtype_name(r.out_dtype));
}

std::string entry_name(const std::string& key) { return key.empty() ? "'' (the whole model)" : "'" + key + "'"; }

void cmd_explain(const RulesFlags& f) {
  QJIT_CHECK_GEN("rules", f.rules.empty() != f.dax.empty(),
                 "give the rules as --rule (a list, first match wins) or as --dax (a DAX-style config), one of them");
  WanConfig config = WanConfig::by_name(f.model);
  if (f.blocks != -1) {
    QJIT_CHECK_GEN("rules", f.blocks >= 1 && f.blocks <= config.layers,
                   "--blocks {}: {} has {} blocks (give 1 to {})", f.blocks, config.name, config.layers,
                   config.layers);
    config.layers = f.blocks;
  }
  // Every --rule in order, as one list: a layer gets the first rule that matches across all.
  RuleSet set;
  DaxConfig dax;
  std::vector<std::string> notes;
  std::vector<std::string> forms;
  for (const std::string& text : f.rules) {
    RuleSet one = Rule::parse(text);
    for (Rule& r : one.rules) set.rules.push_back(std::move(r));
    for (std::string& n : one.notes()) notes.push_back(std::move(n));
    forms.emplace_back(rule_form_name(one.form));
  }
  if (!f.dax.empty()) dax = DaxConfig::parse(f.dax, &notes);
  const std::vector<LinearShape> shapes = wan_linear_shapes(config);
  const std::shared_ptr<Node> model = shape_only_model(shapes);
  ApplyOptions options{.dry_run = true};
  if (!f.act_scales.empty()) options.act_scales = read_act_scales(f.act_scales);
  const ApplyReport report = f.dax.empty() ? set.apply(*model, options) : dax.apply(*model, options);

  auto shape_of = [&shapes](const std::string& path) -> const LinearShape& {
    for (const LinearShape& s : shapes) {
      if (s.name == path) return s;
    }
    QJIT_THROW("rules", "layer '{}' is not in the model's shape list", path);  // cannot happen: the tree came from it
  };
  using Outcome = LayerApplied::Outcome;
  if (f.json) {
    nlohmann::json layers = nlohmann::json::array();
    for (const LayerApplied& l : report.layers) {
      const LinearShape& s = shape_of(l.path);
      nlohmann::json layer = {{"path", l.path},
                              {"diffusers", l.aliases.empty() ? nlohmann::json() : nlohmann::json(l.aliases.front())},
                              {"out_features", s.out_features},
                              {"in_features", s.in_features},
                              {"outcome", outcome_name(l.outcome)},
                              {"rule_index", l.rule_index ? nlohmann::json(*l.rule_index) : nlohmann::json()},
                              {"rule_label", l.rule_label.empty() ? nlohmann::json() : nlohmann::json(l.rule_label)},
                              {"why", l.why},
                              {"bytes_before", l.bytes_before},
                              {"bytes_after", l.bytes_after}};
      if (!f.dax.empty()) layer["config_key"] = l.config_key ? nlohmann::json(*l.config_key) : nlohmann::json();
      layers.push_back(std::move(layer));
    }
    nlohmann::json j = {
        {"model", config.name},
        {"blocks", config.layers},
        {"layers", layers},
        {"notes", notes},
        {"act_scales", options.act_scales.size()},
        {"counts",
         {{"quantized", report.count(Outcome::kQuantized)},
          {"skipped", report.count(Outcome::kSkipped)},
          {"kept", report.count(Outcome::kKept)}}},
        {"bytes_before", report.bytes_before()},
        {"bytes_after", report.bytes_after()},
    };
    if (f.dax.empty()) {
      nlohmann::json rules = nlohmann::json::array(), unused = nlohmann::json::array();
      for (std::size_t i = 0; i < set.rules.size(); ++i) {
        nlohmann::json r = rule_json(set.rules[i]);
        r["index"] = i;
        rules.push_back(std::move(r));
      }
      for (const auto& u : report.unused_rules) unused.push_back({{"index", u.index}, {"label", u.label}});
      j["rule_sources"] = f.rules;
      j["rule_forms"] = forms;
      j["rules"] = rules;
      j["unused_rules"] = unused;
    } else {
      nlohmann::json entries = nlohmann::json::array();
      for (const auto& [key, rule] : dax.entries) {
        entries.push_back({{"key", key}, {"rule", rule ? rule_json(*rule) : nlohmann::json()}});
      }
      j["config"] = entries;
      j["unused_config_keys"] = report.unused_config_keys;
    }
    fmt::print("{}\n", j.dump(2));
    return;
  }

  std::string out = fmt::format("model {} ({} blocks, {} linear layers)\n", config.name, config.layers, shapes.size());
  for (std::size_t i = 0; i < set.rules.size(); ++i) {
    const ResolvedRule r = set.rules[i].resolve();
    out += fmt::format("rule {} '{}': module_path {}: {}\n", i, r.label, r.module_path, rule_summary(set.rules[i]));
  }
  for (const auto& [key, rule] : dax.entries) {
    out += rule ? fmt::format("entry {}: rule '{}': {}\n", entry_name(key), rule->label(), rule_summary(*rule))
                : fmt::format("entry {}: none (skip the subtree)\n", entry_name(key));
  }
  for (const std::string& n : notes) out += fmt::format("note: {}\n", n);
  if (!options.act_scales.empty()) {
    out += fmt::format("static activation scales: {} (from {})\n", options.act_scales.size(), f.act_scales);
  }
  std::size_t width = 5, alias_width = 9;
  for (const LayerApplied& l : report.layers) {
    width = std::max(width, l.path.size());
    if (!l.aliases.empty()) alias_width = std::max(alias_width, l.aliases.front().size());
  }
  out += fmt::format("\n{:<{}}  {:<{}}  {:>12}  {:<9}  why\n", "layer", width, "diffusers", alias_width, "[N, K]",
                     "outcome");
  for (const LayerApplied& l : report.layers) {
    const LinearShape& s = shape_of(l.path);
    out += fmt::format("{:<{}}  {:<{}}  {:>12}  {:<9}  {}\n", l.path, width, l.aliases.empty() ? "-" : l.aliases.front(),
                       alias_width, fmt::format("[{}, {}]", s.out_features, s.in_features), outcome_name(l.outcome),
                       l.why);
  }
  out += "\n";
  if (report.unused_rules.empty() && report.unused_config_keys.empty()) {
    out += f.dax.empty() ? "every rule was used\n" : "every config entry was used\n";
  }
  for (const auto& u : report.unused_rules) out += fmt::format("unused: rule {} '{}' (no layer got it)\n", u.index, u.label);
  for (const auto& k : report.unused_config_keys) {
    out += fmt::format("unused: config entry {} (no layer got it)\n", entry_name(k));
  }
  out += fmt::format("{} quantized, {} skipped, {} kept; weights {} -> {} bytes\n", report.count(Outcome::kQuantized),
                     report.count(Outcome::kSkipped), report.count(Outcome::kKept), report.bytes_before(),
                     report.bytes_after());
  fmt::print("{}", out);
}

}  // namespace

void add_rules(CLI::App& app) {
  auto* rules = app.add_subcommand("rules", "inspect quantization rules");
  rules->require_subcommand(1);
  auto flags = std::make_shared<RulesFlags>();
  auto* explain = rules->add_subcommand(
      "explain", "print the rule each linear layer of a model gets and why (a dry run of apply), and the unused rules");
  explain->add_option("--model", flags->model, "wan2.1-1.3b | wan2.1-14b")->required();
  explain->add_option("--rule", flags->rules,
                      "a preset, a field list, a LightX2V mm_type or a JSON rules file; repeat it for a list "
                      "(first match wins across all)");
  explain->add_option("--dax", flags->dax,
                      "instead of --rule: a DAX-style config, a JSON object (inline or a .json file) of module name "
                      "-> rule text or null (skip); a layer takes its nearest covering entry (\"\" covers all)");
  explain->add_option("--blocks", flags->blocks, "only the first N transformer blocks (default: all)");
  explain->add_option("--act-scales", flags->act_scales,
                      "safetensors file of static activation scales, tensors named <layer>.input_scale (one f32 "
                      "value each), for rules with act_static_scale");
  explain->add_flag("--json", flags->json, "print JSON instead of a table");
  explain->callback([flags] { cmd_explain(*flags); });
}

}  // namespace qjit::cli
