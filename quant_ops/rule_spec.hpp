#pragma once
// The compile-time checked spelling of a rule (README.md, section "Rules"):
//
//   qjit::rule<qjit::RuleSpec{.weight = "int8", .act = "int8"}>.apply(model);
//
// as close as C++20 (GCC 12, Clang 14) gets to the `Rule<.weight="int8",.act="int8">` the
// issue asks for: a string literal cannot reach a template through `const char*`, but a
// class with fixed-size char arrays is a structural type and can be a template argument, and
// Clang 14 has no class template argument deduction for a braced template argument, so the
// type is named. The values are checked while compiling with the vocabulary and combination
// rules of Rule::resolve (rule.cpp): an unknown qtype, granularity or out dtype, or a
// combination no kernel implements, is a compile error whose message names the problem
// (a function in qjit::rule_spec_error, e.g. `weight_is_not_a_qtype`). The one thing left
// to apply time is the module_path regex's syntax (std::regex is not constexpr).

#include <cstddef>
#include <string>
#include <string_view>

#include "common/error.hpp"
#include "common/qtype.hpp"
#include "quant_ops/rule.hpp"
#include "common/dtype.hpp"

namespace qjit {

// What reaching each one during constant evaluation means. They are never defined: calling
// one is not a constant expression, so a bad RuleSpec stops the compile, and GCC ("call to
// non-'constexpr' function") and Clang ("non-constexpr function ... cannot be used in a
// constant expression") both print the function's name.
namespace rule_spec_error {
void string_is_longer_than_its_field();
void module_path_is_empty();
void weight_is_not_a_qtype();
void act_is_not_a_qtype();
void weight_granularity_is_not_a_granularity();
void act_granularity_is_not_a_granularity();
void out_dtype_is_not_bf16_f16_or_f32();
void weight_none_needs_act_none();
void weight_none_has_no_static_scale();
void per_token_and_group128_are_activation_granularities();
void weight_only_rule_has_no_static_scale();
void block128_weights_need_fp8_group128_activations();
void per_channel_and_block128_are_weight_granularities();
void int8_and_fp8_do_not_mix();
void group128_activations_need_block128_weights();
void block128_is_fp8_only();
void group128_activation_scales_are_dynamic_only();
void static_activation_scale_is_per_tensor_only();
}  // namespace rule_spec_error

/// A string of at most N chars held in the object, so that a class holding it can be a
/// template argument. Built from a string literal at compile time (a longer literal is a
/// compile error), or from any string_view with from() (throws qjit::Error when too long).
template <std::size_t N>
struct FixedString {
  // NOTE: public, and the chars after `length` stay zero: two FixedStrings of one text are
  // then the same template argument.
  char chars[N] = {};
  std::size_t length = 0;

  constexpr FixedString() = default;
  template <std::size_t M>
  consteval FixedString(const char (&s)[M]) {  // NOLINT: implicit, so `.weight = "int8"` reads as written
    if (M - 1 > N) rule_spec_error::string_is_longer_than_its_field();
    for (std::size_t i = 0; i + 1 < M; ++i) chars[i] = s[i];
    length = M - 1;
  }
  static FixedString from(std::string_view s);

  constexpr std::string_view view() const { return {chars, length}; }
  std::string str() const { return std::string(view()); }
  bool operator==(const FixedString&) const = default;
};

inline constexpr std::size_t kRuleSpecPathCapacity = 192;  // module_path and name
inline constexpr std::size_t kRuleSpecValueCapacity = 32;  // qtypes, granularities, dtypes

/// Rule's fields, names, order and defaults (rule.hpp), as a structural literal type.
struct RuleSpec {
  FixedString<kRuleSpecPathCapacity> module_path = ".*";
  FixedString<kRuleSpecValueCapacity> weight = "int8";
  FixedString<kRuleSpecValueCapacity> act = "";
  bool act_static_scale = false;
  FixedString<kRuleSpecValueCapacity> weight_granularity = "";
  FixedString<kRuleSpecValueCapacity> act_granularity = "";
  FixedString<kRuleSpecValueCapacity> out_dtype = "bf16";
  FixedString<kRuleSpecPathCapacity> name = "";

