// Tokens and literals of PTX. Identifiers keep their dots ("ld.global.u32", "%tid.x") and
// "::" ("shared::cta"): splitting an opcode into modifiers is the parser's job.

#include "sim/ptx_lexer.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cstring>

#include "common/error.hpp"

namespace qjit::sim::ptx::detail {

namespace {

bool is_ident_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$' || c == '%';
}
bool is_ident_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '$';
}
bool is_digit(char c) { return c >= '0' && c <= '9'; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// Digits of `s` in `base` into `out`; false on a bad digit, an empty string or an overflow.
bool parse_digits(std::string_view s, int base, std::uint64_t& out) {
  if (s.empty()) return false;
  std::uint64_t v = 0;
  for (char c : s) {
    const int d = hex_value(c);
    if (d < 0 || d >= base) return false;
    if (v > (~std::uint64_t{0} - static_cast<std::uint64_t>(d)) / static_cast<std::uint64_t>(base)) return false;
    v = v * static_cast<std::uint64_t>(base) + static_cast<std::uint64_t>(d);
  }
  out = v;
  return true;
}

}  // namespace

void Source::fail(int line, const std::string& message) const {
  // Only on the error path: find the line by counting newlines.
  std::size_t begin = 0;
  for (int l = 1; l < line && begin < text_.size(); ++l) {
    const std::size_t nl = text_.find('\n', begin);
    if (nl == std::string_view::npos) {
      begin = text_.size();
      break;
    }
    begin = nl + 1;
  }
  std::size_t end = text_.find('\n', begin);
  if (end == std::string_view::npos) end = text_.size();
  const std::string_view line_text = trim(text_.substr(begin, end - begin));
  QJIT_THROW("ptx", "PTX module '{}', line {}: {}: `{}`", name_, line, message, line_text);
}

std::vector<Token> lex(const Source& source) {
  const std::string_view s = source.text();
  std::vector<Token> out;
  out.reserve(s.size() / 5 + 16);
  int line = 1;
  std::size_t i = 0;
  const std::size_t n = s.size();
  while (i < n) {
    const char c = s[i];
    if (c == '\n') {
      ++line;
      ++i;
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
      ++i;
      continue;
    }
    if (c == '/' && i + 1 < n && s[i + 1] == '/') {
      while (i < n && s[i] != '\n') ++i;
      continue;
    }
    if (c == '/' && i + 1 < n && s[i + 1] == '*') {
      const int start_line = line;
      i += 2;
      while (i + 1 < n && !(s[i] == '*' && s[i + 1] == '/')) {
        if (s[i] == '\n') ++line;
        ++i;
      }
      if (i + 1 >= n) source.fail(start_line, "unterminated /* comment");
      i += 2;
      continue;
    }
    const std::size_t begin = i;
    TokenKind kind;
    if (is_ident_start(c)) {
      kind = TokenKind::kIdent;
      ++i;
      while (i < n) {
        if (is_ident_char(s[i])) {
          ++i;
        } else if (s[i] == '.' && i + 1 < n && is_ident_char(s[i + 1])) {
          i += 2;
        } else if (s[i] == ':' && i + 2 < n && s[i + 1] == ':' && is_ident_char(s[i + 2])) {
          i += 3;
        } else {
          break;
        }
      }
    } else if (c == '.' && i + 1 < n && is_ident_start(s[i + 1]) && s[i + 1] != '%') {
      kind = TokenKind::kDirective;
      i += 2;
      while (i < n) {
        if (is_ident_char(s[i])) {
          ++i;
        } else if (s[i] == ':' && i + 2 < n && s[i + 1] == ':' && is_ident_char(s[i + 2])) {
          i += 3;
        } else {
          break;
        }
      }
    } else if (is_digit(c)) {
      kind = TokenKind::kNumber;
      // A decimal float may carry a signed exponent ("1.5e-3"); prefixed forms never do.
      const bool prefixed = c == '0' && i + 1 < n && std::strchr("xXfFdDbB", s[i + 1]) != nullptr;
      ++i;
      while (i < n) {
        if (is_ident_char(s[i]) || s[i] == '.') {
          ++i;
        } else if (!prefixed && (s[i] == '-' || s[i] == '+') && (s[i - 1] == 'e' || s[i - 1] == 'E')) {
          ++i;
        } else {
          break;
        }
      }
    } else if (c == '"') {
      kind = TokenKind::kString;
      ++i;
      while (i < n && s[i] != '"' && s[i] != '\n') i += (s[i] == '\\' && i + 1 < n) ? 2 : 1;
      if (i >= n || s[i] != '"') source.fail(line, "unterminated string");
      ++i;
    } else {
      kind = TokenKind::kPunct;
      ++i;
    }
    out.push_back({kind, s.substr(begin, i - begin), line});
  }
  out.push_back({TokenKind::kEnd, s.substr(n), line});
  return out;
}

