#pragma once
// Helpers shared by the scalar_*.cpp files: float formats, bit views, flushing, and exact
// rounding of a value known as a double plus the sign of its error. Not part of the API.

#include <bit>
#include <cmath>
#include <cstdint>

#include "sim/scalar_ops.hpp"

namespace qjit::sim::detail {

// An IEEE-style binary format: `mant_bits` stored fraction bits, exponent `bias`,
// `exp_bits` exponent bits (all ones = Inf/NaN).
struct FloatFormat {
  int mant_bits;
  int bias;
  int exp_bits;
  std::uint64_t canonical_nan;

  int total_bits() const { return 1 + exp_bits + mant_bits; }
  std::uint64_t sign_bit() const { return std::uint64_t{1} << (exp_bits + mant_bits); }
  std::uint64_t inf_bits() const { return ((std::uint64_t{1} << exp_bits) - 1) << mant_bits; }
  std::uint64_t abs_mask() const { return sign_bit() - 1; }
  std::uint64_t max_finite() const { return inf_bits() - 1; }
};

inline constexpr FloatFormat kF16{10, 15, 5, kCanonicalNaNF16};
inline constexpr FloatFormat kBF16{7, 127, 8, kCanonicalNaNBF16};
inline constexpr FloatFormat kF32{23, 127, 8, kCanonicalNaNF32};
inline constexpr FloatFormat kF64{52, 1023, 11, kCanonicalNaNF64};

// The format of a scalar float type or of one element of a packed one.
const FloatFormat& format_of(ScalarType t);
// f16x2 -> f16, bf16x2 -> bf16; other types unchanged.
ScalarType element_type(ScalarType t);

inline std::uint32_t f32_bits(float x) { return std::bit_cast<std::uint32_t>(x); }
inline float f32_from(std::uint64_t b) { return std::bit_cast<float>(static_cast<std::uint32_t>(b)); }
inline std::uint64_t f64_bits(double x) { return std::bit_cast<std::uint64_t>(x); }
inline double f64_from(std::uint64_t b) { return std::bit_cast<double>(b); }

inline std::uint64_t mask_to(int bits, std::uint64_t v) {
  return bits >= 64 ? v : (v & ((std::uint64_t{1} << bits) - 1));
}

// Classification on raw bits of format `f` (the bits above the format are ignored).
inline bool is_nan_bits(const FloatFormat& f, std::uint64_t v) { return (v & f.abs_mask()) > f.inf_bits(); }
inline bool is_inf_bits(const FloatFormat& f, std::uint64_t v) { return (v & f.abs_mask()) == f.inf_bits(); }
inline bool is_subnormal_bits(const FloatFormat& f, std::uint64_t v) {
  const std::uint64_t a = v & f.abs_mask();
  return a != 0 && a < (std::uint64_t{1} << f.mant_bits);
}
// Subnormal -> sign-preserving zero.
inline std::uint64_t flush_bits(const FloatFormat& f, std::uint64_t v) {
  return is_subnormal_bits(f, v) ? (v & f.sign_bit()) : v;
}

// Exact value of an f16 / bf16 / f32 / f64 encoding as a double (NaN -> a double NaN).
double to_double(const FloatFormat& f, std::uint64_t v);

// Rounds the exact value hi + lo to format `f` in mode `r` (kNone / kRn: nearest even). Only
// the sign of lo matters: hi must be the round-to-nearest double of the exact value, and lo
// nonzero exactly when the value is not hi (the error terms of TwoSum / fma residuals).
// NaN -> canonical NaN, Inf -> Inf, a zero hi (lo then zero) -> that zero.
// NOTE: correct for any target at most as precise as double, because every target value
// and every midpoint between two of them is a double: when hi is neither, the exact value
// lies in the same open interval between them as hi does.
std::uint64_t round_pair(const FloatFormat& f, Rounding r, double hi, double lo);

// Rounds sign * magnitude (an exact integer) to format `f`.
std::uint64_t round_integer(const FloatFormat& f, Rounding r, bool negative, std::uint64_t magnitude);

// The sign of an exact zero sum x + y (IEEE 754 6.3): the common sign of two equal-signed
// addends, otherwise +0, except -0 when rounding toward -Inf.
inline bool zero_sum_negative(bool x_negative, bool y_negative, Rounding r) {
  return x_negative == y_negative ? x_negative : r == Rounding::kRm;
}

// Applies .ftz (result), .sat and .relu to a result of format f.
std::uint64_t finish_result(const FloatFormat& f, const CvtMods& m, bool ftz_allowed, std::uint64_t v);

// Keeps the compiler from moving a host float operation across fesetround: the value
// passes through memory at this point, in program order with the calls around it.
inline void fp_barrier(double& v) { asm volatile("" : "+m"(v) : : "memory"); }

// Runs op() under the host rounding mode for `r` (f64 directed rounding), restoring the
// caller's mode afterwards.
double with_host_rounding(Rounding r, double (*op)(double, double, double), double a, double b, double c);

}  // namespace qjit::sim::detail
