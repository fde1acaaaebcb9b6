#pragma once
// Private to the PTX parser: tokens, the token cursor, literal decoding and error reporting.
// A hand-written lexer (no std::regex): the whole module is tokenized once, up front.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sim/ptx_ast.hpp"

namespace qjit::sim::ptx::detail {

// The module text and name, for error messages.
class Source {
 public:
  Source(std::string_view text, const std::string& name) : text_(text), name_(name) {}
  std::string_view text() const { return text_; }
  const std::string& name() const { return name_; }
  // Throws qjit::Error (subsystem "ptx") naming the module, the line and its text.
  [[noreturn]] void fail(int line, const std::string& message) const;

 private:
  std::string_view text_;
  const std::string& name_;
};

enum class TokenKind : std::uint8_t {
  kIdent,      // ld.global.nc.v4.u32, %r1, %tid.x, $L__BB0_3, shared::cta, _Z3fooi, _
  kDirective,  // .reg .b32 .align ... (one dotted part each)
  kNumber,     // 42 0x1F 0f3F800000 0d3FF0000000000000 1.5e3 16U
  kString,     // "nounroll" (with the quotes)
  kPunct,      // one character: { } ( ) [ ] , ; : + - ! @ | < > =
  kEnd,
};

struct Token {
  TokenKind kind = TokenKind::kEnd;
  std::string_view text;
  int line = 0;
  bool is(char c) const { return kind == TokenKind::kPunct && text[0] == c; }
  bool is_directive(std::string_view d) const { return kind == TokenKind::kDirective && text == d; }
};

// NOTE: the result always ends with one kEnd token, so a cursor can look ahead freely.
std::vector<Token> lex(const Source& source);

// A number token (and a preceding '-') as an immediate operand; throws through `source`.
Operand number_operand(const Source& source, const Token& number, bool negative);

class Cursor {
 public:
  Cursor(const Source& source, const std::vector<Token>& tokens) : source_(source), tokens_(tokens) {}

  const Token& peek(std::size_t ahead = 0) const {
    const std::size_t i = pos_ + ahead;
    return i < tokens_.size() ? tokens_[i] : tokens_.back();
  }
  const Token& next() {
    const Token& t = peek();
    if (pos_ + 1 < tokens_.size()) ++pos_;
    return t;
  }
  bool at_end() const { return peek().kind == TokenKind::kEnd; }
  bool accept(char c) {
    if (!peek().is(c)) return false;
    next();
    return true;
  }
  bool accept_directive(std::string_view d) {
    if (!peek().is_directive(d)) return false;
    next();
    return true;
  }
  const Token& expect(char c, std::string_view context);
  const Token& expect_ident(std::string_view what);
  std::int64_t expect_int(std::string_view what);
  // Skips the rest of the current line (directives without a terminator: .file, .loc).
  void skip_line(int line) {
    while (!at_end() && peek().line == line) next();
  }

  [[noreturn]] void fail(const Token& at, const std::string& message) const { source_.fail(at.line, message); }
  // "unexpected X (expected Y)".
  [[noreturn]] void unexpected(const Token& at, std::string_view expected) const;
  const Source& source() const { return source_; }

 private:
  const Source& source_;
  const std::vector<Token>& tokens_;
  std::size_t pos_ = 0;
};

}  // namespace qjit::sim::ptx::detail
