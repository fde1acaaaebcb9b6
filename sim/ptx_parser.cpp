// Module level: header directives, module variables, and function headers (parameters and
// performance directives); bodies are parsed by ptx_body.cpp.

#include "sim/ptx_parser.hpp"

#include <fmt/format.h>

#include <unordered_map>

#include "sim/ptx_body.hpp"
#include "sim/ptx_decl.hpp"
#include "sim/ptx_lexer.hpp"

namespace qjit::sim::ptx {

namespace {

using detail::Cursor;
using detail::DeclContext;
using detail::Token;
using detail::TokenKind;

class ModuleParser {
 public:
  ModuleParser(Cursor& cur, Module& m) : cur_(cur), m_(m) {}

  void parse() {
    while (!cur_.at_end()) {
      const Token& t = cur_.next();
      if (t.is(';')) continue;
      if (t.kind != TokenKind::kDirective) cur_.unexpected(t, "a module directive");
      if (t.text == ".version") {
        parse_version(t);
      } else if (t.text == ".target") {
        parse_target(cur_.expect_ident("a target"));
        while (cur_.accept(',')) cur_.expect_ident("a target option");  // texmode_*, debug
      } else if (t.text == ".address_size") {
        const std::int64_t n = cur_.expect_int("the address size");
        if (n != 32 && n != 64) cur_.fail(t, fmt::format("bad address size {}", n));
        m_.address_size = static_cast<int>(n);
      } else if (t.text == ".file") {
        cur_.skip_line(t.line);  // debug file table (-lineinfo); it has no terminator
      } else if (t.text == ".section") {
        skip_debug_section(t);
      } else if (t.text == ".pragma") {
        while (cur_.peek().kind == TokenKind::kString || cur_.peek().is(',')) cur_.next();
        cur_.expect(';', "ending the pragma");
      } else {
        parse_declaration(t);
      }
    }
  }

 private:
  void parse_version(const Token& t) {
    const Token& v = cur_.next();
    const std::string_view s = v.text;
    const std::size_t dot = s.find('.');
    auto digits = [](std::string_view d) {
      return !d.empty() && d.size() < 4 && d.find_first_not_of("0123456789") == std::string_view::npos;
    };
    if (v.kind != TokenKind::kNumber || dot == std::string_view::npos || !digits(s.substr(0, dot)) ||
        !digits(s.substr(dot + 1))) {
      cur_.fail(t, fmt::format("bad version '{}'", v.text));
    }
    m_.version_major = std::stoi(std::string(s.substr(0, dot)));
    m_.version_minor = std::stoi(std::string(s.substr(dot + 1)));
  }

  // "sm_90a": the arch a module needs, checked where it is parsed (nothing else re-reads it).
  void parse_target(const Token& v) {
    std::string_view s = v.text;
    m_.target = std::string(s);
    const bool sm = s.substr(0, 3) == "sm_";
    if (sm) s.remove_prefix(3);
    // "a": arch-specific, loads only on that arch; "f": family-specific (sm_100f), which the
    // sim, whose newest arch is sm_90a, treats as the plain arch.
    const bool accel = !s.empty() && s.back() == 'a';
    if (!s.empty() && (s.back() == 'a' || s.back() == 'f')) s.remove_suffix(1);
    if (!sm || s.size() < 2 || s.size() > 3 || s.find_first_not_of("0123456789") != std::string_view::npos) {
      cur_.fail(v, fmt::format("unsupported target '{}' (expected sm_<arch>, e.g. sm_80 or sm_90a)", v.text));
    }
    m_.target_arch = 0;
    for (const char c : s) m_.target_arch = m_.target_arch * 10 + (c - '0');
    m_.target_accel = accel;
  }

  // ".section .debug_str { ... }" (from -lineinfo): DWARF data, nothing the sim executes.
  void skip_debug_section(const Token& t) {
    const Token& name = cur_.next();
    if (name.kind != TokenKind::kDirective || name.text.substr(0, 7) != ".debug_") {
      cur_.fail(t, fmt::format("unsupported section '{}'", name.text));
    }
    cur_.expect('{', "opening the section");
    for (int depth = 1; depth > 0;) {
      const Token& x = cur_.next();
      if (x.kind == TokenKind::kEnd) cur_.fail(t, "the section is not closed");
      depth += x.is('{') ? 1 : x.is('}') ? -1 : 0;
    }
  }

  // [.visible|.weak|.extern|.common]* then a variable or a function.
  void parse_declaration(const Token& first) {
    const Token* t = &first;
    bool is_extern = false;
    while (t->text == ".visible" || t->text == ".weak" || t->text == ".extern" || t->text == ".common") {
      is_extern |= t->text == ".extern";
      t = &cur_.next();
      if (t->kind != TokenKind::kDirective) cur_.unexpected(*t, "a declaration after a linking directive");
    }
    if (t->text == ".global" || t->text == ".const" || t->text == ".shared") {
      auto vars = detail::parse_variables(cur_, std::string(t->text.substr(1)), is_extern, t->line, DeclContext::kModule);
      for (Variable& v : vars) {
        if (!names_.emplace(v.name, -1).second) cur_.fail(*t, fmt::format("'{}' is declared twice", v.name));
        m_.globals.push_back(std::move(v));
      }
    } else if (t->text == ".entry" || t->text == ".func") {
      parse_function(*t);
    } else {
      cur_.fail(*t, fmt::format("unsupported module directive '{}'", t->text));
    }
  }

