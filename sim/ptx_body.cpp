// Function bodies: declarations, labels and instructions, with block scoping.
//
// Names resolve lexically. A name declared in the innermost enclosing block wins; names
// declared in a nested block are renamed "<name>$b<N>" (ptx_ast.hpp). An identifier that
// names no register or variable is a label or a symbol, which is only known once the
// labels that follow have been seen: it is kept as a pending reference, offered to the
// labels of each block as that block closes, and at the end of the function it is either a
// function-level label or must name a symbol (a parameter, local, global or function).

#include "sim/ptx_body.hpp"

#include <fmt/format.h>

#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "sim/ptx_decl.hpp"

namespace qjit::sim::ptx::detail {

namespace {

// Special registers are read without a declaration.
bool is_special_register(std::string_view name) {
  const std::string_view base = name.substr(0, name.find('.'));
  static constexpr std::string_view kNames[] = {
      "%tid",           "%ntid",         "%laneid",        "%warpid",          "%nwarpid",
      "%ctaid",         "%nctaid",       "%smid",          "%nsmid",           "%gridid",
      "%lanemask_eq",   "%lanemask_le",  "%lanemask_lt",   "%lanemask_ge",     "%lanemask_gt",
      "%clock",         "%clock_hi",     "%clock64",       "%globaltimer",     "%globaltimer_lo",
      "%globaltimer_hi", "%total_smem_size", "%aggr_smem_size", "%dynamic_smem_size",
      "%current_graph_exec", "%is_explicit_cluster", "%clusterid", "%nclusterid",
      "%cluster_ctaid", "%cluster_nctaid", "%cluster_ctarank", "%cluster_nctarank",
  };
  for (auto n : kNames) {
    if (n == base) return true;
  }
  for (std::string_view prefix : {"%pm", "%envreg", "%reserved_smem_offset"}) {
    if (base.substr(0, prefix.size()) == prefix) return true;
  }
  return false;
}

struct Decl {
  std::string name;  // as renamed
  bool is_reg = false;
};

// An operand (or one element of a vector operand) holding a pending label-or-symbol name.
struct Ref {
  std::size_t inst = 0;
  int op = 0;
  int elem = -1;  // -1: the operand itself
};

struct Scope {
  int block = 0;  // 0: the function's own
  std::unordered_map<std::string, Decl> decls;
  std::unordered_map<std::string, std::string> labels;  // as written -> renamed
  std::vector<Ref> pending;
};

// The statement as written; a statement spread over lines (NVRTC's call sequences) is
// joined with single spaces.
std::string statement_text(std::string_view s) {
  if (s.find('\n') == std::string_view::npos) return std::string(s);
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const char c = s[i];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      std::size_t j = i;
      bool newline = false;
      while (j < s.size() && (s[j] == ' ' || s[j] == '\t' || s[j] == '\r' || s[j] == '\n')) newline |= s[j++] == '\n';
      if (newline) {
        out += ' ';
      } else {
        out.append(s.substr(i, j - i));
      }
      i = j;
    } else {
      out += c;
      ++i;
    }
  }
  return out;
}

class BodyParser {
 public:
  BodyParser(Cursor& cur, Function& fn, const Module& module) : cur_(cur), fn_(fn), module_(module) {}

  void parse() {
    cur_.expect('{', "opening the function body");
    scopes_.push_back(Scope{});
    for (;;) {
      const Token& t = cur_.peek();
      if (t.is('{')) {
        cur_.next();
        scopes_.push_back(Scope{++blocks_, {}, {}, {}});
      } else if (t.is('}')) {
        cur_.next();
        if (scopes_.size() == 1) return finish();
        close_block();
      } else if (t.is(';')) {
        cur_.next();
      } else if (t.kind == TokenKind::kDirective) {
        parse_directive();
      } else if (t.kind == TokenKind::kIdent && cur_.peek(1).is(':')) {
        parse_label();
      } else if (t.is('@') || t.kind == TokenKind::kIdent) {
        parse_instruction();
      } else if (t.kind == TokenKind::kEnd) {
        cur_.source().fail(fn_.line, fmt::format("the body of '{}' is not closed", fn_.name));
      } else {
        cur_.unexpected(t, "a statement");
      }
    }
  }

