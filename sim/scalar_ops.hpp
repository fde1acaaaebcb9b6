#pragma once
// Scalar semantics of the PTX arithmetic, logic and conversion instructions, as pure
// functions over raw register bits. The sim executor calls one function per instruction;
// everything here is stateless and thread-safe (the f64 directed-rounding paths change the
// host rounding mode, which is per thread, and restore it).
//
// Conventions:
// - Values travel as std::uint64_t holding the register bits. Inputs are read from the low
//   type_bits(type) bits (higher bits are ignored); results are zero-extended to 64 bits,
//   so they can be written to a register as they are.
// - f16 / bf16 live in the low 16 bits; f16x2 / bf16x2 hold element 0 in bits [15:0] and
//   element 1 in bits [31:16]; e4m3x2 / e5m2x2 hold element 0 in bits [7:0].
// - NaN results are the canonical NaN of the destination format (what the GPU writes):
//   kCanonicalNaN* below. Integer results wrap unless a saturating form is named.
// - Rounding::kNone on a float operation means the default IEEE round-to-nearest-even
//   (PTX's unrounded add/mul forms run as separately rounded .rn operations on sim).
//
// NOTE: the round-to-nearest paths use the host's IEEE arithmetic, so they assume the host
// floating-point environment is the default one (round to nearest, no flush-to-zero);
// check_host_fp_env() verifies that and the executor calls it once per launch. Directed
// rounding never depends on the host mode: f16/bf16/f32 results are rounded from exact
// error terms with integer arithmetic, f64 results under a scoped fesetround.
//
// Semantics are taken from the PTX ISA (9.x); where the ISA leaves a value unspecified,
// the choice is a named constant below and says why.

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sim/sim_decode.hpp"  // Cmp: the setp comparison, shared with the decoder