  void parse_params(std::vector<Variable>& out) {
    cur_.expect('(', "opening a parameter list");
    if (cur_.accept(')')) return;
    do {
      const Token& d = cur_.next();
      if (!d.is_directive(".param")) {
        if (d.is_directive(".reg")) cur_.fail(d, "register parameters are not supported");
        cur_.unexpected(d, "'.param'");
      }
      for (Variable& v : detail::parse_variables(cur_, "param", false, d.line, DeclContext::kParam)) {
        out.push_back(std::move(v));
      }
    } while (cur_.accept(','));
    cur_.expect(')', "closing the parameter list");
  }

  // ".maxntid 256, 1, 1": missing trailing dimensions are 1.
  void parse_dims(int (&dims)[3]) {
    dims[0] = dims[1] = dims[2] = 1;
    int i = 0;
    do {
      const Token& at = cur_.peek();
      if (i == 3) cur_.fail(at, "more than three dimensions");
      const std::int64_t v = cur_.expect_int("a thread count");
      if (v <= 0 || v > 1 << 20) cur_.fail(at, fmt::format("bad thread count {}", v));
      dims[i++] = static_cast<int>(v);
    } while (cur_.accept(','));
  }

  void parse_function(const Token& kw) {
    Function f;
    f.is_entry = kw.text == ".entry";
    f.line = kw.line;
    if (!f.is_entry && cur_.peek().is('(')) parse_params(f.return_params);
    const Token& name = cur_.expect_ident("a function name");
    f.name = std::string(name.text);
    if (cur_.peek().is('(')) parse_params(f.params);
    for (auto* vars : {&f.params, &f.return_params}) {
      for (const Variable& v : *vars) {
        if (v.bytes == 0) cur_.fail(name, fmt::format("parameter '{}' has no size", v.name));
      }
    }
    // Performance directives, up to the body or the ';' of a prototype.
    while (cur_.peek().kind == TokenKind::kDirective) {
      const Token& d = cur_.next();
      if (d.text == ".maxntid") {
        parse_dims(f.maxntid);
      } else if (d.text == ".reqntid") {
        parse_dims(f.reqntid);
      } else if (d.text == ".minnctapersm" || d.text == ".maxnctapersm") {
        f.minnctapersm = static_cast<int>(cur_.expect_int("a block count"));
      } else if (d.text == ".maxnreg") {
        f.maxnreg = static_cast<int>(cur_.expect_int("a register count"));
      } else if (d.text == ".reqnctapercluster") {
        int ignored[3];
        parse_dims(ignored);  // clusters are not modelled: a launch never forms one
      } else if (d.text == ".maxclusterrank") {
        cur_.expect_int("a cluster rank");
      } else if (d.text == ".noreturn" || d.text == ".explicitcluster") {
      } else {
        cur_.fail(d, fmt::format("unsupported function directive '{}'", d.text));
      }
    }
    if (cur_.accept(';')) {
      f.has_body = false;
    } else {
      detail::parse_body(cur_, f, m_);
    }
    add_function(name, std::move(f));
  }

  // A prototype and the definition that follows it are one function, kept where the
  // prototype was.
  void add_function(const Token& at, Function f) {
    auto [it, fresh] = names_.emplace(f.name, static_cast<int>(m_.functions.size()));
    if (fresh) {
      m_.functions.push_back(std::move(f));
      return;
    }
    if (it->second < 0) cur_.fail(at, fmt::format("'{}' is declared twice", f.name));
    Function& old = m_.functions[static_cast<std::size_t>(it->second)];
    if (old.is_entry != f.is_entry) cur_.fail(at, fmt::format("'{}' is declared as .entry and .func", f.name));
    if (old.has_body && f.has_body) cur_.fail(at, fmt::format("'{}' is defined twice", f.name));
    if (f.has_body) old = std::move(f);
  }

  Cursor& cur_;
  Module& m_;
  std::unordered_map<std::string, int> names_;  // module symbol -> function index, -1 for a variable
};

}  // namespace

Module parse_module(std::string_view text, const std::string& name) {
  const detail::Source source(text, name);
  const std::vector<Token> tokens = detail::lex(source);
  Cursor cur(source, tokens);
  Module m;
  m.name = name;
  ModuleParser(cur, m).parse();
  if (m.target.empty()) source.fail(1, "the module has no .target");
  return m;
}

}  // namespace qjit::sim::ptx
