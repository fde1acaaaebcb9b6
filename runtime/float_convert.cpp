#include "runtime/float_convert.hpp"

#include <bit>

// Everything here works on the bit patterns with integer arithmetic, so the results do not
// depend on the host FPU (rounding mode, flush-to-zero, x87 excess precision).

namespace qjit {

namespace {

constexpr std::uint32_t kF32AbsMask = 0x7fffffffu;
constexpr std::uint32_t kF32InfBits = 0x7f800000u;
constexpr std::uint32_t kF32QuietBit = 0x00400000u;
constexpr int kF32MantBits = 23;
constexpr int kF32Bias = 127;

std::uint32_t bits_of(float x) { return std::bit_cast<std::uint32_t>(x); }
float float_of(std::uint32_t b) { return std::bit_cast<float>(b); }

// v >> shift, rounded to nearest with ties to even.
std::uint32_t shift_right_rne(std::uint32_t v, int shift) {
  if (shift <= 0) return v;
  // NOTE: callers pass v < 2^24, which is below the half-way point of any shift >= 25; the
  // early return keeps the shifts below defined.
  if (shift >= 32) return 0;
  const std::uint32_t q = v >> shift;
  const std::uint32_t rem = v & ((1u << shift) - 1u);
  const std::uint32_t half = 1u << (shift - 1);
  return (rem > half || (rem == half && (q & 1u))) ? q + 1u : q;
}

// The magnitude of a finite f32 (`abs_bits`, sign cleared) rounded to nearest-even into a
// narrow format with `mant_bits` fraction bits and exponent bias `bias`, as that format's
// exponent|fraction encoding. The result may lie beyond the format's largest finite
// encoding: overflow is decided by the caller, after rounding, as cvt.rn does. A mantissa
// that rounds up carries into the exponent field, which is exactly the next encoding.
std::uint32_t round_magnitude(std::uint32_t abs_bits, int mant_bits, int bias) {
  const int exp_field = static_cast<int>(abs_bits >> kF32MantBits);
  const std::uint32_t frac = abs_bits & ((1u << kF32MantBits) - 1u);
  // value = sig * 2^(e - 23), with sig < 2^24.
  const int e = exp_field == 0 ? 1 - kF32Bias : exp_field - kF32Bias;
  const std::uint32_t sig = exp_field == 0 ? frac : frac | (1u << kF32MantBits);
  const int emin = 1 - bias;  // exponent of the smallest normal of the target
  if (e >= emin) {
    // sig holds its implicit bit here (an f32 subnormal is below every target's emin except
    // bf16's, which does not come through this function).
    const std::uint32_t rounded = shift_right_rne(sig, kF32MantBits - mant_bits);  // [2^m, 2^(m+1)]
    return (static_cast<std::uint32_t>(e + bias - 1) << mant_bits) + rounded;
  }
  // Target subnormal: count units of 2^(emin - mant_bits). Rounding up to 2^m units gives
  // the smallest normal's encoding.
  return shift_right_rne(sig, kF32MantBits - mant_bits + (emin - e));
}

// f32 bits of the magnitude of a finite narrow float (exponent field `exp`, fraction
// `frac`); exact, since every narrow value is representable in f32.
std::uint32_t widen_magnitude(std::uint32_t exp, std::uint32_t frac, int mant_bits, int bias) {
  if (exp == 0) {
    if (frac == 0) return 0;
    // Subnormal: value = frac * 2^(1 - bias - m). Normalize so the leading one becomes the
    // implicit bit.
    const int msb = 31 - std::countl_zero(frac);
    const auto e = static_cast<std::uint32_t>(msb + 1 - bias - mant_bits + kF32Bias);
    const std::uint32_t f = (frac << (kF32MantBits - msb)) & ((1u << kF32MantBits) - 1u);
    return (e << kF32MantBits) | f;
  }
  return ((exp - static_cast<std::uint32_t>(bias) + kF32Bias) << kF32MantBits) |
         (frac << (kF32MantBits - mant_bits));
}

}  // namespace

// --- f16 -------------------------------------------------------------------------------

std::uint16_t f32_to_f16(float x) {
  constexpr int kMant = 10;
  constexpr int kBias = 15;
  constexpr std::uint32_t kInf = 0x7c00u;
  const std::uint32_t b = bits_of(x);
  const std::uint32_t sign = (b >> 16) & 0x8000u;
  const std::uint32_t a = b & kF32AbsMask;
  if (a > kF32InfBits) {
    // Quiet NaN keeping the sign and the top payload bits (as x86 F16C does); the quiet bit
    // also keeps a payload that lived only in the low bits from becoming Inf.
    return static_cast<std::uint16_t>(sign | kInf | 0x0200u | ((a >> 13) & 0x03ffu));
  }
  if (a == kF32InfBits) return static_cast<std::uint16_t>(sign | kInf);
  std::uint32_t enc = round_magnitude(a, kMant, kBias);
  if (enc >= kInf) enc = kInf;
  return static_cast<std::uint16_t>(sign | enc);
}

float f16_to_f32(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1fu;
  const std::uint32_t frac = h & 0x03ffu;
  if (exp == 0x1fu) {
    if (frac == 0) return float_of(sign | kF32InfBits);
    return float_of(sign | kF32InfBits | kF32QuietBit | (frac << 13));
  }
  return float_of(sign | widen_magnitude(exp, frac, 10, 15));
}

// --- bf16 ------------------------------------------------------------------------------

std::uint16_t f32_to_bf16(float x) {
  const std::uint32_t b = bits_of(x);
  if ((b & kF32AbsMask) > kF32InfBits) {
    return static_cast<std::uint16_t>((b >> 16) | 0x0040u);  // quiet, sign and top payload kept
  }
  // bf16 is f32 with the low 16 bits dropped, so RNE is one add: below half rounds down,
  // above rounds up, a tie adds the kept lsb. A carry out of the fraction increments the
  // exponent (the largest finite values round to Inf), and subnormals need no special case.
  const std::uint32_t rounded = b + 0x7fffu + ((b >> 16) & 1u);
  return static_cast<std::uint16_t>(rounded >> 16);
}

float bf16_to_f32(std::uint16_t h) {
  std::uint32_t b = static_cast<std::uint32_t>(h) << 16;
  if ((b & kF32AbsMask) > kF32InfBits) b |= kF32QuietBit;
  return float_of(b);
}

// --- fp8 -------------------------------------------------------------------------------

std::uint8_t f32_to_e4m3(float x, bool satfinite) {
  constexpr std::uint32_t kMax = 0x7eu;  // 448
  constexpr std::uint32_t kNaN = 0x7fu;  // e4m3fn has no Inf: S.1111.111 is its only NaN
  const std::uint32_t b = bits_of(x);
  const std::uint32_t sign = (b >> 24) & 0x80u;
  const std::uint32_t a = b & kF32AbsMask;
  if (a > kF32InfBits) return static_cast<std::uint8_t>(sign | kNaN);
  if (a == kF32InfBits) return static_cast<std::uint8_t>(sign | (satfinite ? kMax : kNaN));
  const std::uint32_t enc = round_magnitude(a, 3, 7);
  if (enc > kMax) return static_cast<std::uint8_t>(sign | (satfinite ? kMax : kNaN));
  return static_cast<std::uint8_t>(sign | enc);
}

std::uint8_t f32_to_e5m2(float x, bool satfinite) {
  constexpr std::uint32_t kMax = 0x7bu;  // 57344
  constexpr std::uint32_t kInf = 0x7cu;
  const std::uint32_t b = bits_of(x);
  const std::uint32_t sign = (b >> 24) & 0x80u;
  const std::uint32_t a = b & kF32AbsMask;
  if (a > kF32InfBits) {
    // Quiet NaN (fraction msb set), keeping the sign and the next payload bit, as f16 does.
    return static_cast<std::uint8_t>(sign | kInf | 0x02u | ((a >> 21) & 0x01u));
  }
  if (a == kF32InfBits) return static_cast<std::uint8_t>(sign | (satfinite ? kMax : kInf));
  const std::uint32_t enc = round_magnitude(a, 2, 15);
  if (enc > kMax) return static_cast<std::uint8_t>(sign | (satfinite ? kMax : kInf));
  return static_cast<std::uint8_t>(sign | enc);
}

float e4m3_to_f32(std::uint8_t v) {
  const std::uint32_t sign = static_cast<std::uint32_t>(v & 0x80u) << 24;
  if ((v & 0x7fu) == 0x7fu) return float_of(sign | kF32InfBits | kF32QuietBit);
  return float_of(sign | widen_magnitude((v >> 3) & 0x0fu, v & 0x07u, 3, 7));
}

float e5m2_to_f32(std::uint8_t v) {
  const std::uint32_t sign = static_cast<std::uint32_t>(v & 0x80u) << 24;
  const std::uint32_t exp = (v >> 2) & 0x1fu;
  const std::uint32_t frac = v & 0x03u;
  if (exp == 0x1fu) {
    if (frac == 0) return float_of(sign | kF32InfBits);
    return float_of(sign | kF32InfBits | kF32QuietBit | (frac << 21));
  }
  return float_of(sign | widen_magnitude(exp, frac, 2, 15));
}

}  // namespace qjit