  /// The same rule as a Rule (field by field, nothing changed).
  Rule to_rule() const {
    Rule r;
    r.module_path = module_path.str();
    r.weight = weight.str();
    r.act = act.str();
    r.act_static_scale = act_static_scale;
    r.weight_granularity = weight_granularity.str();
    r.act_granularity = act_granularity.str();
    r.out_dtype = out_dtype.str();
    r.name = name.str();
    return r;
  }
  /// `rule` as a RuleSpec; throws qjit::Error naming the field whose text does not fit.
  static RuleSpec from_rule(const Rule& rule);

  bool operator==(const RuleSpec&) const = default;
};

/// What check_rule_spec found, in the order Rule::resolve checks (so both name the same
/// field for the same rule).
enum class RuleSpecProblem {
  kNone,
  kEmptyModulePath,
  kWeightQType,
  kActQType,
  kWeightGranularityName,
  kActGranularityName,
  kOutDType,
  kWeightNoneAct,
  kWeightNoneStatic,
  kWeightActivationGranularity,
  kWeightOnlyStatic,
  kWeightOnlyBlock128,
  kActWeightGranularity,
  kInt8WithFp8,
  kBlock128WithoutGroup128,
  kGroup128WithoutBlock128,
  kBlock128Int8,
  kStaticGroup128,
  kStaticNotPerTensor,
};

/// A RuleSpec checked and resolved: the enums Rule::resolve gives (defaults filled in the
/// same way), or the problem and the field Rule::resolve's message names for it.
struct RuleSpecCheck {
  RuleSpecProblem problem = RuleSpecProblem::kNone;
  std::string_view field{};  // the field named by Rule::resolve's error; empty when ok
  QType weight = QType::kInt8;
  QType act = QType::kInt8;
  bool act_static_scale = false;
  Granularity weight_granularity = Granularity::kPerChannel;
  Granularity act_granularity = Granularity::kPerToken;
  DType out_dtype = DType::kBF16;

  constexpr bool ok() const { return problem == RuleSpecProblem::kNone; }
};

namespace rule_spec_detail {

constexpr bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; }

constexpr std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

constexpr char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// `value` (already trimmed) names `key` when equal after lower-casing and, for qtypes and
// granularities (`dash_is_underscore`), reading '-' as '_': what parse_qtype,
// parse_granularity and parse_dtype accept.
constexpr bool names(std::string_view value, std::string_view key, bool dash_is_underscore) {
  if (value.size() != key.size()) return false;
  for (std::size_t i = 0; i < value.size(); ++i) {
    char c = lower(value[i]);
    if (dash_is_underscore && c == '-') c = '_';
    if (c != key[i]) return false;
  }
  return true;
}

template <class T>
struct Alias {
  std::string_view name;
  T value;
};

// NOTE: the alias tables of qtype.cpp and dtype.cpp (out dtypes only), repeated here because
// those are not constexpr-visible; rule_spec_test.cpp checks every entry (and its case and
// dash variants) against parse_qtype / parse_granularity / Rule::resolve.
inline constexpr Alias<QType> kQTypes[] = {
    {"none", QType::kNone},         {"int8", QType::kInt8},         {"i8", QType::kInt8},
    {"s8", QType::kInt8},           {"fp8_e4m3", QType::kE4M3},     {"fp8", QType::kE4M3},
    {"e4m3", QType::kE4M3},         {"e4m3fn", QType::kE4M3},       {"fp8_e4m3fn", QType::kE4M3},
    {"float8_e4m3fn", QType::kE4M3}, {"fp8_e5m2", QType::kE5M2},    {"e5m2", QType::kE5M2},
    {"float8_e5m2", QType::kE5M2},
};
inline constexpr Alias<Granularity> kGranularities[] = {
    {"per_tensor", Granularity::kPerTensor}, {"tensor", Granularity::kPerTensor},
    {"per_channel", Granularity::kPerChannel}, {"channel", Granularity::kPerChannel},
    {"per_token", Granularity::kPerToken},   {"token", Granularity::kPerToken},
    {"block128", Granularity::kBlock128},    {"group128", Granularity::kGroup128},
};
inline constexpr Alias<DType> kOutDTypes[] = {
    {"f32", DType::kF32},  {"float32", DType::kF32}, {"fp32", DType::kF32},     {"float", DType::kF32},
    {"f16", DType::kF16},  {"float16", DType::kF16}, {"fp16", DType::kF16},     {"half", DType::kF16},
    {"bf16", DType::kBF16}, {"bfloat16", DType::kBF16},
};

template <class T, std::size_t K>
constexpr bool lookup(const Alias<T> (&table)[K], std::string_view value, bool dash_is_underscore, T& out) {
  for (const Alias<T>& a : table) {
    if (names(value, a.name, dash_is_underscore)) {
      out = a.value;
      return true;
    }
  }
  return false;
}

}  // namespace rule_spec_detail

