#pragma once
// Internal to the rule parser (rule*.cpp): the pieces the text forms share. Not public API.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "quant_ops/rule.hpp"

namespace qjit::rule_detail {

/// name=value pairs in the order written, keys canonicalized (lower case, '-' read as '_').
using Fields = std::vector<std::pair<std::string, std::string>>;

std::string trim(std::string_view s);
/// `s` as messages quote it: whole when short, else its start and its length.
std::string clip(std::string_view s, std::size_t max = 160);
std::string lower(std::string_view s);
std::string canonical_key(std::string_view key);

/// The canonical field names, in declaration order, for messages and str().
const std::vector<std::string_view>& field_names();

/// bf16, f16 or f32 (and their aliases); throws naming the valid ones.
DType parse_out_dtype(std::string_view value);

/// Splits `a=1, b="x,y"` into pairs. Quoted values ('...' or "...") may hold commas; a
/// doubled quote inside stands for one; backslashes are literal (regexes keep theirs).
/// `where` prefixes every message.
Fields split_fields(std::string_view text, std::string_view where);
/// `value` quoted when split_fields would not read it back as written.
std::string quote_if_needed(std::string_view value);

/// One rule from pairs: a `preset` or `mm_type` pair gives the base, every other pair
/// overrides a field of it. Values are checked and canonicalized; combinations are left to
/// resolve(). An mm_type's backend, if any, is appended to `backends`.
Rule rule_from_fields(const Fields& fields, std::string_view where, std::vector<std::string>& backends);

/// Rule::parse, and with !allow_file the inline forms only (inside a rules file or a DAX
/// config, which never make qjit open another file).
RuleSet parse_text(std::string_view text, bool allow_file);

/// True when `text` starts like a LightX2V mm_type name ("W-...", any case and spacing).
bool looks_like_mm_type(std::string_view text);

struct MmType {
  Rule rule;            // name = the mm_type as written
  std::string backend;  // "Vllm", "Deepgemm-ActSgl", ... as written; empty when absent
};
/// W-<qtype>-<granularity>[-sym]-A-<qtype>-<granularity>[-sym]-<dynamic|static>[-<backend>...]
MmType parse_mm_type(std::string_view text);

/// The JSON rules file at `path`: {"rules": [...]}, or one rule object (README, "Rules").
RuleSet parse_rules_file(const std::string& path);
/// The same from the file's text; `where` names it in messages.
RuleSet parse_rules_json(std::string_view text, const std::string& where);

/// resolve() with `where` naming the rule in messages.
ResolvedRule resolve_rule(const Rule& rule, std::string_view where);

}  // namespace qjit::rule_detail
