#pragma once
// Regular expressions from untrusted text (rules' module_path, --layers), on RE2: matching
// takes time linear in the text whatever the pattern (no backtracking, so "(.*)*x" cannot
// run for minutes), compiling is bounded in memory, and the parser keeps no deep recursion
// (30,000 nested groups cannot overflow the stack). Syntax: ECMAScript's and Perl's common
// ground (README.md, "Rules"): groups, (?:...), alternation, classes, \d \w \s, anchors,
// counted repetition up to {1000}, lazy quantifiers. Backreferences and lookaround, which
// need backtracking, are refused with a clear error.

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace re2 {
class RE2;
}

namespace qjit {

class Regex {
 public:
  static constexpr std::size_t kMaxPatternBytes = 4096;

  /// Compiles `pattern`. Throws qjit::Error (subsystem `sub`) saying what is wrong: too long,
  /// a syntax error, an unsupported construct, or a program too large.
  explicit Regex(std::string_view pattern, const char* sub = "regex");

  /// True when the whole of `text` matches (as std::regex_match).
  bool full_match(std::string_view text) const;
  const std::string& pattern() const { return pattern_; }

 private:
  std::string pattern_;
  std::shared_ptr<const re2::RE2> re_;  // immutable and thread-safe: copies share it
};

}  // namespace qjit
