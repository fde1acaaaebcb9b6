// LightX2V mm_type names (lightx2v/common/ops/mm/mm_weight.py registers them), e.g.
// W-fp8-block128-sym-A-fp8-channel-group128-sym-dynamic-Deepgemm, read into rules.

#include <fmt/format.h>

#include "common/error.hpp"
#include "quant_ops/rule_text.hpp"

namespace qjit::rule_detail {

namespace {

constexpr std::string_view kGrammar =
    "W-<int8|fp8|fp8_e5m2>-<channel|tensor|block128>-sym-A-<qtype>-<channel|tensor|channel-group128>-sym-"
    "<dynamic|static>[-<backend>]";

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

}  // namespace

bool looks_like_mm_type(std::string_view text) {
  const std::string s = lower(trim(text));
  if (s.empty() || s[0] != 'w') return false;
  size_t i = 1;
  while (i < s.size() && is_space(s[i])) ++i;
  return i < s.size() && s[i] == '-';
}

MmType parse_mm_type(std::string_view text) {
  const std::string src = trim(text);
  const std::string where = fmt::format("mm_type '{}'", src);
  // Tokens between '-', trimmed, so "w - INT8 - Channel ..." reads like the canonical name.
  std::vector<std::string> raw, tok;
  for (size_t start = 0;;) {
    const size_t dash = src.find('-', start);
    raw.push_back(trim(std::string_view(src).substr(start, dash == std::string::npos ? dash : dash - start)));
    tok.push_back(lower(raw.back()));
    if (dash == std::string::npos) break;
    start = dash + 1;
  }
  size_t i = 0;
  auto at = [&](size_t k) { return k < tok.size() ? tok[k] : std::string(); };
  auto fail = [&](const std::string& what) { QJIT_THROW("rules", "{}: {} (expected {})", where, what, kGrammar); };
  // `want` is a lower-case token; messages spell it as LightX2V does ("W", "A").
  auto expect = [&](std::string_view want, std::string_view spelled, std::string_view after) {
    if (at(i) != want) {
      fail(at(i).empty() ? fmt::format("missing '{}' {}", spelled, after)
                         : fmt::format("'{}' where '{}' belongs {}", raw[i], spelled, after));
    }
    ++i;
  };
  auto read_qtype = [&](std::string_view side) {
    std::string q = at(i);
    if (q.empty()) fail(fmt::format("missing the {} qtype", side));
    // "fp8-e4m3" splits into two tokens; read them as one qtype.
    if (q == "fp8" && (at(i + 1) == "e4m3" || at(i + 1) == "e4m3fn" || at(i + 1) == "e5m2")) q += "_" + at(++i);
    ++i;
    try {
      return parse_qtype(q);
    } catch (const Error& e) {
      fail(fmt::format("{} qtype: {}", side, e.message()));
    }
    return QType::kNone;  // not reached
  };
  auto read_sym = [&] {
    if (at(i) == "asym") fail("asymmetric quantization is not supported: qjit's scales are symmetric");
    if (at(i) == "sym") ++i;
  };

  expect("w", "W", "at the start");
  const QType weight = read_qtype("weight");
  if (at(i).empty()) fail("missing the weight granularity");
  Granularity wg{};
  try {
    wg = parse_granularity(at(i));  // "channel" is per_channel for weights
  } catch (const Error& e) {
    fail(fmt::format("weight granularity: {}", e.message()));
  }
  ++i;
  read_sym();
  expect("a", "A", "after the weight part");
  const QType act = read_qtype("activation");
  // NOTE: LightX2V's activation "channel" means one scale per row, i.e. per_token;
  // "channel-group128" is DeepGEMM's 1x128 groups.
  bool act_channel = false;
  Granularity ag{};
  if (at(i) == "channel" && at(i + 1) == "group128") {
    ag = Granularity::kGroup128;
    i += 2;
  } else if (at(i) == "channel") {
    ag = Granularity::kPerToken;
    act_channel = true;
    ++i;
  } else {
    if (at(i).empty()) fail("missing the activation granularity");
    try {
      ag = parse_granularity(at(i));
    } catch (const Error& e) {
      fail(fmt::format("activation granularity: {}", e.message()));
    }
    ++i;
  }
  read_sym();
  bool is_static = false;
  if (at(i) == "static") {
    is_static = true;
  } else if (at(i) != "dynamic") {
    fail(at(i).empty() ? std::string("missing dynamic or static")
                       : fmt::format("'{}' where dynamic or static belongs", raw[i]));
  }
  ++i;
  // NOTE: a calibrated scale is one per layer (LightX2V stores one `input_scale`), so a
  // static "channel" activation is per_tensor.
  if (is_static && act_channel) ag = Granularity::kPerTensor;

  MmType out;
  out.rule.weight = qtype_name(weight);
  out.rule.act = qtype_name(act);
  out.rule.act_static_scale = is_static;
  out.rule.weight_granularity = granularity_name(wg);
  if (act != QType::kNone) out.rule.act_granularity = granularity_name(ag);
  out.rule.name = src;
  for (; i < raw.size(); ++i) out.backend += (out.backend.empty() ? "" : "-") + raw[i];
  return out;
}

}  // namespace qjit::rule_detail
