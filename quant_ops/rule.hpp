#pragma once
// Quantization rules: what a user writes to say how a model's linear layers are quantized
// (DESIGN.md sections 5 and 7). `Rule` is the written form (strings, so designated
// initializers read like the command line); `ResolvedRule` is the validated form with enums
// that ops and kernels consume. Text forms and their grammar: README.md, section "Rules".

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/regex.hpp"
#include "common/qtype.hpp"
#include "quant_ops/rule_apply.hpp"
#include "common/dtype.hpp"

namespace qjit {

class Module;
struct ResolvedRule;
struct RuleSet;

/// One quantization rule with the canonical names of DESIGN.md section 5, e.g.
/// `qjit::Rule{.weight = "int8", .act = "int8"}` or
/// `qjit::Rule{.module_path = R"(blocks\.\d+\.ffn\..*)", .weight = "fp8_e4m3"}`.
/// Values are checked by resolve(), not on assignment; Rule::parse checks them as it reads.
struct Rule {
  // NOTE: the field order is the order designated initializers must follow; module_path
  // comes first because it is what a list of rules is read by. Every field has a default
  // member initializer, even `{}`: GCC's -Wmissing-field-initializers then stays quiet about
  // the fields a designated initializer leaves out.
  std::string module_path = ".*";    // regex (common/regex.hpp), full match on a layer's dotted path
  std::string weight = "int8";       // qtype; "none" keeps the layer in high precision
  std::string act{};                 // qtype; "none": weight-only; empty: the weight's qtype
  bool act_static_scale = false;     // calibrated scale (per_tensor) instead of a dynamic one
  std::string weight_granularity{};  // empty: per_channel, or block128 with group128 activations
  std::string act_granularity{};     // empty: per_token; per_tensor if static; group128 with block128 weights
  std::string out_dtype = "bf16";    // bf16, f16 or f32
  std::string name{};                // optional; what messages call the rule

  /// Validates and resolves the defaults. Throws qjit::Error naming the rule (label()) and the
  /// bad field for an unknown qtype, granularity or dtype, a bad regex, or a combination no
  /// kernel family implements (DESIGN.md section 5, issue 4's families).
  ResolvedRule resolve() const;

  /// Canonical comma list of fields (canonical names, defaults left out, values quoted where
  /// needed) that Rule::parse reads back to this rule with its values canonicalized.
  std::string str() const;
  /// `name` when set, else str(): how messages refer to the rule.
  std::string label() const;

  /// Reads any form `--rule` takes: a preset name, a comma list of fields, a LightX2V mm_type
  /// name, or the path of a JSON rules file. Every rule read is validated (resolve()).
  /// Throws qjit::Error naming the input and the problem.
  static RuleSet parse(std::string_view text);
  /// parse() for text that holds exactly one rule (any form but a file of several rules).
  /// Drops what RuleSet reports besides the rule (an mm_type's backend).
  static Rule parse_one(std::string_view text);
  /// The preset of DESIGN.md section 7 as a rule (every field explicit, name = the preset's
  /// name). Case-insensitive; "fp8-e4m3" is "fp8". Throws listing the presets.
  static Rule preset(std::string_view name);

  /// Quantizes `model`: RuleSet{.rules = {*this}}.apply(model, options), e.g.
  /// `qjit::Rule{.weight = "int8", .act = "int8"}.apply(model)`.
  ApplyReport apply(Module& model) const;
  ApplyReport apply(Module& model, const ApplyOptions& options) const;

  bool operator==(const Rule&) const = default;
};

/// A validated rule: the enums the quantization ops and kernel families take.
struct ResolvedRule {
  std::string label;                               // the rule's name or text, for messages
  std::string module_path;                         // the regex source
  std::shared_ptr<const Regex> module_regex;       // compiled once (RE2); match with full_match
  QType weight = QType::kInt8;                     // kNone: the layer stays in high precision
  QType act = QType::kInt8;                        // kNone: weight-only (or a skipped layer)
  bool act_static_scale = false;
  Granularity weight_granularity = Granularity::kPerChannel;
  Granularity act_granularity = Granularity::kPerToken;  // meaningless when act is kNone
  DType out_dtype = DType::kBF16;

  bool skips() const { return weight == QType::kNone; }
  bool weight_only() const { return weight != QType::kNone && act == QType::kNone; }

  // NOTE: the compiled regex is left out: two resolutions of one rule compare equal.
  friend bool operator==(const ResolvedRule& a, const ResolvedRule& b);
};

/// Bounds on what a user writes: the text of one --rule, a rule's name (module_path's is
/// Regex::kMaxPatternBytes), and a rules or DAX file, so a hostile input is refused before it
/// costs memory in every layer's report.
inline constexpr std::size_t kMaxRuleTextBytes = 64 << 10;
inline constexpr std::size_t kMaxRuleNameBytes = 256;
inline constexpr std::size_t kMaxRulesFileBytes = 1 << 20;
inline constexpr std::size_t kMaxRulesPerFile = 1024;

/// The version a JSON rules file may declare ("version": 1); a file without one is read as it.
inline constexpr int kRulesFileVersion = 1;

/// Which form of `--rule` text Rule::parse recognized.
enum class RuleForm { kPreset, kFields, kMmType, kFile };
/// "preset", "fields", "mm_type", "file".
std::string_view rule_form_name(RuleForm f);

/// What Rule::parse read. A file may hold several rules; a layer gets the first that matches.
struct RuleSet {
  std::vector<Rule> rules;  // in the order written: first match wins
  RuleForm form = RuleForm::kFields;
  std::string source;  // the text parsed (trimmed): a preset, fields, an mm_type or a path
  // LightX2V mm_type backend suffixes read ("Vllm", "Deepgemm-ActSgl"): accepted and
  // irrelevant, since qjit generates its own kernels; kept so the caller can say so.
  std::vector<std::string> ignored_backends;

  /// One line per thing the caller should tell the user (today: each ignored backend).
  std::vector<std::string> notes() const;

  /// Puts a QuantLinear (quant_ops/quant_linear.hpp) in place of every Linear layer of
  /// `model` that a rule quantizes. Each layer gets the first rule whose module_path fully
  /// matches its dotted path (as Qwix does); a rule with weight none keeps it, and so does no
  /// match. Everything is checked before any layer is replaced: every rule resolves, and
  /// every layer to quantize passes QuantLinear::check (shapes, bias, the rule's family on
  /// the device its weights live on, its static scale from options.act_scales); the first
  /// problem throws qjit::Error naming the rule (index and label) and the layer, and the
  /// model is left as it was. Returns what each layer got and why, and the unused rules.
  ApplyReport apply(Module& model) const;
  ApplyReport apply(Module& model, const ApplyOptions& options) const;
};

}  // namespace qjit
