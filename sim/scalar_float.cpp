// Float arithmetic, min/max, sign operations, testp, setp and slct (PTX ISA "Floating
// Point Instructions" and "Half Precision Floating Point Instructions").
//
// How results are rounded: f16 / bf16 / f32 operands are exact in double, and so are their
// products; a sum's error is recovered exactly with TwoSum, a quotient's or square root's
// sign of error from an fma residual. round_pair() then rounds value + error once into the
// target format in any rounding mode. f64 uses the host operation, under the requested
// host rounding mode for .rz/.rm/.rp.

#include <cmath>

#include "common/error.hpp"
#include "sim/scalar_ops_internal.hpp"

namespace qjit::sim {

namespace {

using namespace detail;

// .ftz exists for f32 and f16 arithmetic (bf16 and f64 keep subnormals).
bool ftz_applies(ScalarType e) { return e == ScalarType::kF32 || e == ScalarType::kF16; }

std::uint64_t operand(ScalarType e, bool ftz, std::uint64_t a) {
  const FloatFormat& f = format_of(e);
  const std::uint64_t v = mask_to(f.total_bits(), a);
  return ftz && ftz_applies(e) ? flush_bits(f, v) : v;
}

// Runs op(element type, bit offset) on each element of t and packs the results.
template <class Op>
std::uint64_t elementwise(ScalarType t, Op op) {
  if (t == ScalarType::kF16x2 || t == ScalarType::kBF16x2) {
    const ScalarType e = element_type(t);
    return op(e, 0) | (op(e, 16) << 16);
  }
  format_of(t);  // rejects non-float types
  return op(t, 0);
}

// The exact error of s = RN(a + b) (Knuth's TwoSum; needs round-to-nearest, no contraction).
double two_sum_error(double a, double b, double s) {
  const double bb = s - a;
  return (a - (s - bb)) + (b - bb);
}

double host_add(double a, double b, double) {
  fp_barrier(a);
  fp_barrier(b);
  double r = a + b;
  fp_barrier(r);
  return r;
}
double host_mul(double a, double b, double) {
  fp_barrier(a);
  fp_barrier(b);
  double r = a * b;
  fp_barrier(r);
  return r;
}
double host_div(double a, double b, double) {
  fp_barrier(a);
  fp_barrier(b);
  double r = a / b;
  fp_barrier(r);
  return r;
}
double host_sqrt(double a, double, double) {
  fp_barrier(a);
  double r = std::sqrt(a);
  fp_barrier(r);
  return r;
}
double host_fma(double a, double b, double c) {
  fp_barrier(a);
  fp_barrier(b);
  fp_barrier(c);
  double r = std::fma(a, b, c);
  fp_barrier(r);
  return r;
}

bool is_nearest(Rounding r) { return r == Rounding::kNone || r == Rounding::kRn; }

std::uint64_t f64_result(double r) { return std::isnan(r) ? kCanonicalNaNF64 : f64_bits(r); }

// x + y for one element; `x`, `y` already flushed.
std::uint64_t add_element(ScalarType e, const CvtMods& m, std::uint64_t x, std::uint64_t y) {
  const FloatFormat& f = format_of(e);
  if (e == ScalarType::kF64) return f64_result(with_host_rounding(m.rnd, host_add, f64_from(x), f64_from(y), 0));
  const double dx = to_double(f, x);
  const double dy = to_double(f, y);
  const double hi = dx + dy;
  if (!std::isfinite(hi)) return round_pair(f, m.rnd, hi, 0);  // NaN, Inf - Inf, or an Inf operand
  if (e == ScalarType::kF32 && is_nearest(m.rnd)) {
    // The hot path. NOTE: rounding the double sum again to f32 is innocuous (53 >= 2 * 24 + 2),
    // and an exact zero sum gets +0 (or -0 for two -0 addends) as round-to-nearest requires.
    return f32_bits(static_cast<float>(hi));
  }
  const double lo = two_sum_error(dx, dy, hi);
  if (hi == 0) {
    // An exact zero (a double sum that rounds to zero is exact).
    return zero_sum_negative(std::signbit(dx), std::signbit(dy), m.rnd) ? f.sign_bit() : 0;
  }
  return round_pair(f, m.rnd, hi, lo);
}

std::uint64_t mul_element(ScalarType e, const CvtMods& m, std::uint64_t x, std::uint64_t y) {
  const FloatFormat& f = format_of(e);
  if (e == ScalarType::kF64) return f64_result(with_host_rounding(m.rnd, host_mul, f64_from(x), f64_from(y), 0));
  // NOTE: exact: at most 2 x 24 significant bits, exponents far inside double's range.
  const double p = to_double(f, x) * to_double(f, y);
  if (e == ScalarType::kF32 && is_nearest(m.rnd) && !std::isnan(p)) return f32_bits(static_cast<float>(p));
  return round_pair(f, m.rnd, p, 0);
}

std::uint64_t fma_element(ScalarType e, const CvtMods& m, std::uint64_t x, std::uint64_t y, std::uint64_t z) {
  const FloatFormat& f = format_of(e);
  if (e == ScalarType::kF64) {
    return f64_result(with_host_rounding(m.rnd, host_fma, f64_from(x), f64_from(y), f64_from(z)));
  }
  const double p = to_double(f, x) * to_double(f, y);  // exact, as in mul_element
  const double dz = to_double(f, z);
  const double hi = p + dz;
  if (!std::isfinite(hi)) return round_pair(f, m.rnd, hi, 0);
  const double lo = two_sum_error(p, dz, hi);
  if (hi == 0) return zero_sum_negative(std::signbit(p), std::signbit(dz), m.rnd) ? f.sign_bit() : 0;
  if (lo == 0 && e == ScalarType::kF32 && is_nearest(m.rnd)) return f32_bits(static_cast<float>(hi));  // exact sum
  return round_pair(f, m.rnd, hi, lo);
}

// x / y in f32 for every rounding mode; `x`, `y` already flushed.
std::uint64_t div_f32(Rounding r, std::uint64_t x, std::uint64_t y) {
  const double dx = f32_from(x);
  const double dy = f32_from(y);
  const double q = dx / dy;
  if (!std::isfinite(q) || q == 0) return round_pair(kF32, r, q, 0);  // NaN, Inf, x/0, 0/y, y Inf
  if (is_nearest(r)) {
    // NOTE: double rounding through double is innocuous for +, -, *, /, sqrt of f32 values
    // (53 >= 2 * 24 + 2), so this is the correctly rounded quotient.
    return f32_bits(static_cast<float>(q));
  }
  // The residual x - q * y is exact; the quotient error (x - q y) / y has the sign of both.
  const double residual = std::fma(-q, dy, dx);
  const double lo = residual == 0 ? 0.0 : ((residual > 0) == (dy > 0) ? 1.0 : -1.0);
  return round_pair(kF32, r, q, lo);
}

std::uint64_t sqrt_f32(Rounding r, std::uint64_t x) {
  const double dx = f32_from(x);
  const double s = std::sqrt(dx);  // NaN for negative x, -0 for -0
  if (!std::isfinite(s) || s == 0) return round_pair(kF32, r, s, 0);
  if (is_nearest(r)) return f32_bits(static_cast<float>(s));
  const double residual = std::fma(-s, s, dx);  // exact: x - s^2
  return round_pair(kF32, r, s, residual == 0 ? 0.0 : std::copysign(1.0, residual));
}

std::uint64_t flip_signs(ScalarType t, std::uint64_t v) {
  switch (t) {
    case ScalarType::kF16:
    case ScalarType::kBF16: return v ^ 0x8000u;
    case ScalarType::kF16x2:
    case ScalarType::kBF16x2: return v ^ 0x80008000u;
    case ScalarType::kF32: return v ^ 0x80000000u;
    default: return v ^ 0x8000000000000000ull;
  }
}

std::uint64_t lane(std::uint64_t v, int shift) { return v >> shift; }

// min (want_max = false) or max of one element pair.
std::uint64_t minmax_element(ScalarType e, bool want_max, bool ftz, bool nan_mode, bool xorsign_abs, std::uint64_t a,
                             std::uint64_t b) {
  const FloatFormat& f = format_of(e);
  std::uint64_t x = operand(e, ftz, a);
  std::uint64_t y = operand(e, ftz, b);
  const bool xn = is_nan_bits(f, x);
  const bool yn = is_nan_bits(f, y);
  if ((nan_mode && (xn || yn)) || (xn && yn)) return f.canonical_nan;
  const bool negative = ((x ^ y) & f.sign_bit()) != 0;
  if (xorsign_abs) {
    x &= f.abs_mask();
    y &= f.abs_mask();
  }
  std::uint64_t r = 0;
  if (xn) {
    r = y;
  } else if (yn) {
    r = x;
  } else {
    const double dx = to_double(f, x);
    const double dy = to_double(f, y);
    // NOTE: -0.0 < +0.0 here (the ISA's min/max semantics).
    const bool x_less = dx < dy || (dx == dy && std::signbit(dx) && !std::signbit(dy));
    r = (x_less != want_max) ? x : y;
  }
  if (xorsign_abs) r = (r & f.abs_mask()) | (negative ? f.sign_bit() : 0);
  return r;
}

bool is_ordered_compare(Cmp c) { return c <= Cmp::kGe; }

// The f32 round-to-nearest forms without .sat/.relu, which dominate kernels: host float
// arithmetic is IEEE round-to-nearest-even (see the NOTE in scalar_ops.hpp).
bool is_f32_fast(ScalarType t, const CvtMods& m) {
  return t == ScalarType::kF32 && is_nearest(m.rnd) && !m.sat && !m.relu;
}

float f32_operand(bool ftz, std::uint64_t a) {
  const auto v = static_cast<std::uint32_t>(a);
  return f32_from(ftz && (v & 0x7f800000u) == 0 ? v & 0x80000000u : v);
}

std::uint64_t f32_fast_result(bool ftz, float r) {
  const std::uint32_t v = f32_bits(r);
  if ((v & 0x7fffffffu) > 0x7f800000u) return kCanonicalNaNF32;
  return ftz && (v & 0x7f800000u) == 0 ? v & 0x80000000u : v;
}

}  // namespace

std::uint64_t fadd(ScalarType t, const CvtMods& m, std::uint64_t a, std::uint64_t b) {
  if (is_f32_fast(t, m)) return f32_fast_result(m.ftz, f32_operand(m.ftz, a) + f32_operand(m.ftz, b));
  return elementwise(t, [&](ScalarType e, int s) {
    const std::uint64_t r = add_element(e, m, operand(e, m.ftz, lane(a, s)), operand(e, m.ftz, lane(b, s)));
    return finish_result(format_of(e), m, ftz_applies(e), r);
  });
}

std::uint64_t fsub(ScalarType t, const CvtMods& m, std::uint64_t a, std::uint64_t b) {
  return fadd(t, m, a, flip_signs(t, b));
}

std::uint64_t fmul(ScalarType t, const CvtMods& m, std::uint64_t a, std::uint64_t b) {
  if (is_f32_fast(t, m)) return f32_fast_result(m.ftz, f32_operand(m.ftz, a) * f32_operand(m.ftz, b));
  return elementwise(t, [&](ScalarType e, int s) {
    const std::uint64_t r = mul_element(e, m, operand(e, m.ftz, lane(a, s)), operand(e, m.ftz, lane(b, s)));
    return finish_result(format_of(e), m, ftz_applies(e), r);
  });
}

std::uint64_t ffma(ScalarType t, const CvtMods& m, std::uint64_t a, std::uint64_t b, std::uint64_t c) {
  if (is_f32_fast(t, m)) {
    const double p = static_cast<double>(f32_operand(m.ftz, a)) * f32_operand(m.ftz, b);  // exact
    const double z = f32_operand(m.ftz, c);
    const double hi = p + z;
    // hi = RN(exact). Rounding it again to f32 is the correctly rounded result unless hi sits
    // exactly on an f32 midpoint with a nonzero error (then the error's sign decides), see
    // round_pair(). Zeros, Inf, NaN, subnormal and overflowing results take the general path.
    const double ahi = std::fabs(hi);
    if (ahi >= 0x1p-126 && ahi < 0x1p127 &&
        ((f64_bits(hi) & 0x1fffffffu) != 0x10000000u || two_sum_error(p, z, hi) == 0)) {
      return f32_fast_result(m.ftz, static_cast<float>(hi));
    }
  }
  return elementwise(t, [&](ScalarType e, int s) {
    const std::uint64_t r = fma_element(e, m, operand(e, m.ftz, lane(a, s)), operand(e, m.ftz, lane(b, s)),
                                        operand(e, m.ftz, lane(c, s)));
    return finish_result(format_of(e), m, ftz_applies(e), r);
  });
}

std::uint64_t fdiv(ScalarType t, const CvtMods& m, std::uint64_t a, std::uint64_t b) {
  if (t == ScalarType::kF64) return f64_result(with_host_rounding(m.rnd, host_div, f64_from(a), f64_from(b), 0));
  if (is_f32_fast(t, m)) return f32_fast_result(m.ftz, f32_operand(m.ftz, a) / f32_operand(m.ftz, b));
  if (t != ScalarType::kF32) QJIT_THROW("sim", "div.{} is not a PTX instruction", scalar_type_name(t));
  const std::uint64_t r = div_f32(m.rnd, operand(t, m.ftz, a), operand(t, m.ftz, b));
  return finish_result(kF32, m, true, r);
}

std::uint64_t fdiv_full(bool ftz, std::uint64_t a, std::uint64_t b) {
  CvtMods m;
  m.rnd = Rounding::kRn;
  m.ftz = ftz;
  return fdiv(ScalarType::kF32, m, a, b);
}

std::uint64_t fdiv_approx(bool ftz, std::uint64_t a, std::uint64_t b) {
  const std::uint64_t x = operand(ScalarType::kF32, ftz, a);
  const std::uint64_t y = operand(ScalarType::kF32, ftz, b);
  const float fy = f32_from(y);
  // The ISA's documented behaviour of the a * (1/b) implementation for 2^126 < |b| < 2^128.
  if (std::isfinite(fy) && std::fabs(fy) > 0x1p126f) {
    if (is_nan_bits(kF32, x) || is_inf_bits(kF32, x)) return kCanonicalNaNF32;
    return (x ^ y) & 0x80000000u;
  }
  return fdiv_full(ftz, a, b);
}

std::uint64_t frcp(ScalarType t, const CvtMods& m, std::uint64_t a) {
  const std::uint64_t one = t == ScalarType::kF64 ? f64_bits(1.0) : f32_bits(1.0f);
  return fdiv(t, m, one, a);
}

std::uint64_t fsqrt(ScalarType t, const CvtMods& m, std::uint64_t a) {
  if (t == ScalarType::kF64) return f64_result(with_host_rounding(m.rnd, host_sqrt, f64_from(a), 0, 0));
  if (t != ScalarType::kF32) QJIT_THROW("sim", "sqrt.{} is not a PTX instruction", scalar_type_name(t));
  return finish_result(kF32, m, true, sqrt_f32(m.rnd, operand(t, m.ftz, a)));
}

std::uint64_t fmin(ScalarType t, bool ftz, bool nan_mode, std::uint64_t a, std::uint64_t b, bool xorsign_abs) {
  return elementwise(t, [&](ScalarType e, int s) {
    return minmax_element(e, false, ftz, nan_mode, xorsign_abs, lane(a, s), lane(b, s));
  });
}

std::uint64_t fmax(ScalarType t, bool ftz, bool nan_mode, std::uint64_t a, std::uint64_t b, bool xorsign_abs) {
  return elementwise(t, [&](ScalarType e, int s) {
    return minmax_element(e, true, ftz, nan_mode, xorsign_abs, lane(a, s), lane(b, s));
  });
}

std::uint64_t fabs(ScalarType t, bool ftz, std::uint64_t a) {
  return elementwise(t, [&](ScalarType e, int s) { return operand(e, ftz, lane(a, s)) & format_of(e).abs_mask(); });
}

std::uint64_t fneg(ScalarType t, bool ftz, std::uint64_t a) {
  return elementwise(t, [&](ScalarType e, int s) { return operand(e, ftz, lane(a, s)) ^ format_of(e).sign_bit(); });
}

std::uint64_t fcopysign(ScalarType t, std::uint64_t a, std::uint64_t b) {
  const FloatFormat& f = format_of(t);
  return (mask_to(f.total_bits(), b) & f.abs_mask()) | (a & f.sign_bit());
}

bool testp(TestpOp op, ScalarType t, std::uint64_t a) {
  const FloatFormat& f = format_of(t);
  const std::uint64_t v = mask_to(f.total_bits(), a) & f.abs_mask();
  const bool nan = v > f.inf_bits();
  const bool inf = v == f.inf_bits();
  switch (op) {
    case TestpOp::kFinite: return v < f.inf_bits();
    case TestpOp::kInfinite: return inf;
    case TestpOp::kNumber: return !nan;
    case TestpOp::kNotANumber: return nan;
    case TestpOp::kNormal: return v >= (std::uint64_t{1} << f.mant_bits) && v < f.inf_bits();
    case TestpOp::kSubnormal: return v != 0 && v < (std::uint64_t{1} << f.mant_bits);
  }
  return false;
}

bool compare(Cmp c, ScalarType t, bool ftz, std::uint64_t a, std::uint64_t b) {
  if (!is_float(t)) {
    const int n = type_bits(t);
    const std::uint64_t ua = mask_to(n, a);
    const std::uint64_t ub = mask_to(n, b);
    // Sign-extended copies (shifting the sign bit to bit 63 and back).
    const auto sa = static_cast<std::int64_t>(ua << (64 - n)) >> (64 - n);
    const auto sb = static_cast<std::int64_t>(ub << (64 - n)) >> (64 - n);
    const bool s = is_signed_int(t);
    switch (c) {
      case Cmp::kEq: return ua == ub;
      case Cmp::kNe: return ua != ub;
      case Cmp::kLt: return s ? sa < sb : ua < ub;
      case Cmp::kLe: return s ? sa <= sb : ua <= ub;
      case Cmp::kGt: return s ? sa > sb : ua > ub;
      case Cmp::kGe: return s ? sa >= sb : ua >= ub;
      case Cmp::kLo: return ua < ub;
      case Cmp::kLs: return ua <= ub;
      case Cmp::kHi: return ua > ub;
      case Cmp::kHs: return ua >= ub;
      default: QJIT_THROW("sim", "setp: unordered comparison on integer type {}", scalar_type_name(t));
    }
  }
  if (is_packed(t)) QJIT_THROW("sim", "setp.{} compares two elements: use compare_x2", scalar_type_name(t));
  const FloatFormat& f = format_of(t);
  const double x = to_double(f, operand(t, ftz, a));
  const double y = to_double(f, operand(t, ftz, b));
  const bool unordered = std::isnan(x) || std::isnan(y);
  if (is_ordered_compare(c) && unordered) return false;
  switch (c) {
    case Cmp::kEq:
    case Cmp::kEqu: return unordered || x == y;
    case Cmp::kNe:
    case Cmp::kNeu: return unordered || x != y;
    case Cmp::kLt:
    case Cmp::kLtu: return unordered || x < y;
    case Cmp::kLe:
    case Cmp::kLeu: return unordered || x <= y;
    case Cmp::kGt:
    case Cmp::kGtu: return unordered || x > y;
    case Cmp::kGe:
    case Cmp::kGeu: return unordered || x >= y;
    case Cmp::kNum: return !unordered;
    case Cmp::kNan: return unordered;
    default: QJIT_THROW("sim", "setp: unsigned comparison on float type {}", scalar_type_name(t));
  }
}

PairPredicate compare_x2(Cmp c, ScalarType t, bool ftz, std::uint64_t a, std::uint64_t b) {
  if (t != ScalarType::kF16x2 && t != ScalarType::kBF16x2) {
    QJIT_THROW("sim", "compare_x2 needs f16x2 or bf16x2, got {}", scalar_type_name(t));
  }
  const ScalarType e = element_type(t);
  return {compare(c, e, ftz, a & 0xffff, b & 0xffff), compare(c, e, ftz, (a >> 16) & 0xffff, (b >> 16) & 0xffff)};
}

std::uint64_t slct(ScalarType ctype, bool ftz, std::uint64_t a, std::uint64_t b, std::uint64_t c) {
  if (ctype == ScalarType::kS32) return static_cast<std::int32_t>(c) >= 0 ? a : b;
  if (ctype == ScalarType::kF32) return f32_from(operand(ctype, ftz, c)) >= 0.0f ? a : b;
  QJIT_THROW("sim", "slct selector type must be s32 or f32, got {}", scalar_type_name(ctype));
}

}  // namespace qjit::sim
