#pragma once
// Modifier bits of decoded instructions (DInst::flags), shared by the decoder and the
// interpreter.

#include <cstdint>

namespace qjit::sim {

enum DecodeFlag : std::uint32_t {
  kFlagHi = 1u << 0,        // mul.hi / mad.hi
  kFlagWide = 1u << 1,      // mul.wide / mad.wide
  kFlagSat = 1u << 2,       // .sat (integer add/sub, float clamp)
  kFlagNaN = 1u << 3,       // min/max .NaN
  kFlagFtz = 1u << 4,
  kFlagApprox = 1u << 5,
  kFlagCc = 1u << 6,        // add.cc / sub.cc write the carry
  kFlagCarryIn = 1u << 7,   // addc / subc read it
  kFlagTrans = 1u << 8,     // ldmatrix .trans
  kFlagToSpace = 1u << 9,   // cvta.to.<space> (generic -> space); else space -> generic
  kFlagShiftamt = 1u << 10, // bfind.shiftamt
  kFlagClamp = 1u << 11,    // shf.clamp
  kFlagLeft = 1u << 12,     // shf.l
  kFlagAsyncZfill = 1u << 13,  // cp.async with a src-size operand
  kFlagAbsNeg = 1u << 14,
  kFlagRelu = 1u << 15,
  kFlagPredOut = 1u << 16,  // shfl / setp with a second (predicate) destination
  kFlagSigned = 1u << 17,
  kFlagFull = 1u << 18,     // div.full
  kFlagFloat = 1u << 19,    // the instruction type is a float type (precomputed)
};

// setp comparison (DInst::aux low byte) and bool combination (aux >> 8).
enum class Cmp : std::uint8_t { kEq, kNe, kLt, kLe, kGt, kGe, kLo, kLs, kHi, kHs, kEqu, kNeu, kLtu, kLeu, kGtu, kGeu, kNum, kNan };
enum class BoolOp : std::uint8_t { kNone, kAnd, kOr, kXor };
// atom/red operation (aux).
enum class AtomOp : std::uint8_t { kAdd, kMin, kMax, kAnd, kOr, kXor, kExch, kCas, kInc, kDec };

}  // namespace qjit::sim