namespace qjit::sim {

// ---------------------------------------------------------------------------------------
// Types and modifiers
// ---------------------------------------------------------------------------------------

enum class ScalarType : std::uint8_t {
  kB8, kB16, kB32, kB64,
  kU8, kU16, kU32, kU64,
  kS8, kS16, kS32, kS64,
  kF16, kF32, kF64, kBF16,
  kF16x2, kBF16x2, kE4M3x2, kE5M2x2,
  kPred,
};

// ".u32" or "u32" -> kU32. Throws qjit::Error (subsystem "sim") for an unknown name.
ScalarType parse_scalar_type(std::string_view name);
std::string_view scalar_type_name(ScalarType t);  // "u32"
int type_bits(ScalarType t);                      // kPred: 1, kE4M3x2: 16, kF16x2: 32
bool is_signed_int(ScalarType t);                 // s8..s64
bool is_unsigned_int(ScalarType t);               // u8..u64 and b8..b64
bool is_float(ScalarType t);                      // f16 f32 f64 bf16 and the packed forms
bool is_packed(ScalarType t);                     // f16x2 bf16x2 e4m3x2 e5m2x2

enum class Rounding : std::uint8_t { kNone, kRn, kRz, kRm, kRp, kRni, kRzi, kRmi, kRpi };

// "rn" / ".rn" -> kRn ...; anything else -> kNone.
Rounding parse_rounding(std::string_view name);
bool is_integer_rounding(Rounding r);  // rni rzi rmi rpi

// Rounding and saturation modifiers of cvt and of the float arithmetic instructions.
struct CvtMods {
  Rounding rnd = Rounding::kNone;
  bool ftz = false;        // flush f32 (and f16 arithmetic) subnormal inputs and results
  bool sat = false;        // int dst: clamp to its range; float dst: clamp to [0, 1]
  bool satfinite = false;  // narrow float dst: beyond MAX_NORM (and Inf) -> +-MAX_NORM
  bool relu = false;       // narrow float dst / f16 fma: negative -> +0, NaN -> canonical
};

// Applies one modifier string ("rn", ".ftz", "satfinite", ...) to `m`; false when the
// string is not a cvt / rounding modifier (types and other qualifiers are left alone).
bool apply_cvt_mod(CvtMods& m, std::string_view mod);
CvtMods parse_cvt_mods(std::span<const std::string> mods);
CvtMods parse_cvt_mods(std::initializer_list<std::string_view> mods);

// Throws qjit::Error (subsystem "sim") unless the calling thread's host rounding mode is
// round-to-nearest (see the NOTE above).
void check_host_fp_env();

// Canonical NaNs (what NVIDIA GPUs write for a NaN result, and what the toolkit's
// conversion headers produce: positive, all payload bits set).
inline constexpr std::uint16_t kCanonicalNaNF16 = 0x7fff;
inline constexpr std::uint16_t kCanonicalNaNBF16 = 0x7fff;
inline constexpr std::uint32_t kCanonicalNaNF32 = 0x7fffffffu;
inline constexpr std::uint64_t kCanonicalNaNF64 = 0x7fffffffffffffffull;
// NOTE: the ISA says a NaN input of cvt ... .satfinite.{e4m3x2,e5m2x2} gives "NaN in the
// specified destination format" without naming the encoding. 0x7f (S=0, all exponent and
// mantissa bits set) is a NaN in both e4m3 and e5m2 and is what the toolkit's cuda_fp8.h
// produces, so every fp8 NaN result is this byte.
inline constexpr std::uint8_t kCanonicalNaNFp8 = 0x7f;
// Float -> 64-bit integer conversion of NaN. The ISA states no value; the toolkit's
// host emulation of cvt.rzi.{s64,u64}.f16 (cuda_fp16.hpp) returns 0x8000000000000000, and
// 0 for every narrower destination, which is what the GPU does.
inline constexpr std::uint64_t kNaNToInt64 = 0x8000000000000000ull;

// ---------------------------------------------------------------------------------------
// cvt
// ---------------------------------------------------------------------------------------

// cvt{.mods}.dst.src d, a. Every single-source form NVRTC emits:
//   int <-> int (sign/zero extension by the source type, truncation, .sat clamping),
//   float -> int (.rni/.rzi/.rmi/.rpi; saturates to the destination range by default;
//     NaN -> 0, or kNaNToInt64 for 64-bit destinations; .ftz on an f32 source),
//   int -> float (.rn/.rz/.rm/.rp; kNone = .rn),
//   float <-> float among f16 bf16 f32 f64 (.rn/.rz/.rm/.rp for narrowing, .rni.. to an
//     integral value for same-size, .ftz for f32, .sat = clamp to [0, 1] with NaN -> +0,
//     .satfinite and .relu for f16/bf16 destinations),
//   f16x2 <- e4m3x2 / e5m2x2 (.rn{.relu}; the upper byte goes to the upper half),
//   e4m3x2 / e5m2x2 <- f16x2 (.rn.satfinite{.relu}).
// Throws qjit::Error (subsystem "sim") for a combination PTX does not define.
std::uint64_t cvt(ScalarType dst, ScalarType src, const CvtMods& m, std::uint64_t a);

// The two-source packing forms cvt{.mods}.dst.f32 d, a, b with dst f16x2 / bf16x2 /
// e4m3x2 / e5m2x2. NOTE: the ISA packs `a` into the UPPER half (bits [31:16], or [15:8] for
// the fp8 pairs) and `b` into the lower one.
std::uint64_t cvt2(ScalarType dst, ScalarType src, const CvtMods& m, std::uint64_t a, std::uint64_t b);

// Throws qjit::Error (subsystem "sim") when cvt (sources = 1) or cvt2 (sources = 2) would
// reject this combination of types and modifiers, e.g. a float-to-int cvt without an
// integer rounding modifier: the decoder calls it so bad PTX fails at load time.
void check_cvt(ScalarType dst, ScalarType src, const CvtMods& m, int sources);

// ---------------------------------------------------------------------------------------
// Float arithmetic (types f16 bf16 f32 f64 f16x2 bf16x2; the packed forms act per half)
// ---------------------------------------------------------------------------------------

// add / sub / mul / fma (mad.rnd.f32 is fma.rnd.f32) with .rn/.rz/.rm/.rp, .ftz, .sat
// (clamp to [0, 1], NaN -> +0) and .relu (negative -> +0, NaN -> canonical).
std::uint64_t fadd(ScalarType t, const CvtMods& m, std::uint64_t a, std::uint64_t b);
std::uint64_t fsub(ScalarType t, const CvtMods& m, std::uint64_t a, std::uint64_t b);
std::uint64_t fmul(ScalarType t, const CvtMods& m, std::uint64_t a, std::uint64_t b);
std::uint64_t ffma(ScalarType t, const CvtMods& m, std::uint64_t a, std::uint64_t b, std::uint64_t c);

// div.rnd.{f32,f64} (IEEE, every rounding mode).
std::uint64_t fdiv(ScalarType t, const CvtMods& m, std::uint64_t a, std::uint64_t b);
// div.full{.ftz}.f32: the ISA allows 2 ulp; sim returns the IEEE .rn quotient (0 ulp), which
// is inside that bound on the whole range.
std::uint64_t fdiv_full(bool ftz, std::uint64_t a, std::uint64_t b);
// div.approx{.ftz}.f32: the .rn quotient for |b| <= 2^126, and the ISA's documented result
// for 2^126 < |b| < 2^128: NaN when a is Inf, else a sign-preserving zero.
std::uint64_t fdiv_approx(bool ftz, std::uint64_t a, std::uint64_t b);

// rcp.rnd.{f32,f64} and sqrt.rnd.{f32,f64}: IEEE, every rounding mode.
std::uint64_t frcp(ScalarType t, const CvtMods& m, std::uint64_t a);
std::uint64_t fsqrt(ScalarType t, const CvtMods& m, std::uint64_t a);

// min / max: f32 f64 f16 bf16 f16x2 bf16x2. Default: a NaN operand is ignored (both NaN ->
// canonical NaN); `nan_mode` (.NaN): canonical NaN if either is NaN. -0.0 < +0.0.
// `xorsign_abs` (.xorsign.abs): the magnitude of the min/max of |a|, |b| with the sign
// sign(a) ^ sign(b) (ignored when the result is NaN).
std::uint64_t fmin(ScalarType t, bool ftz, bool nan_mode, std::uint64_t a, std::uint64_t b,
                   bool xorsign_abs = false);
std::uint64_t fmax(ScalarType t, bool ftz, bool nan_mode, std::uint64_t a, std::uint64_t b,
                   bool xorsign_abs = false);

// abs / neg: sign-bit operations (a NaN stays a NaN); .ftz first flushes a subnormal to a
// sign-preserving zero.
std::uint64_t fabs(ScalarType t, bool ftz, std::uint64_t a);
std::uint64_t fneg(ScalarType t, bool ftz, std::uint64_t a);
// copysign.{f32,f64} d, a, b: NOTE the ISA takes the SIGN from a and the value from b.
std::uint64_t fcopysign(ScalarType t, std::uint64_t a, std::uint64_t b);

enum class TestpOp : std::uint8_t { kFinite, kInfinite, kNumber, kNotANumber, kNormal, kSubnormal };
TestpOp parse_testp_op(std::string_view name);  // "finite" ... "notanumber"; throws otherwise
// testp.op.{f32,f64}. Zero is neither normal nor subnormal.
bool testp(TestpOp op, ScalarType t, std::uint64_t a);

// ---------------------------------------------------------------------------------------
// Approximate functions. Implemented as the correctly rounded (f32: host double libm,
// rounded once) value, with the ISA's special-case tables; the tests hold the ISA's stated
// error bounds, so a future bit-faithful emulation of the hardware stays within them.
// ---------------------------------------------------------------------------------------

std::uint64_t frcp_approx(ScalarType t, bool ftz, std::uint64_t a);    // f32 (1 ulp), f64
std::uint64_t fsqrt_approx(bool ftz, std::uint64_t a);                 // f32 (rel 2^-23)
std::uint64_t frsqrt_approx(ScalarType t, bool ftz, std::uint64_t a);  // f32 (rel 2^-22.9), f64
// ex2.approx: f32 (2 ulp), f16 / f16x2 (rel 2^-9.9), bf16 / bf16x2 (.ftz only, rel 2^-7).
std::uint64_t fex2_approx(ScalarType t, bool ftz, std::uint64_t a);
std::uint64_t flg2_approx(bool ftz, std::uint64_t a);  // f32: abs 2^-22 on (0.5, 2), else rel 2^-22
std::uint64_t fsin_approx(bool ftz, std::uint64_t a);  // f32: abs 2^-20.5 on [-2pi, 2pi]
std::uint64_t fcos_approx(bool ftz, std::uint64_t a);
// tanh.approx: f32 (rel 2^-11), f16 / f16x2 (abs 2^-10.987), bf16 / bf16x2 (abs 2^-8).
std::uint64_t ftanh_approx(ScalarType t, std::uint64_t a);

// ---------------------------------------------------------------------------------------
// Comparison and selection
// ---------------------------------------------------------------------------------------

// setp.cmp.type for one element: integer types use eq ne lt le gt ge (signed for s types,
// unsigned otherwise) and lo ls hi hs (unsigned); float types f16 bf16 f32 f64 use the
// ordered comparisons (false when either is NaN, ne included), the unordered equ neu ltu leu
// gtu geu (true when either is NaN), num and nan. `ftz` flushes f32/f16 subnormal inputs.
bool compare(Cmp c, ScalarType t, bool ftz, std::uint64_t a, std::uint64_t b);
// setp.cmp.{f16x2,bf16x2} p|q, a, b: `lo` compares the bits [15:0] elements (p), `hi` the
// bits [31:16] elements (q).
struct PairPredicate {
  bool lo = false;
  bool hi = false;
};
PairPredicate compare_x2(Cmp c, ScalarType t, bool ftz, std::uint64_t a, std::uint64_t b);

inline std::uint64_t selp(std::uint64_t a, std::uint64_t b, bool c) { return c ? a : b; }
// slct.dtype.ctype d, a, b, c: d = c >= 0 ? a : b, with ctype s32 or f32 (.ftz flushes a
// subnormal c, so -subnormal counts as -0 >= 0; a NaN c selects b).
std::uint64_t slct(ScalarType ctype, bool ftz, std::uint64_t a, std::uint64_t b, std::uint64_t c);

// ---------------------------------------------------------------------------------------
// Integer arithmetic (types u16 u32 u64 s16 s32 s64 unless said otherwise)
// ---------------------------------------------------------------------------------------

// add / sub wrap; .sat (s32 only) clamps to [INT32_MIN, INT32_MAX].
std::uint64_t iadd(ScalarType t, bool sat, std::uint64_t a, std::uint64_t b);
std::uint64_t isub(ScalarType t, bool sat, std::uint64_t a, std::uint64_t b);

// add.cc / addc{.cc} and sub.cc / subc{.cc} (u32 s32 u64 s64). The carry flag of a
// subtraction is a borrow, as the ISA writes subc: d = a - (b + CC.CF).
struct CarryResult {
  std::uint64_t value = 0;
  bool carry = false;
};
CarryResult add_carry(ScalarType t, std::uint64_t a, std::uint64_t b, bool carry_in);
CarryResult sub_borrow(ScalarType t, std::uint64_t a, std::uint64_t b, bool borrow_in);

enum class MulMode : std::uint8_t { kLo, kHi, kWide };
// mul.mode.t: .wide (16- and 32-bit types) returns the full 2n-bit product; .hi the upper n
// bits of it (64-bit types included).
std::uint64_t imul(ScalarType t, MulMode mode, std::uint64_t a, std::uint64_t b);
// mad.mode.t d, a, b, c: the product as imul, plus c (2n bits wide for .wide); .sat only
// for mad.hi.sat.s32 (clamps the sum).
std::uint64_t imad(ScalarType t, MulMode mode, bool sat, std::uint64_t a, std::uint64_t b, std::uint64_t c);
// mul24.{lo,hi}.{u32,s32}: the 48-bit product of the low 24 bits of a and b (sign-extended
// for s32); .lo its bits [31:0], .hi its bits [47:16]. mad24 adds c; .sat only for
// mad24.hi.sat.s32.
std::uint64_t imul24(ScalarType t, bool hi, std::uint64_t a, std::uint64_t b);
std::uint64_t imad24(ScalarType t, bool hi, bool sat, std::uint64_t a, std::uint64_t b, std::uint64_t c);
// sad.t d, a, b, c: c + |a - b|.
std::uint64_t isad(ScalarType t, std::uint64_t a, std::uint64_t b, std::uint64_t c);

// div / rem truncate toward zero. The ISA leaves division by zero unspecified: sim returns
// kIntDivByZero (all ones, what the GPU returns for unsigned division) for div and the
// dividend for rem, so a / b * b + a % b == a still holds. INT_MIN / -1 wraps to INT_MIN
// (rem 0).
inline constexpr std::uint64_t kIntDivByZero = ~std::uint64_t{0};
std::uint64_t idiv(ScalarType t, std::uint64_t a, std::uint64_t b);
std::uint64_t irem(ScalarType t, std::uint64_t a, std::uint64_t b);

// min / max (signed for s types); `relu` (max.relu.s32 / min.relu.s32) clamps a negative
// result to 0.
std::uint64_t imin(ScalarType t, std::uint64_t a, std::uint64_t b, bool relu = false);
std::uint64_t imax(ScalarType t, std::uint64_t a, std::uint64_t b, bool relu = false);
std::uint64_t iabs(ScalarType t, std::uint64_t a);  // abs(INT_MIN) = INT_MIN
std::uint64_t ineg(ScalarType t, std::uint64_t a);

// shl.b{16,32,64} / shr.{b,u,s}{16,32,64}: the amount is an unsigned 32-bit value; amounts
// >= the width give 0, or the sign fill for shr.s.
std::uint64_t shl(ScalarType t, std::uint64_t a, std::uint64_t amount);
std::uint64_t shr(ScalarType t, std::uint64_t a, std::uint64_t amount);
// shf.{l,r}.{clamp,wrap}.b32 d, a, b, c: shifts the 64-bit {b, a} by c (clamp: min(c, 32);
// wrap: c & 31) and returns the upper (l) or lower (r) 32 bits.
std::uint64_t shf(bool left, bool clamp, std::uint64_t a, std::uint64_t b, std::uint64_t c);

// bfe.{u32,u64,s32,s64} d, a, pos, len: pos and len are their low 8 bits; bits beyond the
// width and beyond len are zero (u) or the sign bit a[min(pos + len - 1, msb)] (s; 0 when
// len is 0).
std::uint64_t bfe(ScalarType t, std::uint64_t a, std::uint64_t pos, std::uint64_t len);
// bfi.{b32,b64} f, a, b, pos, len: b with bits [pos, pos + len) replaced by the low bits of
// a (pos, len: low 8 bits; bits past the width are dropped).
std::uint64_t bfi(ScalarType t, std::uint64_t a, std::uint64_t b, std::uint64_t pos, std::uint64_t len);
std::uint64_t brev(ScalarType t, std::uint64_t a);   // b32 b64
std::uint64_t popc(ScalarType t, std::uint64_t a);   // b32 b64 -> u32
std::uint64_t clz(ScalarType t, std::uint64_t a);    // b32 b64 -> u32 (width for 0)
// bfind{.shiftamt}.{u32,u64,s32,s64}: the position of the most significant non-sign bit
// (0xffffffff when there is none); .shiftamt returns msb - position instead.
std::uint64_t bfind(ScalarType t, bool shiftamt, std::uint64_t a);

enum class PrmtMode : std::uint8_t { kDefault, kF4e, kB4e, kRc8, kEcl, kEcr, kRc16 };
PrmtMode parse_prmt_mode(std::string_view name);  // "" / "f4e" ...; throws otherwise
// prmt.b32{.mode} d, a, b, c: bytes {b, a} = b7..b4 b3..b0 picked by c as in the ISA's
// selector tables (generic: four 4-bit selectors, bit 3 replicates the byte's sign bit).
std::uint64_t prmt(PrmtMode mode, std::uint64_t a, std::uint64_t b, std::uint64_t c);
// lop3.b32 d, a, b, c, immLut: bit i of d is bit (a_i << 2 | b_i << 1 | c_i) of immLut
// (so immLut = F(0xf0, 0xcc, 0xaa) for a boolean function F).
std::uint64_t lop3(std::uint64_t a, std::uint64_t b, std::uint64_t c, std::uint32_t lut);

// dp4a.atype.btype d, a, b, c (atype, btype in {u32, s32}): c + the dot product of the four
// bytes of a and b, each sign- or zero-extended by its type; 32-bit wrapping sum.
std::uint64_t dp4a(ScalarType atype, ScalarType btype, std::uint64_t a, std::uint64_t b, std::uint64_t c);
// dp2a.{lo,hi}.atype.btype d, a, b, c: c + a.h0 * b.byte[k] + a.h1 * b.byte[k + 1] with k = 0
// (.lo) or 2 (.hi); halves of a and bytes of b extended by their types.
std::uint64_t dp2a(ScalarType atype, ScalarType btype, bool hi, std::uint64_t a, std::uint64_t b,
                   std::uint64_t c);

}  // namespace qjit::sim
