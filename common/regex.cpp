#include "common/regex.hpp"

#include <re2/re2.h>

#include "common/error.hpp"

namespace qjit {

namespace {

// NOTE: RE2's budget for its compiled program and DFA caches; a pattern over it fails to
// compile instead of taking memory (a 1 MiB rules file holds hundreds of patterns). 1 MiB
// fits any module path expression by far; a smaller DFA cache only falls back to the NFA,
// still linear.
constexpr std::int64_t kMaxProgramBytes = 1 << 20;

// The constructs RE2 rejects that an ECMAScript user may write, explained.
std::string explain(const re2::RE2& re) {
  switch (re.error_code()) {
    case re2::RE2::ErrorBadPerlOp:
      return "lookahead and lookbehind ((?=, (?!, (?<=, (?<!) are not supported: qjit matches in linear time";
    case re2::RE2::ErrorBadEscape:
      return re.error_arg().size() >= 2 && re.error_arg()[1] >= '1' && re.error_arg()[1] <= '9'
                 ? "backreferences (\\1 ...) are not supported: qjit matches in linear time"
                 : re.error();
    case re2::RE2::ErrorPatternTooLarge: return "the pattern compiles to a program too large to run";
    case re2::RE2::ErrorRepeatSize: return "a repetition count is over 1000 (nested counts multiply)";
    default: return re.error();
  }
}

}  // namespace

Regex::Regex(std::string_view pattern, const char* sub) : pattern_(pattern) {
  QJIT_CHECK_GEN(sub, pattern.size() <= kMaxPatternBytes, "a pattern of {} bytes is longer than the {} allowed",
                 pattern.size(), kMaxPatternBytes);
  re2::RE2::Options options;
  options.set_log_errors(false);
  options.set_max_mem(kMaxProgramBytes);
  options.set_encoding(re2::RE2::Options::EncodingLatin1);  // bytes, as std::regex: any input matches
  auto re = std::make_shared<const re2::RE2>(re2::StringPiece(pattern.data(), pattern.size()), options);
  QJIT_CHECK_GEN(sub, re->ok(), "{}", explain(*re));
  re_ = std::move(re);
}

bool Regex::full_match(std::string_view text) const {
  return re2::RE2::FullMatch(re2::StringPiece(text.data(), text.size()), *re_);
}

}  // namespace qjit
