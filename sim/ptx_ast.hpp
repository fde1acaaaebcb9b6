#pragma once
// The PTX of one module as plain data: what ptx_parser.cpp produces from NVRTC's text and
// the sim decoder turns into executable form. Nothing here knows instruction semantics:
// opcodes and modifiers are kept as the strings PTX spells them.
//
// NOTE: one flat namespace per function. Registers, .param/.local/.shared variables and
// labels declared inside a nested `{ }` block (inline-asm bodies, call sequences) are
// renamed `<name>$b<N>` (N counts the function's blocks from 1, in source order) in their
// declarations and in every use inside the block, so repeated or shadowing declarations
// across blocks never collide. Names declared at function level are kept as written.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace qjit::sim::ptx {

struct Operand {
  enum class Kind {
    kRegister,  // name: "%r1", "%tid.x", "%temp$b2", "p$b3" (special registers are not declared)
    kVector,    // elems: "{%r1, _, %r3}", a call's "(param0, param1)", or "%r1|%p2" (pipe)
    kImmInt,    // imm (hex, octal, binary and decimal forms; a `U` suffix is accepted)
    kImmF32,    // bits: the 32-bit pattern of a 0fXXXXXXXX literal
    kImmF64,    // bits: the 64-bit pattern of 0dXXXXXXXXXXXXXXXX, or of a decimal literal "1.5"
    kAddress,   // "[name+imm]": name is a register or a symbol, or empty for "[imm]"
    kSymbol,    // name of a variable or function (a call target), imm an optional "+8" offset
    kLabel,     // name: a branch target of this function (a key of Function::labels)
    kSink,      // "_"
  };
  Kind kind = Kind::kSink;
  std::string name;             // register, symbol, label, or address base (register or symbol)
  bool negate = false;          // "!%p1"
  std::int64_t imm = 0;         // integer value, or address / symbol offset
  std::uint64_t bits = 0;       // float immediate bits
  std::vector<Operand> elems;   // vector elements
  // NOTE: "%r2|%p1" (shfl.sync's and setp's optional second, predicate destination) is a
  // kVector of its two registers with pipe = true; a braced vector never sets it.
  bool pipe = false;
};

struct Instruction {
  int line = 0;                    // of the statement's first token
  std::string guard;               // "@%p1" -> "%p1" (renamed like any register), empty if none
  bool guard_negated = false;      // "@!%p1"
  std::string opcode;              // "ld" of "ld.global.nc.v4.u32"
  std::vector<std::string> mods;   // {"global","nc","v4","u32"}; "shared::cta" stays one part
  std::vector<Operand> operands;
  std::string text;                // the statement as written (a multi-line one joined by spaces)
};

struct RegDecl {
  std::string type;  // "b32", "pred", "f32", ...
  std::string name;  // one register; "%r<42>" is expanded into %r0 .. %r41
};

struct Variable {
  std::string space;               // "global", "const", "shared", "local", "param"
  std::string type;                // element type: "b8", "u64", "f32", ...
  std::string name;
  int align = 1;                   // .align N, else the element size
  std::uint64_t bytes = 0;         // total size; 0 for an extern unsized array
  bool is_extern = false;
  std::vector<std::uint8_t> init;  // initializer image, zero-padded to `bytes`; empty if none
  int line = 0;
};

struct Function {
  bool is_entry = false;
  // NOTE: false only for a prototype never defined in the module (".extern .func vprintf
  // (...);"): no body, no registers. A prototype followed by its definition is replaced by it.
  bool has_body = true;
  std::string name;
  std::vector<Variable> params;         // space "param"
  std::vector<Variable> return_params;  // .func (.param .b32 retval) name (...)
  std::vector<RegDecl> regs;            // in declaration order, block-local ones renamed
  // .local/.shared declared in the body, and the .param variables of call sequences.
  std::vector<Variable> locals;
  std::vector<Instruction> body;
  std::map<std::string, int> labels;    // label -> index into body of the next instruction
  int maxntid[3] = {0, 0, 0};           // 0 if absent; missing y, z of a present one are 1
  int reqntid[3] = {0, 0, 0};
  int minnctapersm = 0;                 // 0 if absent
  int maxnreg = 0;                      // 0 if absent
  int line = 0;
};

struct Module {
  std::string name;
  int version_major = 0, version_minor = 0;
  std::string target;       // "sm_90a"
  int target_arch = 0;        // 90 (the parser accepts only sm_<2 or 3 digits>[a|f])
  bool target_accel = false;  // "a": loads only on that arch
  int address_size = 32;  // PTX's default where .address_size is absent
  std::vector<Variable> globals;
  std::vector<Function> functions;
  const Function* find(const std::string& name) const;  // nullptr if absent
};

// Element size in bytes of a PTX fundamental type name ("b32" -> 4, "pred" -> 1); 0 if unknown.
int type_size(const std::string& type);

}  // namespace qjit::sim::ptx