/// Rule::resolve's checks, in its order, at compile time or run time (module_path's regex
/// syntax aside: only an empty one is caught here).
constexpr RuleSpecCheck check_rule_spec(const RuleSpec& s) {
  using G = Granularity;
  using P = RuleSpecProblem;
  using namespace rule_spec_detail;
  RuleSpecCheck c;
  auto fail = [&c](P problem, std::string_view field) {
    c.problem = problem;
    c.field = field;
    return c;
  };
  if (s.module_path.length == 0) return fail(P::kEmptyModulePath, "module_path");
  if (!lookup(kQTypes, trim(s.weight.view()), true, c.weight)) return fail(P::kWeightQType, "weight");
  // NOTE: only an act of length 0 means "the weight's qtype"; blanks are a bad qtype, as in resolve().
  if (s.act.length == 0) {
    c.act = c.weight;
  } else if (!lookup(kQTypes, trim(s.act.view()), true, c.act)) {
    return fail(P::kActQType, "act");
  }
  c.act_static_scale = s.act_static_scale;
  const std::string_view wg_text = trim(s.weight_granularity.view()), ag_text = trim(s.act_granularity.view());
  G wg = G::kPerChannel, ag = G::kPerToken;
  if (!wg_text.empty() && !lookup(kGranularities, wg_text, true, wg)) {
    return fail(P::kWeightGranularityName, "weight_granularity");
  }
  if (!ag_text.empty() && !lookup(kGranularities, ag_text, true, ag)) {
    return fail(P::kActGranularityName, "act_granularity");
  }
  if (!lookup(kOutDTypes, trim(s.out_dtype.view()), false, c.out_dtype)) return fail(P::kOutDType, "out_dtype");
  const bool ag_given = !ag_text.empty();
  c.weight_granularity = !wg_text.empty() ? wg : (ag_given && ag == G::kGroup128 ? G::kBlock128 : G::kPerChannel);
  c.act_granularity = ag_given                                  ? ag
                      : c.weight_granularity == G::kBlock128 ? G::kGroup128
                      : c.act_static_scale                   ? G::kPerTensor
                                                             : G::kPerToken;
  if (c.weight == QType::kNone) {
    if (c.act != QType::kNone) return fail(P::kWeightNoneAct, "act");
    if (c.act_static_scale) return fail(P::kWeightNoneStatic, "act_static_scale");
    c.weight_granularity = G::kPerChannel;
    c.act_granularity = G::kPerToken;
    return c;
  }
  if (c.weight_granularity == G::kPerToken || c.weight_granularity == G::kGroup128) {
    return fail(P::kWeightActivationGranularity, "weight_granularity");
  }
  if (c.act == QType::kNone) {
    if (c.act_static_scale) return fail(P::kWeightOnlyStatic, "act_static_scale");
    if (c.weight_granularity == G::kBlock128) return fail(P::kWeightOnlyBlock128, "weight_granularity");
    c.act_granularity = G::kPerToken;
    return c;
  }
  if (ag_given && (c.act_granularity == G::kPerChannel || c.act_granularity == G::kBlock128)) {
    return fail(P::kActWeightGranularity, "act_granularity");
  }
  if ((c.weight == QType::kInt8) != (c.act == QType::kInt8)) return fail(P::kInt8WithFp8, "act");
  if (c.weight_granularity == G::kBlock128 && c.act_granularity != G::kGroup128) {
    return fail(P::kBlock128WithoutGroup128, "act_granularity");
  }
  if (c.act_granularity == G::kGroup128 && c.weight_granularity != G::kBlock128) {
    return fail(P::kGroup128WithoutBlock128, "weight_granularity");
  }
  if (c.weight_granularity == G::kBlock128 && c.weight == QType::kInt8) return fail(P::kBlock128Int8, "weight");
  if (c.act_static_scale && c.act_granularity == G::kGroup128) return fail(P::kStaticGroup128, "act_static_scale");
  if (c.act_static_scale && c.act_granularity != G::kPerTensor) return fail(P::kStaticNotPerTensor, "act_granularity");
  return c;
}

