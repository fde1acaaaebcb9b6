#pragma once
// One lane's view of its state while the interpreter executes an instruction for it:
// registers, carry flag and the values of the special registers. Shared by the control /
// memory part of the interpreter (sim_exec.cpp) and the ALU part (sim_alu.cpp).

#include <cstdint>

#include "sim/sim_decode.hpp"
#include "sim/sim_program.hpp"

namespace qjit::sim {

struct LaneCtx {
  std::uint64_t* regs = nullptr;
  std::uint8_t* carry = nullptr;
  std::uint32_t tid[3] = {0, 0, 0}, ntid[3] = {1, 1, 1}, ctaid[3] = {0, 0, 0}, nctaid[3] = {1, 1, 1};
  std::uint32_t laneid = 0, warpid = 0, nwarpid = 1, smid = 0, nsmid = 1;
  std::uint32_t dynamic_smem = 0, total_smem = 0;
  const std::uint64_t* clock = nullptr;  // the CTA's instruction counter
};

std::uint64_t read_special(Special s, const LaneCtx& c);

inline std::uint64_t read_operand(const DOperand& o, const LaneCtx& c) {
  std::uint64_t v;
  switch (o.kind) {
    case DOperand::Kind::kReg: v = c.regs[o.reg]; break;
    case DOperand::Kind::kImm: v = o.imm; break;
    case DOperand::Kind::kSpecial: v = read_special(static_cast<Special>(o.imm), c); break;
    default: v = 0; break;
  }
  return o.negate ? (v == 0 ? 1 : 0) : v;
}

// Zero-extends the low `bits` of v (registers hold values zero-extended to 64 bits).
inline std::uint64_t mask_bits(std::uint64_t v, int bits) {
  return bits >= 64 ? v : (v & ((std::uint64_t{1} << bits) - 1));
}

inline void write_reg(const DOperand& o, const LaneCtx& c, std::uint64_t v, int bits) {
  if (o.kind == DOperand::Kind::kReg) c.regs[o.reg] = mask_bits(v, bits);
}

// Executes an arithmetic / logic / conversion instruction (every Op that neither touches
// memory nor control flow nor other lanes) for one lane.
void exec_alu(const DInst& in, LaneCtx& c);
bool is_alu(Op op);

// The value an atomic (atom/red) writes, given the old value and its operands.
std::uint64_t atomic_combine(AtomOp op, ScalarType t, std::uint64_t old, std::uint64_t b, std::uint64_t c);

}  // namespace qjit::sim
