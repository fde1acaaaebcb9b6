// The arithmetic, logic and conversion instructions of the sim, one lane at a time: each
// decoded instruction is mapped onto the PTX semantics of scalar_ops.hpp.

#include "common/error.hpp"
#include "sim/scalar_ops.hpp"
#include "sim/sim_decode.hpp"
#include "sim/sim_lane.hpp"

namespace qjit::sim {

namespace {

std::uint64_t operand(const DInst& in, int i, const LaneCtx& c) { return read_operand(in.ops[i], c); }

MulMode mul_mode(const DInst& in) {
  if (in.flags & kFlagWide) return MulMode::kWide;
  if (in.flags & kFlagHi) return MulMode::kHi;
  return MulMode::kLo;
}

int result_bits(const DInst& in) {
  const int bits = in.bits;
  return (in.flags & kFlagWide) ? 2 * bits : bits;
}

// mov with vector operands packs or unpacks: mov.b64 %rd, {%r1, %r2} / mov.b64 {%r1, %r2}, %rd.
void exec_mov(const DInst& in, LaneCtx& c) {
  const int bits = in.bits;
  const DOperand& d = in.ops[0];
  const DOperand& s = in.ops[1];
  if (s.kind == DOperand::Kind::kVec) {
    const int w = bits / s.n;
    std::uint64_t v = 0;
    for (int i = 0; i < s.n; ++i) {
      const std::uint64_t e = s.vec_imm[i] ? s.vec_bits[i] : (s.vec[i] == kSinkSlot ? 0 : c.regs[s.vec[i]]);
      v |= mask_bits(e, w) << (w * i);
    }
    write_reg(d, c, v, bits);
  } else if (d.kind == DOperand::Kind::kVec) {
    const int w = bits / d.n;
    const std::uint64_t v = read_operand(s, c);
    for (int i = 0; i < d.n; ++i) {
      if (d.vec[i] != kSinkSlot) c.regs[d.vec[i]] = mask_bits(v >> (w * i), w);
    }
  } else {
    write_reg(d, c, read_operand(s, c), bits);
  }
}

void exec_setp(const DInst& in, LaneCtx& c) {
  const auto cmp = static_cast<Cmp>(in.aux & 0xff);
  const auto bop = static_cast<BoolOp>(in.aux >> 8);
  const bool ftz = (in.flags & kFlagFtz) != 0;
  bool r, q;
  if (in.type == ScalarType::kF16x2 || in.type == ScalarType::kBF16x2) {
    // Packed comparisons: p from the low element, q from the high one.
    const PairPredicate pp = compare_x2(cmp, in.type, ftz, operand(in, 1, c), operand(in, 2, c));
    r = pp.lo;
    q = pp.hi;
  } else {
    r = compare(cmp, in.type, ftz, operand(in, 1, c), operand(in, 2, c));
    q = !r;
  }
  if (bop != BoolOp::kNone) {
    const bool p3 = operand(in, 3, c) != 0;
    switch (bop) {
      case BoolOp::kAnd: r = r && p3, q = q && p3; break;
      case BoolOp::kOr: r = r || p3, q = q || p3; break;
      case BoolOp::kXor: r = r != p3, q = q != p3; break;
      default: break;
    }
  }
  const DOperand& d = in.ops[0];
  if (d.kind == DOperand::Kind::kVec) {  // p|q
    if (d.vec[0] != kSinkSlot) c.regs[d.vec[0]] = r;
    if (d.n > 1 && d.vec[1] != kSinkSlot) c.regs[d.vec[1]] = q;
  } else {
    write_reg(d, c, r, 1);
  }
}

}  // namespace

bool is_alu(Op op) {
  switch (op) {
    case Op::kMov: case Op::kCvt: case Op::kCvtPack: case Op::kAdd: case Op::kSub: case Op::kMul: case Op::kMad:
    case Op::kFma: case Op::kDiv: case Op::kRem: case Op::kAbs: case Op::kNeg: case Op::kMin: case Op::kMax:
    case Op::kAnd: case Op::kOr: case Op::kXor: case Op::kNot: case Op::kCnot: case Op::kShl: case Op::kShr:
    case Op::kShf: case Op::kPrmt: case Op::kLop3: case Op::kBfe: case Op::kBfi: case Op::kBrev: case Op::kPopc:
    case Op::kClz: case Op::kBfind: case Op::kSetp: case Op::kSelp: case Op::kSlct: case Op::kRcp: case Op::kSqrt:
    case Op::kRsqrt: case Op::kEx2: case Op::kLg2: case Op::kSin: case Op::kCos: case Op::kTanh:
    case Op::kCopysign: case Op::kTestp: case Op::kMul24: case Op::kMad24: case Op::kSad: case Op::kDp4a:
    case Op::kDp2a: case Op::kAddc: case Op::kSubc:
      return true;
    default:
      return false;
  }
}

void exec_alu(const DInst& in, LaneCtx& c) {
  const ScalarType t = in.type;
  const int bits = in.bits;
  const bool fp = (in.flags & kFlagFloat) != 0;
  const bool ftz = (in.flags & kFlagFtz) != 0;
  const CvtMods& m = in.cvt;
  auto a = [&] { return operand(in, 1, c); };
  auto b = [&] { return operand(in, 2, c); };
  auto c3 = [&] { return operand(in, 3, c); };
  auto set = [&](std::uint64_t v, int nbits) { write_reg(in.ops[0], c, v, nbits); };
  switch (in.op) {
    case Op::kMov: exec_mov(in, c); return;
    case Op::kCvt: set(cvt(in.type, in.type2, m, a()), bits); return;
    case Op::kCvtPack: set(cvt2(in.type, in.type2, m, a(), b()), bits); return;
    case Op::kAdd:
    case Op::kAddc:
      if (fp) return set(fadd(t, m, a(), b()), bits);
      if (in.flags & (kFlagCc | kFlagCarryIn)) {
        const CarryResult r = add_carry(t, a(), b(), (in.flags & kFlagCarryIn) && *c.carry);
        if (in.flags & kFlagCc) *c.carry = r.carry;
        return set(r.value, bits);
      }
      return set(iadd(t, (in.flags & kFlagSat) != 0, a(), b()), bits);
    case Op::kSub:
    case Op::kSubc:
      if (fp) return set(fsub(t, m, a(), b()), bits);
      if (in.flags & (kFlagCc | kFlagCarryIn)) {
        const CarryResult r = sub_borrow(t, a(), b(), (in.flags & kFlagCarryIn) && *c.carry);
        if (in.flags & kFlagCc) *c.carry = r.carry;
        return set(r.value, bits);
      }
      return set(isub(t, (in.flags & kFlagSat) != 0, a(), b()), bits);
    case Op::kMul:
      if (fp) return set(fmul(t, m, a(), b()), bits);
      return set(imul(t, mul_mode(in), a(), b()), result_bits(in));
    case Op::kMad:
      if (fp) return set(ffma(t, m, a(), b(), c3()), bits);
      return set(imad(t, mul_mode(in), (in.flags & kFlagSat) != 0, a(), b(), c3()), result_bits(in));
    case Op::kFma: return set(ffma(t, m, a(), b(), c3()), bits);
    case Op::kDiv:
      if (!fp) return set(idiv(t, a(), b()), bits);
      if (in.flags & kFlagApprox) return set(fdiv_approx(ftz, a(), b()), bits);
      if (in.flags & kFlagFull) return set(fdiv_full(ftz, a(), b()), bits);
      return set(fdiv(t, m, a(), b()), bits);
    case Op::kRem: return set(irem(t, a(), b()), bits);
    case Op::kAbs: return set(fp ? fabs(t, ftz, a()) : iabs(t, a()), bits);
    case Op::kNeg: return set(fp ? fneg(t, ftz, a()) : ineg(t, a()), bits);
    case Op::kMin:
      return set(fp ? fmin(t, ftz, (in.flags & kFlagNaN) != 0, a(), b()) : imin(t, a(), b(), (in.flags & kFlagRelu) != 0),
                 bits);
    case Op::kMax:
      return set(fp ? fmax(t, ftz, (in.flags & kFlagNaN) != 0, a(), b()) : imax(t, a(), b(), (in.flags & kFlagRelu) != 0),
                 bits);
    case Op::kAnd: return set(a() & b(), bits);
    case Op::kOr: return set(a() | b(), bits);
    case Op::kXor: return set(a() ^ b(), bits);
    case Op::kNot: return set(t == ScalarType::kPred ? (a() == 0 ? 1 : 0) : ~a(), bits);
    case Op::kCnot: return set(a() == 0 ? 1 : 0, bits);
    case Op::kShl: return set(shl(t, a(), b()), bits);
    case Op::kShr: return set(shr(t, a(), b()), bits);
    case Op::kShf: return set(shf((in.flags & kFlagLeft) != 0, (in.flags & kFlagClamp) != 0, a(), b(), c3()), 32);
    case Op::kPrmt: return set(prmt(static_cast<PrmtMode>(in.aux), a(), b(), c3()), 32);
    case Op::kLop3: return set(lop3(a(), b(), c3(), static_cast<std::uint32_t>(operand(in, 4, c))), bits);
    case Op::kBfe: return set(bfe(t, a(), b(), c3()), bits);
    case Op::kBfi: return set(bfi(t, a(), b(), c3(), operand(in, 4, c)), bits);
    case Op::kBrev: return set(brev(t, a()), bits);
    case Op::kPopc: return set(popc(t, a()), 32);
    case Op::kClz: return set(clz(t, a()), 32);
    case Op::kBfind: return set(bfind(t, (in.flags & kFlagShiftamt) != 0, a()), 32);
    case Op::kSetp: exec_setp(in, c); return;
    case Op::kSelp: return set(selp(a(), b(), c3() != 0), bits);
    case Op::kSlct: return set(slct(in.type2, ftz, a(), b(), c3()), bits);
    case Op::kRcp: return set((in.flags & kFlagApprox) ? frcp_approx(t, ftz, a()) : frcp(t, m, a()), bits);
    case Op::kSqrt: return set((in.flags & kFlagApprox) ? fsqrt_approx(ftz, a()) : fsqrt(t, m, a()), bits);
    case Op::kRsqrt: return set(frsqrt_approx(t, ftz, a()), bits);
    case Op::kEx2: return set(fex2_approx(t, ftz, a()), bits);
    case Op::kLg2: return set(flg2_approx(ftz, a()), bits);
    case Op::kSin: return set(fsin_approx(ftz, a()), bits);
    case Op::kCos: return set(fcos_approx(ftz, a()), bits);
    case Op::kTanh: return set(ftanh_approx(t, a()), bits);
    case Op::kCopysign: return set(fcopysign(t, a(), b()), bits);
    case Op::kTestp: return set(testp(static_cast<TestpOp>(in.aux), t, a()) ? 1 : 0, 1);
    case Op::kMul24: return set(imul24(t, (in.flags & kFlagHi) != 0, a(), b()), bits);
    case Op::kMad24: return set(imad24(t, (in.flags & kFlagHi) != 0, (in.flags & kFlagSat) != 0, a(), b(), c3()), bits);
    case Op::kSad: return set(isad(t, a(), b(), c3()), bits);
    case Op::kDp4a: return set(dp4a(in.type, in.type2, a(), b(), c3()), 32);
    case Op::kDp2a: return set(dp2a(in.type, in.type2, (in.flags & kFlagHi) != 0, a(), b(), c3()), 32);
    default: QJIT_THROW("sim", "PTX line {}: not an ALU instruction", in.line);
  }
}

std::uint64_t atomic_combine(AtomOp op, ScalarType t, std::uint64_t old, std::uint64_t b, std::uint64_t c) {
  const int bits = type_bits(t);
  const bool fp = is_float(t);
  CvtMods rn;
  rn.rnd = Rounding::kRn;
  switch (op) {
    case AtomOp::kAdd: return fp ? fadd(t, rn, old, b) : mask_bits(old + b, bits);
    case AtomOp::kMin: return fp ? fmin(t, false, false, old, b) : imin(t, old, b);
    case AtomOp::kMax: return fp ? fmax(t, false, false, old, b) : imax(t, old, b);
    case AtomOp::kAnd: return old & b;
    case AtomOp::kOr: return old | b;
    case AtomOp::kXor: return old ^ b;
    case AtomOp::kExch: return b;
    case AtomOp::kCas: return mask_bits(old, bits) == mask_bits(b, bits) ? c : old;
    case AtomOp::kInc: return mask_bits(old, bits) >= mask_bits(b, bits) ? 0 : mask_bits(old + 1, bits);
    case AtomOp::kDec: return (old == 0 || mask_bits(old, bits) > mask_bits(b, bits)) ? b : mask_bits(old - 1, bits);
  }
  return old;
}

}  // namespace qjit::sim
