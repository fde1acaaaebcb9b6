// Regexes from untrusted text (common/regex.hpp): linear-time matching, bounded compile,
// no deep recursion, full-match semantics, clear errors for what RE2 does not do.

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "common/error.hpp"
#include "common/regex.hpp"

namespace qjit {
namespace {

std::string error_of(const std::string& pattern) {
  try {
    Regex r(pattern);
  } catch (const Error& e) {
    return e.message();
  }
  return {};
}

TEST(Regex, FullMatchLikeRegexMatch) {
  const Regex ffn(R"(blocks\.\d+\.(ffn|cross_attn)\..{1,8})");
  EXPECT_TRUE(ffn.full_match("blocks.12.ffn.0"));
  EXPECT_TRUE(ffn.full_match("blocks.0.cross_attn.q"));
  EXPECT_FALSE(ffn.full_match("xblocks.1.ffn.0")) << "a full match, not a search";
  EXPECT_FALSE(ffn.full_match("blocks.1.ffn.0.extra.long"));
  EXPECT_TRUE(Regex(".*").full_match(""));
  EXPECT_TRUE(Regex("(?:head|proj_out)(\\..*)?").full_match("head.head"));
  EXPECT_TRUE(Regex("[^.]+\\.[a-z_]+?").full_match("head.head"));
}

TEST(Regex, BacktrackingPatternsRunInLinearTime) {
  // (.*)*x on 100k characters without an x: exponential for a backtracking engine (std::regex
  // ran over 15 minutes on a layer path); linear here.
  const std::string text(100'000, 'a');
  const auto start = std::chrono::steady_clock::now();
  for (const char* p : {"(.*)*x", "(a|a)*x", "(a*)*b", "(a|aa)+$x"}) EXPECT_FALSE(Regex(p).full_match(text)) << p;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
}

TEST(Regex, DeepNestingIsAnErrorNotAStackOverflow) {
  // 30,000 nested groups crashed std::regex (SIGSEGV, stack); the length bound refuses them,
  // and the deepest nesting within the bound is handled without recursion trouble.
  const std::string deep = std::string(30'000, '(') + "a" + std::string(30'000, ')');
  EXPECT_NE(error_of(deep).find("longer than the 4096 allowed"), std::string::npos) << error_of(deep);
  const std::size_t n = (Regex::kMaxPatternBytes - 1) / 2;
  const std::string within = std::string(n, '(') + "a" + std::string(n, ')');
  try {
    EXPECT_TRUE(Regex(within).full_match("a"));
  } catch (const Error& e) {
    EXPECT_FALSE(e.message().empty());  // refused with a message is fine too
  }
}

TEST(Regex, ProgramSizeIsBounded) {
  // Counted repetitions multiply: ((a{1000}){1000}){1000} would be 10^9 states.
  EXPECT_NE(error_of("((a{1000}){1000}){1000}").find("nested counts multiply"), std::string::npos)
      << error_of("((a{1000}){1000}){1000}");
  EXPECT_NE(error_of("a{1001}").find("over 1000"), std::string::npos) << error_of("a{1001}");
  // The largest program a pattern within the length bound makes compiles and matches fast.
  std::string big;
  while (big.size() + 11 <= Regex::kMaxPatternBytes) big += "[a-q]{1000}";
  const auto start = std::chrono::steady_clock::now();
  try {
    EXPECT_FALSE(Regex(big).full_match("blocks.0.ffn.0"));
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("too large"), std::string::npos) << e.message();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST(Regex, UnsupportedConstructsAreNamed) {
  EXPECT_NE(error_of("(a)\\1").find("backreferences"), std::string::npos) << error_of("(a)\\1");
  EXPECT_NE(error_of("blocks(?=\\.)").find("lookahead"), std::string::npos) << error_of("blocks(?=\\.)");
  EXPECT_NE(error_of("blocks.(").find("missing )"), std::string::npos) << error_of("blocks.(");
}

}  // namespace
}  // namespace qjit
