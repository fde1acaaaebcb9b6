// Exact rounding into the float formats, with integer arithmetic only, so directed rounding
// (and round-to-nearest of values a host operation cannot produce in one step, such as an
// fma or a 64-bit integer) never depends on the host FPU.

#include <algorithm>
#include <bit>
#include <cfenv>
#include <cmath>
#include <limits>

#include "common/error.hpp"
#include "runtime/float_convert.hpp"
#include "sim/scalar_ops_internal.hpp"

namespace qjit::sim::detail {

namespace {

// |value| = sig * 2^exp, plus an infinitesimal more when `sticky` (the value is not exactly
// representable with this sig, but lies strictly between sig and sig + 1 units).
struct Exact {
  bool negative = false;
  std::uint64_t sig = 0;
  int exp = 0;
  bool sticky = false;
};

// Where the discarded part of the magnitude lies relative to one unit in the last place.
enum class Tail { kExact, kBelowHalf, kHalf, kAboveHalf };

Rounding base_mode(Rounding r) {
  switch (r) {
    case Rounding::kRz:
    case Rounding::kRzi: return Rounding::kRz;
    case Rounding::kRm:
    case Rounding::kRmi: return Rounding::kRm;
    case Rounding::kRp:
    case Rounding::kRpi: return Rounding::kRp;
    default: return Rounding::kRn;
  }
}

std::uint64_t round_exact(const FloatFormat& f, Rounding rnd, const Exact& x) {
  const Rounding r = base_mode(rnd);
  const std::uint64_t sign = x.negative ? f.sign_bit() : 0;
  if (x.sig == 0) return sign;
  const int msb = 63 - std::countl_zero(x.sig);
  const int e = msb + x.exp;  // |value| in [2^e, 2^(e+1))
  const int emin = 1 - f.bias;
  // The weight of the target's last place: the normal grid of binade e, or the subnormal
  // grid below 2^emin.
  const int lsb = std::max(e, emin) - f.mant_bits;
  const int shift = lsb - x.exp;
  std::uint64_t q = 0;  // the magnitude truncated to whole units of 2^lsb
  Tail tail = Tail::kExact;
  if (shift <= 0) {
    // NOTE: q < 2^(mant_bits + 1) here, since |value| < 2^(e+1) and lsb >= e - mant_bits.
    q = x.sig << -shift;
  } else {
    std::uint64_t rem = 0;
    std::uint64_t half = 0;
    if (shift < 64) {
      q = x.sig >> shift;
      rem = x.sig & ((std::uint64_t{1} << shift) - 1);
      half = std::uint64_t{1} << (shift - 1);
    } else if (shift == 64) {
      rem = x.sig;
      half = std::uint64_t{1} << 63;
    } else {
      rem = 1;  // far below half a unit: only its being nonzero matters
      half = 2;
    }
    tail = rem == 0 ? Tail::kExact : rem < half ? Tail::kBelowHalf : rem == half ? Tail::kHalf : Tail::kAboveHalf;
  }
  if (x.sticky) {
    if (tail == Tail::kExact) tail = Tail::kBelowHalf;
    else if (tail == Tail::kHalf) tail = Tail::kAboveHalf;
  }
  bool up = false;
  switch (r) {
    case Rounding::kRz: up = false; break;
    case Rounding::kRm: up = x.negative && tail != Tail::kExact; break;
    case Rounding::kRp: up = !x.negative && tail != Tail::kExact; break;
    default: up = tail == Tail::kAboveHalf || (tail == Tail::kHalf && (q & 1)); break;
  }
  q += up ? 1 : 0;
  // The exponent field minus one of binade `lsb + mant_bits`; 0 on the subnormal grid, where
  // q itself is the encoding. A q that carried to 2^(mant_bits + 1) becomes the next
  // binade's first value through the addition.
  const auto base = static_cast<std::uint64_t>(lsb + f.mant_bits + f.bias - 1);
  std::uint64_t mag = (base << f.mant_bits) + q;
  if (mag >= f.inf_bits()) {
    const bool to_inf = r == Rounding::kRn || (r == Rounding::kRp && !x.negative) || (r == Rounding::kRm && x.negative);
    mag = to_inf ? f.inf_bits() : f.max_finite();
  }
  return sign | mag;
}

}  // namespace

const FloatFormat& format_of(ScalarType t) {
  switch (t) {
    case ScalarType::kF16:
    case ScalarType::kF16x2: return kF16;
    case ScalarType::kBF16:
    case ScalarType::kBF16x2: return kBF16;
    case ScalarType::kF32: return kF32;
    case ScalarType::kF64: return kF64;
    default: QJIT_THROW("sim", "{} is not a float type", scalar_type_name(t));
  }
}

ScalarType element_type(ScalarType t) {
  if (t == ScalarType::kF16x2) return ScalarType::kF16;
  if (t == ScalarType::kBF16x2) return ScalarType::kBF16;
  return t;
}

double to_double(const FloatFormat& f, std::uint64_t v) {
  // All exact widenings (a NaN stays a NaN; its payload does not matter here).
  switch (f.mant_bits) {
    case kF64.mant_bits: return f64_from(v);
    case kF32.mant_bits: return static_cast<double>(f32_from(v));
    case kBF16.mant_bits: return static_cast<double>(f32_from((v & 0xffff) << 16));
    default: return static_cast<double>(f16_to_f32(static_cast<std::uint16_t>(v)));
  }
}

std::uint64_t round_pair(const FloatFormat& f, Rounding r, double hi, double lo) {
  if (std::isnan(hi)) return f.canonical_nan;
  const bool negative = std::signbit(hi);
  const std::uint64_t sign = negative ? f.sign_bit() : 0;
  if (std::isinf(hi)) return sign | f.inf_bits();
  if (hi == 0) return sign;
  const std::uint64_t b = f64_bits(hi);
  const int exp_field = static_cast<int>((b >> 52) & 0x7ff);
  const std::uint64_t frac = b & ((std::uint64_t{1} << 52) - 1);
  Exact x;
  x.negative = negative;
  x.sig = exp_field == 0 ? frac : frac | (std::uint64_t{1} << 52);
  x.exp = (exp_field == 0 ? 1 : exp_field) - 1075;
  if (lo != 0) {
    x.sticky = true;
    if ((lo > 0) == negative) {
      // The magnitude is a little below |hi|: sig - tiny lies strictly between 4 sig - 1 and
      // 4 sig quarter units, and no target value or midpoint does (the target's units are
      // at least half of hi's, see the NOTE in the header), so that interval rounds alike.
      x.sig = x.sig * 4 - 1;
      x.exp -= 2;
    }
  }
  return round_exact(f, r, x);
}

std::uint64_t round_integer(const FloatFormat& f, Rounding r, bool negative, std::uint64_t magnitude) {
  if (magnitude == 0) return 0;
  Exact x;
  x.negative = negative;
  x.sig = magnitude;
  return round_exact(f, r, x);
}

std::uint64_t finish_result(const FloatFormat& f, const CvtMods& m, bool ftz_allowed, std::uint64_t v) {
  if (ftz_allowed && m.ftz) v = flush_bits(f, v);
  const bool negative = (v & f.sign_bit()) != 0;
  if (is_nan_bits(f, v)) return m.sat ? 0 : f.canonical_nan;
  if (m.sat) {
    // NOTE: [0, 1] with every negative value, -0 included, going to +0.
    const std::uint64_t one = static_cast<std::uint64_t>(f.bias) << f.mant_bits;
    if (negative) return 0;
    return std::min(v, one);
  }
  if (m.relu && negative) return 0;
  return v;
}

double with_host_rounding(Rounding r, double (*op)(double, double, double), double a, double b, double c) {
  int mode = FE_TONEAREST;
  switch (base_mode(r)) {
    case Rounding::kRz: mode = FE_TOWARDZERO; break;
    case Rounding::kRm: mode = FE_DOWNWARD; break;
    case Rounding::kRp: mode = FE_UPWARD; break;
    default: return op(a, b, c);
  }
  const int saved = std::fegetround();
  std::fesetround(mode);
  const double v = op(a, b, c);
  std::fesetround(saved);
  return v;
}

}  // namespace qjit::sim::detail