Operand number_operand(const Source& source, const Token& number, bool negative) {
  std::string_view t = number.text;
  Operand o;
  auto bad = [&]() { source.fail(number.line, fmt::format("malformed number '{}{}'", negative ? "-" : "", t)); };
  if (t.size() > 2 && t[0] == '0' && (t[1] == 'f' || t[1] == 'F' || t[1] == 'd' || t[1] == 'D')) {
    // 0fXXXXXXXX: the bits of an f32; 0dXXXXXXXXXXXXXXXX: the bits of an f64.
    const bool f32 = t[1] == 'f' || t[1] == 'F';
    std::uint64_t bits = 0;
    if (t.size() != (f32 ? 10u : 18u) || !parse_digits(t.substr(2), 16, bits)) bad();
    o.kind = f32 ? Operand::Kind::kImmF32 : Operand::Kind::kImmF64;
    o.bits = negative ? bits ^ (f32 ? 0x80000000ull : 0x8000000000000000ull) : bits;
    return o;
  }
  const bool is_float = t.find_first_of(".eE") != std::string_view::npos &&
                        !(t.size() > 1 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X'));
  if (is_float) {
    // PTX reads decimal floating-point literals as f64.
    double v = 0;
    const auto [end, err] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (err != std::errc() || end != t.data() + t.size()) bad();
    if (negative) v = -v;
    o.kind = Operand::Kind::kImmF64;
    std::memcpy(&o.bits, &v, sizeof v);
    return o;
  }
  if (!t.empty() && (t.back() == 'U' || t.back() == 'u')) t.remove_suffix(1);
  std::uint64_t v = 0;
  bool ok;
  if (t.size() > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X')) {
    ok = parse_digits(t.substr(2), 16, v);
  } else if (t.size() > 2 && t[0] == '0' && (t[1] == 'b' || t[1] == 'B')) {
    ok = parse_digits(t.substr(2), 2, v);
  } else if (t.size() > 1 && t[0] == '0') {
    ok = parse_digits(t.substr(1), 8, v);
  } else {
    ok = parse_digits(t, 10, v);
  }
  if (!ok) bad();
  o.kind = Operand::Kind::kImmInt;
  // NOTE: 64-bit two's complement: 0xFFFFFFFFFFFFFFFF and -1 are the same immediate.
  o.imm = static_cast<std::int64_t>(negative ? ~v + 1 : v);
  return o;
}

const Token& Cursor::expect(char c, std::string_view context) {
  if (!peek().is(c)) unexpected(peek(), fmt::format("'{}' {}", c, context));
  return next();
}

const Token& Cursor::expect_ident(std::string_view what) {
  if (peek().kind != TokenKind::kIdent) unexpected(peek(), what);
  return next();
}

std::int64_t Cursor::expect_int(std::string_view what) {
  bool negative = false;
  if (peek().is('-') && peek(1).kind == TokenKind::kNumber) {
    negative = true;
    next();
  }
  if (peek().kind != TokenKind::kNumber) unexpected(peek(), what);
  const Token& t = next();
  const Operand o = number_operand(source_, t, negative);
  if (o.kind != Operand::Kind::kImmInt) fail(t, fmt::format("expected an integer for {}, got '{}'", what, t.text));
  return o.imm;
}

void Cursor::unexpected(const Token& at, std::string_view expected) const {
  if (at.kind == TokenKind::kEnd) fail(at, fmt::format("unexpected end of module (expected {})", expected));
  fail(at, fmt::format("unexpected '{}' (expected {})", at.text, expected));
}

}  // namespace qjit::sim::ptx::detail
