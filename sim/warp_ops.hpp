#pragma once
// Semantics of the PTX warp-collective instructions as pure functions over the 32 lanes'
// register values: shfl.sync, vote.sync, match.sync, redux.sync, mma.sync, ldmatrix and
// stmatrix. The interpreter (sim_exec) gathers the operands of every lane that arrived at
// the rendezvous, calls these, and scatters the results; nothing here knows about
// registers, guard predicates or memory checking, so each instruction's semantics can be
// tested alone against the PTX ISA text.
//
// Lane arrays are indexed by %laneid. Every layout is derived from the PTX ISA (9.x):
// the shfl.sync pseudo-code, the "Matrix Fragments for mma.m16n8kK" tables and the
// ldmatrix / stmatrix address table and fragment figure (see the .cpp files).

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace qjit::sim {

inline constexpr int kWarpSize = 32;

// --- shfl.sync ------------------------------------------------------------------------------

enum class ShflMode : std::uint8_t { kUp, kDown, kBfly, kIdx };

/// shfl.sync.mode.b32 d[|p], a, b, c, membermask for the lanes in `active_lanes` (those that
/// executed the instruction). `b` and `c` are per lane because PTX allows registers there;
/// only b[4:0], c[4:0] (clamp) and c[12:8] (segment mask) are read, as the ISA says. A lane
/// whose computed source lane is out of range gets its own `a` and p = false. Lanes outside
/// `active_lanes` are left untouched in `d` and `p`.
///
/// Returns the lanes whose result the ISA leaves undefined, so the executor can report them:
/// an executing lane not named in `membermask`, or one that sources an in-range lane which
/// did not execute the instruction or is not in `membermask`. Those lanes still receive the
/// source lane's current `a` (deterministic, never garbage).
std::uint32_t shfl_sync(ShflMode mode, const std::uint32_t a[kWarpSize], const std::uint32_t b[kWarpSize],
                        const std::uint32_t c[kWarpSize], std::uint32_t membermask, std::uint32_t active_lanes,
                        std::uint32_t d[kWarpSize], bool p[kWarpSize]);

// --- vote.sync / match.sync / redux.sync --------------------------------------------------
//
// For these, `membermask` means the lanes taking part: the instruction's membermask less
// the lanes that have exited (the ISA reduces over "all non-exited threads in membermask").
// The result is the same for every participating lane, except match.any.

enum class VoteMode : std::uint8_t { kAll, kAny, kUni, kBallot };

/// vote.sync.{all,any,uni}.pred returns 1 or 0; vote.sync.ballot.b32 returns the ballot (bit
/// i = pred of lane i for participating lanes, 0 elsewhere). The executor applies `{!}a`
/// before calling. With no participant, all and uni are vacuously 1 and any is 0.
std::uint32_t vote_sync(VoteMode mode, const bool pred[kWarpSize], std::uint32_t membermask);

enum class MatchMode : std::uint8_t { kAny, kAll };

/// match.{any,all}.sync.{b32,b64} d[|p], a, membermask for the participating lanes. With
/// `is64` false only the low 32 bits of each value are compared. .any: d = the participating
/// lanes whose value equals this lane's. .all: d = membermask and p = true when every
/// participant holds the same value, else d = 0 and p = false. `p` may be null; for .any it
/// is not written.
void match_sync(MatchMode mode, const std::uint64_t value[kWarpSize], bool is64, std::uint32_t membermask,
                std::uint32_t d[kWarpSize], bool p[kWarpSize]);

// NOTE: the enumerator order matches the decoder's `aux` for redux (add min max and or xor).
enum class ReduxOp : std::uint8_t { kAdd, kMin, kMax, kAnd, kOr, kXor };
enum class ReduxType : std::uint8_t { kU32, kS32, kB32 };

/// redux.sync.op.type over the participating lanes' 32-bit values. .add wraps (the ISA:
/// "result is truncated to 32 bits"); min/max compare as signed for kS32, else unsigned.
/// With no participant the operation's identity is returned.
std::uint32_t redux_sync(ReduxOp op, ReduxType type, const std::uint32_t value[kWarpSize],
                         std::uint32_t membermask);

// --- mma.sync -------------------------------------------------------------------------------

enum class MmaInType : std::uint8_t { kS8, kU8, kE4m3, kE5m2, kF16, kBf16 };
enum class MmaAccType : std::uint8_t { kS32, kF32, kF16 };

/// One mma.sync.aligned.mMnNkK.row.col form. Supported (row.col only):
///   m16n8k32, m16n8k16: .s32 <- .s8/.u8 (any mix) x .s8/.u8, with or without .satfinite
///   m16n8k32, m16n8k16: .f32 or .f16 <- .e4m3/.e5m2 (any mix) x .e4m3/.e5m2
///   m16n8k16, m16n8k8:  .f32 or .f16 <- .f16 x .f16;  .f32 <- .bf16 x .bf16
/// with C of the same type as D, as the ISA requires for these shapes.
struct MmaDesc {
  int m = 16, n = 8, k = 16;
  MmaInType a_type = MmaInType::kF16, b_type = MmaInType::kF16;
  MmaAccType c_type = MmaAccType::kF32, d_type = MmaAccType::kF32;
  bool satfinite = false;  // integer forms: clamp to [INT32_MIN, INT32_MAX] instead of wrapping
};

/// Parses the dot-separated modifiers after "mma", e.g.
/// {"sync","aligned","m16n8k32","row","col","satfinite","s32","s8","s8","s32"} (types in the
/// PTX order d, a, b, c). Throws qjit::Error (subsystem "sim") naming the modifiers of an
/// unsupported or malformed form.
MmaDesc parse_mma(const std::vector<std::string>& mods);

/// Number of 32-bit registers each lane holds for fragment 'a', 'b', 'c' or 'd'.
int mma_regs(const MmaDesc& desc, char which);

/// D = A * B + C for the warp. Lane l's fragment registers are a[l][0 .. mma_regs('a')-1] and
/// so on; d[l][mma_regs('d') ..] are left untouched. Packed elements lie low to high in each
/// register, as the ISA's "Elements (low to high)" columns say.
///
/// Numerics (the sim's choice; the ISA leaves accumulation order and internal rounding
/// unspecified): integer forms sum exactly and then wrap to 32 bits, or clamp with
/// .satfinite. Float forms convert every element exactly (fp8 and f16 subnormals included),
/// form the exact sum of the K products and c, and round it once to D's type with
/// round-to-nearest-even (overflow gives Inf). NaN in, 0 * Inf, or Inf - Inf give the
/// canonical NaN (0x7fffffff for f32, 0x7fff for f16). Hardware accumulates fp8 products
/// with less than f32 precision, so sim results are at least as accurate; qjit's kernels
/// promote fp8 partial sums every 128 K (DESIGN.md section 5), which keeps real devices
/// within the tests' bounds of this.
void mma_sync(const MmaDesc& desc, const std::uint32_t a[kWarpSize][4], const std::uint32_t b[kWarpSize][4],
              const std::uint32_t c[kWarpSize][4], std::uint32_t d[kWarpSize][4]);

// --- ldmatrix / stmatrix (.m8n8, .b16) ------------------------------------------------------

/// Lanes 0 .. ldmatrix_address_lanes(num)-1 supply row addresses (8 * num): lane 8*i + r
/// gives the address of row r of matrix i; the other lanes' addresses are ignored. The same
/// table holds for stmatrix. Throws qjit::Error for num other than 1, 2, 4.
int ldmatrix_address_lanes(int num);

using SharedRead16 = std::function<void(std::uint32_t addr, void* dst16)>;
using SharedWrite16 = std::function<void(std::uint32_t addr, const void* src16)>;

/// ldmatrix.sync.aligned.m8n8.{x1,x2,x4}{.trans}.shared.b16: reads the 8 rows of 16 bytes of
/// each matrix through `read16` (once per row, in address-lane order) and fills d[l][0 ..
/// num-1]: register i of lane l holds, low half first, row l/4, columns 2*(l%4) and
/// 2*(l%4)+1 of matrix i; with .trans, rows 2*(l%4) and 2*(l%4)+1 of column l/4. Checking
/// the addresses (shared window, 16-byte alignment) is the caller's job.
void ldmatrix(int num, bool trans, const std::uint32_t row_addr[kWarpSize], const SharedRead16& read16,
              std::uint32_t d[kWarpSize][4]);

/// stmatrix.sync.aligned.m8n8.{x1,x2,x4}{.trans}.shared.b16 (sm_90): the inverse of
/// ldmatrix. Writes each matrix's 8 rows through `write16`, in address-lane order (when two
/// rows share an address the later one wins; the ISA leaves that undefined).
void stmatrix(int num, bool trans, const std::uint32_t row_addr[kWarpSize], const std::uint32_t s[kWarpSize][4],
              const SharedWrite16& write16);

}  // namespace qjit::sim
