// cvt: integer, float and packed conversions (PTX ISA "cvt").

#include <cmath>

#include "common/error.hpp"
#include "runtime/float_convert.hpp"
#include "sim/scalar_ops_internal.hpp"

namespace qjit::sim {

namespace {

using namespace detail;

bool is_int(ScalarType t) { return t <= ScalarType::kS64; }
bool is_scalar_float(ScalarType t) { return t >= ScalarType::kF16 && t <= ScalarType::kBF16; }
bool is_fp8_pair(ScalarType t) { return t == ScalarType::kE4M3x2 || t == ScalarType::kE5M2x2; }

[[noreturn]] void unsupported(ScalarType dst, ScalarType src, std::string_view why) {
  QJIT_THROW("sim", "cvt.{}.{}: {}", scalar_type_name(dst), scalar_type_name(src), why);
}

// The register value of integer type t as a 64-bit two's complement number: sign-extended
// for s types, zero-extended otherwise.
std::uint64_t extend(ScalarType t, std::uint64_t a) {
  const int n = type_bits(t);
  if (n == 64) return a;
  a = mask_to(n, a);
  if (is_signed_int(t) && ((a >> (n - 1)) & 1)) a |= ~std::uint64_t{0} << n;
  return a;
}

std::uint64_t int_to_int(ScalarType dst, ScalarType src, bool sat, std::uint64_t a) {
  const int n = type_bits(dst);
  const std::uint64_t v = extend(src, a);  // NOTE: the source type decides sext vs zext
  if (!sat) return mask_to(n, v);
  if (is_signed_int(src)) {
    const auto x = static_cast<std::int64_t>(v);
    if (is_signed_int(dst)) {
      const std::int64_t hi = n == 64 ? INT64_MAX : (std::int64_t{1} << (n - 1)) - 1;
      const std::int64_t lo = -hi - 1;
      return mask_to(n, static_cast<std::uint64_t>(std::min(std::max(x, lo), hi)));
    }
    if (x < 0) return 0;
    return std::min(static_cast<std::uint64_t>(x), mask_to(n, ~std::uint64_t{0}));
  }
  if (is_signed_int(dst)) {
    const std::uint64_t hi = n == 64 ? static_cast<std::uint64_t>(INT64_MAX) : (std::uint64_t{1} << (n - 1)) - 1;
    return std::min(v, hi);
  }
  return std::min(v, mask_to(n, ~std::uint64_t{0}));
}

// x rounded to an integral value by the integer rounding mode r (exact; -0 kept).
double round_integral(double x, Rounding r) {
  switch (r) {
    case Rounding::kRzi: return std::trunc(x);
    case Rounding::kRmi: return std::floor(x);
    case Rounding::kRpi: return std::ceil(x);
    default: {
      const double t = std::trunc(x);
      const double d = std::fabs(x - t);  // exact: x and t share the binade's grid
      const bool odd = t * 0.5 != std::trunc(t * 0.5);
      if (d > 0.5 || (d == 0.5 && odd)) return t + std::copysign(1.0, x);
      return t;
    }
  }
}

Rounding integer_mode(ScalarType dst, ScalarType src, Rounding r) {
  switch (r) {
    case Rounding::kRni:
    case Rounding::kRzi:
    case Rounding::kRmi:
    case Rounding::kRpi: return r;
    default: unsupported(dst, src, "float-to-integer conversion needs .rni, .rzi, .rmi or .rpi");
  }
}

std::uint64_t float_to_int(ScalarType dst, ScalarType src, const CvtMods& m, std::uint64_t a) {
  const Rounding r = integer_mode(dst, src, m.rnd);
  const FloatFormat& f = format_of(src);
  std::uint64_t v = mask_to(f.total_bits(), a);
  if (src == ScalarType::kF32 && m.ftz) v = flush_bits(f, v);
  const int n = type_bits(dst);
  if (is_nan_bits(f, v)) return n == 64 ? kNaNToInt64 : 0;
  const double x = round_integral(to_double(f, v), r);
  // NOTE: float-to-integer conversions saturate by default (the ISA: ".sat is redundant").
  if (is_signed_int(dst)) {
    const auto lim = static_cast<double>(std::uint64_t{1} << (n - 1));
    std::int64_t i = 0;
    if (x >= lim) i = n == 64 ? INT64_MAX : (std::int64_t{1} << (n - 1)) - 1;
    else if (x < -lim) i = n == 64 ? INT64_MIN : -(std::int64_t{1} << (n - 1));
    else i = static_cast<std::int64_t>(x);
    return mask_to(n, static_cast<std::uint64_t>(i));
  }
  if (x >= (n == 64 ? 0x1p64 : static_cast<double>(std::uint64_t{1} << n))) return mask_to(n, ~std::uint64_t{0});
  if (x <= 0) return 0;
  return static_cast<std::uint64_t>(x);
}

// .satfinite on a narrow float result: Inf (from overflow or an Inf input) -> +-MAX_NORM.
std::uint64_t apply_satfinite(const FloatFormat& f, const CvtMods& m, std::uint64_t v) {
  if (m.satfinite && is_inf_bits(f, v)) return (v & f.sign_bit()) | f.max_finite();
  return v;
}

std::uint64_t int_to_float(ScalarType dst, ScalarType src, const CvtMods& m, std::uint64_t a) {
  if (m.rnd == Rounding::kNone || is_integer_rounding(m.rnd)) {
    unsupported(dst, src, "integer-to-float conversion needs .rn, .rz, .rm or .rp");
  }
  const FloatFormat& f = format_of(dst);
  const std::uint64_t v = extend(src, a);
  const bool negative = is_signed_int(src) && static_cast<std::int64_t>(v) < 0;
  const std::uint64_t magnitude = negative ? ~v + 1 : v;
  const std::uint64_t bits = apply_satfinite(f, m, round_integer(f, m.rnd, negative, magnitude));
  return finish_result(f, m, dst == ScalarType::kF32, bits);
}

std::uint64_t float_to_float(ScalarType dst, ScalarType src, const CvtMods& m, std::uint64_t a) {
  const FloatFormat& fs = format_of(src);
  const FloatFormat& fd = format_of(dst);
  std::uint64_t v = mask_to(fs.total_bits(), a);
  if (src == ScalarType::kF32 && m.ftz) v = flush_bits(fs, v);
  std::uint64_t bits = 0;
  if (is_integer_rounding(m.rnd)) {
    // cvt.rni.f32.f32 and friends: an integral value in the same format.
    if (dst != src) unsupported(dst, src, "integer rounding needs the same source and destination type");
    if (is_nan_bits(fs, v)) bits = fd.canonical_nan;
    else bits = round_pair(fd, Rounding::kRn, round_integral(to_double(fs, v), m.rnd), 0);
  } else {
    const bool narrowing = fd.total_bits() < fs.total_bits();
    if (narrowing && m.rnd == Rounding::kNone) {
      unsupported(dst, src, "a narrowing float conversion needs .rn, .rz, .rm or .rp");
    }
    const bool nearest = m.rnd == Rounding::kNone || m.rnd == Rounding::kRn;
    if (is_nan_bits(fs, v)) {
      bits = fd.canonical_nan;
    } else if (src == ScalarType::kF32 && dst == ScalarType::kF16 && nearest) {
      bits = f32_to_f16(f32_from(v));
    } else if (src == ScalarType::kF32 && dst == ScalarType::kBF16 && nearest) {
      bits = f32_to_bf16(f32_from(v));
    } else if (src == ScalarType::kF16 && dst == ScalarType::kF32) {
      bits = f32_bits(f16_to_f32(static_cast<std::uint16_t>(v)));
    } else if (src == ScalarType::kBF16 && dst == ScalarType::kF32) {
      bits = f32_bits(bf16_to_f32(static_cast<std::uint16_t>(v)));
    } else {
      bits = round_pair(fd, m.rnd, to_double(fs, v), 0);  // exact value: one rounding
    }
  }
  return finish_result(fd, m, dst == ScalarType::kF32, apply_satfinite(fd, m, bits));
}

// One f32 value to e4m3 / e5m2 (.rn, .satfinite, .relu).
std::uint8_t f32_to_fp8(ScalarType pair, const CvtMods& m, float x) {
  if (std::isnan(x)) return kCanonicalNaNFp8;
  if (m.relu && std::signbit(x)) return 0;
  const std::uint8_t v = pair == ScalarType::kE4M3x2 ? f32_to_e4m3(x, m.satfinite) : f32_to_e5m2(x, m.satfinite);
  // Overflow without .satfinite gives NaN in e4m3 (it has no Inf): canonical too.
  const bool nan = pair == ScalarType::kE4M3x2 ? (v & 0x7f) == 0x7f : (v & 0x7f) > 0x7c;
  return nan ? kCanonicalNaNFp8 : v;
}

void require_rn(ScalarType dst, ScalarType src, const CvtMods& m) {
  if (m.rnd != Rounding::kRn) unsupported(dst, src, "this packed conversion needs .rn");
}

}  // namespace

std::uint64_t cvt(ScalarType dst, ScalarType src, const CvtMods& m, std::uint64_t a) {
  if (is_int(dst) && is_int(src)) return int_to_int(dst, src, m.sat, a);
  if (is_int(dst) && is_scalar_float(src)) return float_to_int(dst, src, m, a);
  if (is_scalar_float(dst) && is_int(src)) return int_to_float(dst, src, m, a);
  if (is_scalar_float(dst) && is_scalar_float(src)) return float_to_float(dst, src, m, a);
  if (dst == ScalarType::kF16x2 && is_fp8_pair(src)) {
    // cvt.rn{.relu}.f16x2.{e4m3x2,e5m2x2}: byte k of a -> half k of d (exact widening).
    require_rn(dst, src, m);
    std::uint64_t d = 0;
    for (int k = 0; k < 2; ++k) {
      const auto byte = static_cast<std::uint8_t>(a >> (8 * k));
      const float x = src == ScalarType::kE4M3x2 ? e4m3_to_f32(byte) : e5m2_to_f32(byte);
      std::uint16_t h = std::isnan(x) ? kCanonicalNaNF16 : f32_to_f16(x);
      if (m.relu && !std::isnan(x) && (h & 0x8000)) h = 0;
      d |= static_cast<std::uint64_t>(h) << (16 * k);
    }
    return d;
  }
  if (is_fp8_pair(dst) && src == ScalarType::kF16x2) {
    // cvt.rn.satfinite{.relu}.{e4m3x2,e5m2x2}.f16x2: half k of a -> byte k of d.
    require_rn(dst, src, m);
    std::uint64_t d = 0;
    for (int k = 0; k < 2; ++k) {
      const float x = f16_to_f32(static_cast<std::uint16_t>(a >> (16 * k)));  // exact
      d |= static_cast<std::uint64_t>(f32_to_fp8(dst, m, x)) << (8 * k);
    }
    return d;
  }
  unsupported(dst, src, "no such conversion");
}

std::uint64_t cvt2(ScalarType dst, ScalarType src, const CvtMods& m, std::uint64_t a, std::uint64_t b) {
  if (src != ScalarType::kF32) unsupported(dst, src, "two-source conversions take f32 operands");
  if (dst == ScalarType::kF16x2 || dst == ScalarType::kBF16x2) {
    if (m.rnd != Rounding::kRn && m.rnd != Rounding::kRz) unsupported(dst, src, "needs .rn or .rz");
    const ScalarType e = dst == ScalarType::kF16x2 ? ScalarType::kF16 : ScalarType::kBF16;
    // NOTE: a goes to the upper half, b to the lower one.
    return (cvt(e, src, m, a) << 16) | cvt(e, src, m, b);
  }
  if (is_fp8_pair(dst)) {
    require_rn(dst, src, m);
    return (static_cast<std::uint64_t>(f32_to_fp8(dst, m, f32_from(a))) << 8) | f32_to_fp8(dst, m, f32_from(b));
  }
  unsupported(dst, src, "no two-source form");
}

void check_cvt(ScalarType dst, ScalarType src, const CvtMods& m, int sources) {
  // NOTE: cvt and cvt2 reject combinations by types and modifiers only, never by value.
  if (sources == 2) cvt2(dst, src, m, 0, 0);
  else cvt(dst, src, m, 0);
}

}  // namespace qjit::sim