 private:
  std::string scoped(std::string_view name) const {
    const int block = scopes_.back().block;
    return block == 0 ? std::string(name) : fmt::format("{}$b{}", name, block);
  }

  const Decl* lookup(std::string_view name) const {
    const std::string key(name);
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
      if (auto d = it->decls.find(key); d != it->decls.end()) return &d->second;
    }
    return nullptr;
  }

  std::string declare(const Token& at, std::string name, bool is_reg) {
    Scope& s = scopes_.back();
    std::string renamed = scoped(name);
    if (!s.decls.emplace(std::move(name), Decl{renamed, is_reg}).second) {
      cur_.fail(at, fmt::format("'{}' is declared twice", renamed));
    }
    return renamed;
  }

  void parse_directive() {
    const Token& d = cur_.next();
    if (d.text == ".reg") {
      parse_regs(d);
    } else if (d.text == ".local" || d.text == ".shared" || d.text == ".param" ||
               (d.text == ".extern" && cur_.peek().is_directive(".shared"))) {
      const bool is_extern = d.text == ".extern";
      const std::string space(is_extern ? "shared" : d.text.substr(1));
      if (is_extern) cur_.next();
      for (Variable& v : parse_variables(cur_, space, is_extern, d.line, DeclContext::kFunction)) {
        v.name = declare(d, v.name, false);
        fn_.locals.push_back(std::move(v));
      }
    } else if (d.text == ".pragma") {
      // Hints (".pragma \"nounroll\";") change no result.
      do {
        if (cur_.peek().kind != TokenKind::kString) cur_.unexpected(cur_.peek(), "a pragma string");
        cur_.next();
      } while (cur_.accept(','));
      cur_.expect(';', "ending the pragma");
    } else if (d.text == ".loc") {
      cur_.skip_line(d.line);  // debug line information (-lineinfo); it has no terminator
    } else {
      cur_.fail(d, fmt::format("unsupported directive '{}' in a function body", d.text));
    }
  }

  void parse_regs(const Token& d) {
    const Token& t = cur_.peek();
    if (t.kind != TokenKind::kDirective) cur_.unexpected(t, "a register type");
    if (t.text == ".v2" || t.text == ".v4" || t.text == ".v8") cur_.fail(t, "vector registers are not supported");
    const std::string type(t.text.substr(1));
    if (!is_type_name(type)) cur_.fail(t, fmt::format("unknown register type '{}'", t.text));
    cur_.next();
    do {
      const Token& name = cur_.expect_ident("a register name");
      if (name.text.find('.') != std::string_view::npos) cur_.fail(name, fmt::format("bad register name '{}'", name.text));
      if (cur_.accept('<')) {
        const std::int64_t n = cur_.expect_int("a register count");
        if (n < 0 || n > (1 << 24)) cur_.fail(name, fmt::format("bad register count {}", n));
        cur_.expect('>', "after the register count");
        const std::string base(name.text);
        for (std::int64_t i = 0; i < n; ++i) {
          fn_.regs.push_back({type, declare(name, base + std::to_string(i), true)});
        }
      } else {
        fn_.regs.push_back({type, declare(name, std::string(name.text), true)});
      }
    } while (cur_.accept(','));
    if (cur_.peek().is('=')) cur_.fail(cur_.peek(), "register initializers are not supported");
    cur_.expect(';', "ending the register declaration");
  }

  void parse_label() {
    const Token& name = cur_.next();
    cur_.next();  // ':'
    if (name.text.find('.') != std::string_view::npos) cur_.fail(name, fmt::format("bad label '{}'", name.text));
    std::string renamed = scoped(name.text);
    if (!scopes_.back().labels.emplace(std::string(name.text), renamed).second ||
        !fn_.labels.emplace(renamed, static_cast<int>(fn_.body.size())).second) {
      cur_.fail(name, fmt::format("label '{}' is defined twice", renamed));
    }
  }

  void parse_instruction() {
    Instruction in;
    const Token& first = cur_.peek();
    in.line = first.line;
    if (cur_.accept('@')) {
      in.guard_negated = cur_.accept('!');
      const Token& g = cur_.expect_ident("a guard predicate");
      const Decl* d = lookup(g.text);
      if (d == nullptr || !d->is_reg) cur_.fail(g, fmt::format("guard '{}' is not a declared register", g.text));
      in.guard = d->name;
    }
    const Token& op = cur_.expect_ident("an instruction");
    std::string_view rest = op.text;
    std::size_t dot = rest.find('.');
    in.opcode = std::string(rest.substr(0, dot));
    while (dot != std::string_view::npos) {
      rest.remove_prefix(dot + 1);
      dot = rest.find('.');
      in.mods.emplace_back(rest.substr(0, dot));
    }
    const char c0 = in.opcode[0];
    if (!((c0 >= 'a' && c0 <= 'z') || (c0 >= 'A' && c0 <= 'Z')) || in.opcode.find(':') != std::string::npos) {
      cur_.fail(op, fmt::format("bad opcode '{}'", in.opcode));
    }
    if (!cur_.peek().is(';')) {
      in.operands.reserve(4);  // most instructions; saves regrowing a vector of Operands
      do {
        in.operands.push_back(parse_operand(static_cast<int>(in.operands.size())));
      } while (cur_.accept(','));
    }
    const Token& end = cur_.expect(';', "ending the instruction");
    in.text = statement_text(std::string_view(first.text.data(), end.text.data() + 1 - first.text.data()));
    fn_.body.push_back(std::move(in));
  }

  Operand parse_operand(int op) {
    const Token& t = cur_.peek();
    if (t.is('{') || t.is('(')) {
      const char close = t.is('{') ? '}' : ')';
      cur_.next();
      Operand v;
      v.kind = Operand::Kind::kVector;
      if (close == '}' || !cur_.peek().is(')')) {
        do {
          v.elems.push_back(parse_element(op, static_cast<int>(v.elems.size())));
        } while (cur_.accept(','));
      }
      cur_.expect(close, "closing the vector operand");
      return v;
    }
    if (t.is('[')) return parse_address();
    Operand o = parse_element(op, -1);
    if (cur_.peek().is('|')) {
      // "%r2|%p1": a second, predicate destination.
      const Token& bar = cur_.next();
      if (o.kind != Operand::Kind::kRegister) cur_.fail(bar, "'|' must join two registers");
      Operand second = parse_element(op, -1);
      if (second.kind != Operand::Kind::kRegister || second.negate) cur_.fail(bar, "'|' must join two registers");
      Operand v;
      v.kind = Operand::Kind::kVector;
      v.pipe = true;
      v.elems.push_back(std::move(o));
      v.elems.push_back(std::move(second));
      return v;
    }
    if (o.kind == Operand::Kind::kSymbol && cur_.peek().is('+') && offset_follows()) {
      cur_.next();
      o.imm = offset_value();
    }
    return o;
  }

  bool offset_follows() const {
    return cur_.peek(1).kind == TokenKind::kNumber || (cur_.peek(1).is('-') && cur_.peek(2).kind == TokenKind::kNumber);
  }

  // The integer after a '+' of "sym+8" or "[%rd1+-4]".
  std::int64_t offset_value() { return cur_.expect_int("an offset"); }

  Operand parse_element(int op, int elem) {
    const Token& t = cur_.peek();
    if (t.is('!')) {
      cur_.next();
      const Token& name = cur_.expect_ident("a predicate register after '!'");
      Operand o = identifier(name, op, elem);
      if (o.kind != Operand::Kind::kRegister) cur_.fail(name, fmt::format("'!{}' negates no register", name.text));
      o.negate = true;
      return o;
    }
    if (t.is('-') && cur_.peek(1).kind == TokenKind::kNumber) {
      cur_.next();
      return number_operand(cur_.source(), cur_.next(), true);
    }
    if (t.kind == TokenKind::kNumber) return number_operand(cur_.source(), cur_.next(), false);
    if (t.kind == TokenKind::kIdent) {
      cur_.next();
      if (t.text == "_") {
        Operand sink;
        sink.kind = Operand::Kind::kSink;
        return sink;
      }
      return identifier(t, op, elem);
    }
    cur_.unexpected(t, "an operand");
  }

  // A register, a variable of a block, or a pending label-or-symbol.
  Operand identifier(const Token& t, int op, int elem) {
    Operand o;
    if (const Decl* d = lookup(t.text)) {
      o.kind = d->is_reg ? Operand::Kind::kRegister : Operand::Kind::kSymbol;
      o.name = d->name;
      return o;
    }
    o.name = std::string(t.text);
    if (t.text[0] == '%') {
      if (!is_special_register(t.text)) cur_.fail(t, fmt::format("register '{}' is not declared", t.text));
      o.kind = Operand::Kind::kRegister;
      return o;
    }
    o.kind = Operand::Kind::kSymbol;
    scopes_.back().pending.push_back({fn_.body.size(), op, elem});
    return o;
  }

  Operand parse_address() {
    cur_.next();  // '['
    Operand a;
    a.kind = Operand::Kind::kAddress;
    const Token& base = cur_.peek();
    if (base.kind == TokenKind::kIdent) {
      cur_.next();
      if (const Decl* d = lookup(base.text)) {
        a.name = d->name;
      } else if (base.text[0] == '%') {
        cur_.fail(base, fmt::format("register '{}' is not declared", base.text));
      } else {
        a.name = std::string(base.text);
        symbol_checks_.push_back({a.name, base.line});
      }
      if (cur_.peek().is('+')) {
        cur_.next();
        a.imm = offset_value();
      } else if (cur_.peek().is('-')) {
        a.imm = cur_.expect_int("an offset");
      }
    } else {
      a.imm = cur_.expect_int("an address");
    }
    cur_.expect(']', "closing the address");
    return a;
  }

  Operand& at(const Ref& r) {
    Operand& o = fn_.body[r.inst].operands[static_cast<std::size_t>(r.op)];
    return r.elem < 0 ? o : o.elems[static_cast<std::size_t>(r.elem)];
  }

  // Pending names that are labels of the closing block resolve here; the rest move out.
  void close_block() {
    Scope s = std::move(scopes_.back());
    scopes_.pop_back();
    for (const Ref& r : s.pending) {
      Operand& o = at(r);
      if (auto it = s.labels.find(o.name); it != s.labels.end()) {
        o.kind = Operand::Kind::kLabel;
        o.name = it->second;
      } else {
        scopes_.back().pending.push_back(r);
      }
    }
  }

  void finish() {
    const Scope& top = scopes_.back();
    for (const Ref& r : top.pending) {
      Operand& o = at(r);
      if (top.labels.count(o.name)) {
        o.kind = Operand::Kind::kLabel;
      } else {
        symbol_checks_.push_back({o.name, fn_.body[r.inst].line});
      }
    }
    for (const Instruction& in : fn_.body) {
      if (in.opcode != "bra") continue;
      for (const Operand& o : in.operands) {
        if (o.kind != Operand::Kind::kLabel) cur_.source().fail(in.line, fmt::format("'{}' is not a label of '{}'", o.name, fn_.name));
      }
    }
    if (symbol_checks_.empty()) return;
    std::unordered_set<std::string_view> known;
    known.insert(fn_.name);
    const Function& fn = fn_;
    for (const std::vector<Variable>* vars : {&fn.params, &fn.return_params, &fn.locals, &module_.globals}) {
      for (const Variable& v : *vars) known.insert(v.name);
    }
    for (const Function& f : module_.functions) known.insert(f.name);
    for (const auto& [name, line] : symbol_checks_) {
      if (!known.count(name)) cur_.source().fail(line, fmt::format("unknown symbol or label '{}'", name));
    }
  }

  Cursor& cur_;
  Function& fn_;
  const Module& module_;
  std::vector<Scope> scopes_;
  int blocks_ = 0;
  std::vector<std::pair<std::string, int>> symbol_checks_;  // name, PTX line
};

}  // namespace

void parse_body(Cursor& cur, Function& fn, const Module& module) { BodyParser(cur, fn, module).parse(); }

}  // namespace qjit::sim::ptx::detail