/// true for a valid spec; for an invalid one, a compile error naming the problem.
consteval bool rule_spec_valid(const RuleSpec& s) {
  using P = RuleSpecProblem;
  namespace e = rule_spec_error;
  switch (check_rule_spec(s).problem) {
    case P::kNone: return true;
    case P::kEmptyModulePath: e::module_path_is_empty(); break;
    case P::kWeightQType: e::weight_is_not_a_qtype(); break;
    case P::kActQType: e::act_is_not_a_qtype(); break;
    case P::kWeightGranularityName: e::weight_granularity_is_not_a_granularity(); break;
    case P::kActGranularityName: e::act_granularity_is_not_a_granularity(); break;
    case P::kOutDType: e::out_dtype_is_not_bf16_f16_or_f32(); break;
    case P::kWeightNoneAct: e::weight_none_needs_act_none(); break;
    case P::kWeightNoneStatic: e::weight_none_has_no_static_scale(); break;
    case P::kWeightActivationGranularity: e::per_token_and_group128_are_activation_granularities(); break;
    case P::kWeightOnlyStatic: e::weight_only_rule_has_no_static_scale(); break;
    case P::kWeightOnlyBlock128: e::block128_weights_need_fp8_group128_activations(); break;
    case P::kActWeightGranularity: e::per_channel_and_block128_are_weight_granularities(); break;
    case P::kInt8WithFp8: e::int8_and_fp8_do_not_mix(); break;
    case P::kBlock128WithoutGroup128: e::block128_weights_need_fp8_group128_activations(); break;
    case P::kGroup128WithoutBlock128: e::group128_activations_need_block128_weights(); break;
    case P::kBlock128Int8: e::block128_is_fp8_only(); break;
    case P::kStaticGroup128: e::group128_activation_scales_are_dynamic_only(); break;
    case P::kStaticNotPerTensor: e::static_activation_scale_is_per_tensor_only(); break;
  }
  return false;
}

/// The rule S, checked while compiling (rule_spec_valid). Use through qjit::rule<S>.
template <RuleSpec S>
struct StaticRule {
  static_assert(rule_spec_valid(S), "invalid qjit::RuleSpec (the error above names the problem)");

  static constexpr RuleSpec kSpec = S;
  /// The resolved enums, usable in constant expressions.
  static constexpr RuleSpecCheck kResolved = check_rule_spec(S);

  Rule to_rule() const { return S.to_rule(); }
  /// Rule::apply of the same rule (module_path's regex is compiled here, at run time).
  ApplyReport apply(Module& model) const { return to_rule().apply(model); }
  ApplyReport apply(Module& model, const ApplyOptions& options) const { return to_rule().apply(model, options); }
};

template <std::size_t N>
FixedString<N> FixedString<N>::from(std::string_view s) {
  QJIT_CHECK_GEN("rules", s.size() <= N, "'{}' has {} chars; a RuleSpec field holds at most {}", s, s.size(), N);
  FixedString out;
  for (std::size_t i = 0; i < s.size(); ++i) out.chars[i] = s[i];
  out.length = s.size();
  return out;
}

inline RuleSpec RuleSpec::from_rule(const Rule& rule) {
  auto field = [&rule](std::string_view name, const auto& make) {
    try {
      return make();
    } catch (const Error& e) {
      QJIT_THROW("rules", "rule '{}': field {}: {}", rule.label(), name, e.message());
    }
  };
  RuleSpec s;
  s.module_path = field("module_path", [&] { return decltype(s.module_path)::from(rule.module_path); });
  s.weight = field("weight", [&] { return decltype(s.weight)::from(rule.weight); });
  s.act = field("act", [&] { return decltype(s.act)::from(rule.act); });
  s.act_static_scale = rule.act_static_scale;
  s.weight_granularity = field("weight_granularity", [&] { return decltype(s.weight_granularity)::from(rule.weight_granularity); });
  s.act_granularity = field("act_granularity", [&] { return decltype(s.act_granularity)::from(rule.act_granularity); });
  s.out_dtype = field("out_dtype", [&] { return decltype(s.out_dtype)::from(rule.out_dtype); });
  s.name = field("name", [&] { return decltype(s.name)::from(rule.name); });
  return s;
}

/// `qjit::rule<qjit::RuleSpec{.weight = "int8", .act = "int8"}>.apply(model)`.
template <RuleSpec S>
inline constexpr StaticRule<S> rule{};

}  // namespace qjit
