// Variable declarations and initializers. NVRTC writes module data as `.b8 name[N] = {..}`
// byte lists; the typed forms (`.f32 t[2] = {0f3F800000, 1.5}`) are accepted too.

#include "sim/ptx_decl.hpp"

#include <fmt/format.h>

#include <cstring>

namespace qjit::sim::ptx::detail {

namespace {

bool is_space_name(std::string_view d) {
  return d == ".global" || d == ".const" || d == ".shared" || d == ".local" || d == ".param" ||
         d == ".shared::cta" || d == ".shared::cluster";
}

// Appends `value` in little-endian order, `size` bytes.
void put(std::vector<std::uint8_t>& out, std::uint64_t value, int size) {
  for (int i = 0; i < size; ++i) out.push_back(static_cast<std::uint8_t>(value >> (8 * i)));
}

// One initializer literal in the variable's element type.
void encode(Cursor& cur, const Token& at, const Operand& lit, const std::string& type, std::vector<std::uint8_t>& out) {
  using K = Operand::Kind;
  const int size = type_size(type);
  if (type == "f32") {
    float f;
    if (lit.kind == K::kImmF32) {
      put(out, lit.bits, 4);
      return;
    }
    if (lit.kind == K::kImmF64) {
      double d;
      std::memcpy(&d, &lit.bits, sizeof d);
      f = static_cast<float>(d);
    } else {
      f = static_cast<float>(lit.imm);
    }
    std::uint32_t b;
    std::memcpy(&b, &f, sizeof b);
    put(out, b, 4);
    return;
  }
  if (type == "f64") {
    double d;
    if (lit.kind == K::kImmF64) {
      put(out, lit.bits, 8);
      return;
    }
    if (lit.kind == K::kImmF32) {
      float f;
      const std::uint32_t b = static_cast<std::uint32_t>(lit.bits);
      std::memcpy(&f, &b, sizeof f);
      d = f;
    } else {
      d = static_cast<double>(lit.imm);
    }
    std::uint64_t b;
    std::memcpy(&b, &d, sizeof b);
    put(out, b, 8);
    return;
  }
  // Integer and bit types, and f16/bf16 given as their bit patterns.
  if (lit.kind != K::kImmInt) {
    cur.fail(at, fmt::format("a floating-point initializer for .{} is not supported", type));
  }
  put(out, static_cast<std::uint64_t>(lit.imm), size);
}

// `{...}` (nested braces flatten, as for multi-dimensional arrays) or one literal.
void parse_init(Cursor& cur, const std::string& type, std::vector<std::uint8_t>& out) {
  if (cur.accept('{')) {
    if (cur.accept('}')) return;
    do {
      parse_init(cur, type, out);
    } while (cur.accept(','));
    cur.expect('}', "closing the initializer");
    return;
  }
  const bool negative = cur.accept('-');
  const Token& t = cur.peek();
  if (t.kind == TokenKind::kIdent) {
    cur.fail(t, fmt::format("initializers naming symbols ('{}') are not supported", t.text));
  }
  if (t.kind != TokenKind::kNumber) cur.unexpected(t, "an initializer value");
  cur.next();
  encode(cur, t, number_operand(cur.source(), t, negative), type, out);
}

}  // namespace

bool is_type_name(std::string_view n) {
  static constexpr std::string_view kTypes[] = {
      "pred", "b8",  "b16", "b32",  "b64",   "b128",   "u8",  "u16", "u32", "u64", "s8",
      "s16",  "s32", "s64", "f16",  "f16x2", "bf16",   "bf16x2", "f32", "f64", "tf32",
  };
  for (auto t : kTypes) {
    if (t == n) return true;
  }
  return false;
}

std::vector<Variable> parse_variables(Cursor& cur, const std::string& space, bool is_extern, int line,
                                      DeclContext context) {
  int align = 0;
  int vec = 1;
  std::string type;
  bool in_ptr = false;  // after .ptr, .space and .align describe the pointee (ignored)
  while (cur.peek().kind == TokenKind::kDirective) {
    const Token& d = cur.next();
    const std::string_view name = d.text.substr(1);
    if (d.text == ".align") {
      const std::int64_t a = cur.expect_int("the alignment");
      if (a <= 0 || (a & (a - 1)) != 0 || a > 1 << 20) cur.fail(d, fmt::format("bad alignment {}", a));
      if (!in_ptr) align = static_cast<int>(a);
    } else if (d.text == ".v2" || d.text == ".v4" || d.text == ".v8") {
      vec = d.text[2] - '0';
    } else if (d.text == ".ptr" && context == DeclContext::kParam && !type.empty()) {
      in_ptr = true;
    } else if (in_ptr && is_space_name(d.text)) {
      // the pointee's state space
    } else if (is_type_name(name) && type.empty() && name != "pred") {
      type = std::string(name);
    } else {
      cur.fail(d, fmt::format("unsupported '{}' in a .{} declaration", d.text, space));
    }
  }
  if (type.empty()) cur.unexpected(cur.peek(), fmt::format("a type in the .{} declaration", space));
  const int elem = type_size(type) * vec;

  std::vector<Variable> out;
  do {
    Variable v;
    v.space = space;
    v.type = type;
    v.is_extern = is_extern;
    v.line = line;
    v.align = align > 0 ? align : elem;
    const Token& name = cur.expect_ident("a variable name");
    if (name.text.find('.') != std::string_view::npos) cur.fail(name, fmt::format("bad variable name '{}'", name.text));
    v.name = std::string(name.text);
    std::uint64_t count = 1;
    bool unsized = false;
    for (int dim = 0; cur.accept('['); ++dim) {
      if (cur.accept(']')) {
        if (dim != 0) cur.fail(name, "only the first dimension of an array may be unsized");
        unsized = true;
        continue;
      }
      const std::int64_t n = cur.expect_int("an array size");
      if (n <= 0) cur.fail(name, fmt::format("bad array size {}", n));
      count *= static_cast<std::uint64_t>(n);
      cur.expect(']', "after the array size");
    }
    v.bytes = unsized ? 0 : count * static_cast<std::uint64_t>(elem);
    if (cur.peek().is('=')) {
      if (context != DeclContext::kModule || (space != "global" && space != "const")) {
        cur.fail(cur.peek(), fmt::format("a .{} variable cannot be initialized", space));
      }
      cur.next();
      parse_init(cur, type, v.init);
      if (unsized) {
        // `name[] = {...}`: the initializer sizes the (row-padded) array.
        const std::uint64_t row = count * static_cast<std::uint64_t>(elem);
        v.bytes = (v.init.size() + row - 1) / row * row;
      }
      if (v.init.size() > v.bytes) cur.fail(name, fmt::format("initializer of '{}' has more values than the variable", v.name));
      v.init.resize(v.bytes, 0);
    } else if (unsized && !is_extern) {
      cur.fail(name, fmt::format("'{}' has no size", v.name));
    }
    out.push_back(std::move(v));
  } while (context != DeclContext::kParam && cur.accept(','));
  if (context != DeclContext::kParam) cur.expect(';', "ending the declaration");
  return out;
}

}  // namespace qjit::sim::ptx::detail
