#pragma once
// A PTX module decoded for execution: every instruction's opcode, type, modifiers and
// operands resolved to register slots, immediates, special registers, label targets and
// symbol addresses, so the interpreter's inner loop never touches a string. An instruction
// the sim does not support fails here, at load time, naming the instruction and PTX line.

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "sim/ptx_ast.hpp"
#include "sim/scalar_ops.hpp"
#include "sim/warp_ops.hpp"

namespace qjit::sim {

enum class Op : std::uint8_t {
  kMov, kLd, kSt, kCvta, kCvt, kCvtPack,
  kAdd, kSub, kMul, kMad, kFma, kDiv, kRem, kAbs, kNeg, kMin, kMax,
  kAnd, kOr, kXor, kNot, kCnot, kShl, kShr, kShf, kPrmt, kLop3, kBfe, kBfi, kBrev, kPopc, kClz, kBfind,
  kSetp, kSelp, kSlct, kRcp, kSqrt, kRsqrt, kEx2, kLg2, kSin, kCos, kTanh, kCopysign, kTestp,
  kMul24, kMad24, kSad, kDp4a, kDp2a, kAddc, kSubc,
  kBra, kRet, kExit, kBar, kBarArrive, kBarWarp, kMembar, kAtom, kRed,
  kShfl, kVote, kMatch, kRedux, kLdmatrix, kStmatrix, kMma,
  kCpAsync, kCpAsyncCommit, kCpAsyncWait, kCpAsyncWaitAll, kActivemask, kNop,
};

enum class Space : std::uint8_t { kGeneric, kGlobal, kShared, kLocal, kParam, kConst };

// Special registers, read-only per thread.
enum class Special : std::uint8_t {
  kTidX, kTidY, kTidZ, kNtidX, kNtidY, kNtidZ, kCtaidX, kCtaidY, kCtaidZ, kNctaidX, kNctaidY, kNctaidZ,
  kLaneid, kWarpid, kNwarpid, kSmid, kNsmid, kClock, kClock64, kGlobaltimer,
  kLanemaskEq, kLanemaskLt, kLanemaskLe, kLanemaskGt, kLanemaskGe, kDynamicSmemSize, kTotalSmemSize,
};

// Addresses of the state spaces inside the generic address space. Global allocations live
// far below these windows (SimDriver hands out addresses from kGlobalBase).
inline constexpr std::uint64_t kGlobalBase = 0x0000'7000'0000'0000ull;
inline constexpr std::uint64_t kSharedWindow = 0x0000'7e00'0000'0000ull;
inline constexpr std::uint64_t kLocalWindow = 0x0000'7f00'0000'0000ull;
inline constexpr std::uint64_t kWindowSize = 0x0000'0001'0000'0000ull;

struct DOperand {
  enum class Kind : std::uint8_t { kNone, kReg, kImm, kSpecial, kVec, kAddr, kSink };
  Kind kind = Kind::kNone;
  bool negate = false;      // !%p
  std::uint32_t reg = 0;    // kReg: slot; kAddr: base slot when has_base
  bool has_base = false;    // kAddr: register base
  std::uint64_t imm = 0;    // kImm bits; kAddr: offset (plus the symbol's address); kSpecial: Special
  std::uint8_t n = 0;       // kVec: element count
  std::array<std::uint32_t, 8> vec{};  // kVec: slots (kSinkSlot for "_")
  std::array<bool, 8> vec_imm{};       // kVec element is an immediate (in vec_bits)
  std::array<std::uint64_t, 8> vec_bits{};
};

inline constexpr std::uint32_t kSinkSlot = 0xffffffffu;

struct DInst {
  Op op = Op::kNop;
  ScalarType type = ScalarType::kB32;   // the instruction's (last) type suffix
  ScalarType type2 = ScalarType::kB32;  // cvt source type; setp/slct comparison type
  Space space = Space::kGeneric;
  std::uint8_t vec = 1;                 // ld/st .v2/.v4
  std::uint8_t bits = 32;               // type_bits(type), precomputed for the inner loop
  std::uint8_t nops = 0;
  std::int32_t guard = -1;              // predicate slot, -1 = none
  bool guard_negated = false;
  std::uint32_t flags = 0;              // op-specific modifier bits (see sim_decode.cpp)
  std::uint32_t aux = 0;                // op-specific small value (comparison, mode, group count ...)
  std::array<DOperand, 6> ops{};
  int line = 0;                         // PTX line
  std::uint32_t target = 0;             // bra: instruction index
  CvtMods cvt{};                        // cvt / rounding modifiers of float arithmetic
  MmaDesc mma{};                        // mma: shape and types, parsed once
  const ptx::Instruction* source = nullptr;  // for messages and the collective parsers
};

struct SimParam {
  std::string name;
  std::uint32_t offset = 0, bytes = 0, align = 1;
};

struct SimFunction {
  std::string name;
  bool is_entry = false;
  std::vector<SimParam> params;
  std::uint32_t param_bytes = 0;
  std::uint32_t nregs = 0;
  std::vector<std::string> reg_names;   // slot -> name, for messages
  std::vector<DInst> insts;
  std::uint32_t local_bytes = 0;        // per-thread .local frame
  std::uint32_t static_shared_bytes = 0;
  std::uint32_t dynamic_shared_offset = 0;  // where extern .shared starts (aligned)
  std::array<int, 3> maxntid{0, 0, 0};
  std::array<int, 3> reqntid{0, 0, 0};
  std::map<std::string, std::uint32_t> shared_offsets;  // shared variable -> offset
};

// Module-scope .global/.const variables are placed in device memory by the driver at load;
// `symbol_address` gives their addresses to the decoder.
struct SimModule {
  std::string name;
  std::string target;  // "sm_89"
  int arch = 0;        // 89
  ptx::Module ast;
  std::vector<SimFunction> functions;
  const SimFunction* find(const std::string& name) const;
};

// Decodes every function; `global_address(name)` resolves module-scope .global/.const
// variables (already allocated by the caller). Throws qjit::Error (subsystem "sim") naming
// the PTX line of the first unsupported instruction.
using GlobalResolver = std::uint64_t (*)(void* ctx, const std::string& name);
SimModule decode_module(ptx::Module module, GlobalResolver resolve, void* ctx);

}  // namespace qjit::sim
