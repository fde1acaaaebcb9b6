// The .approx instructions: rcp, sqrt, rsqrt, ex2, lg2, sin, cos, tanh.
//
// NOTE: each returns the host double-precision value (libm for the transcendental ones,
// with errors far below 2^-40 relative) rounded once to the destination format, i.e. the
// correctly rounded result except in the rarest near-tie cases. The hardware's own
// approximations differ from it in the last bits, within the ISA's stated bounds, which
// the tests (scalar_approx_test.cpp) hold; the special-case tables of the ISA (Inf, -0,
// negative inputs) come out of the host functions unchanged.

#include <cmath>

#include "common/error.hpp"
#include "sim/scalar_ops_internal.hpp"

namespace qjit::sim {

namespace {

using namespace detail;

double f32_input(bool ftz, std::uint64_t a) {
  const std::uint64_t v = mask_to(32, a);
  return f32_from(ftz ? flush_bits(kF32, v) : v);
}

std::uint64_t f32_output(bool ftz, double r) {
  const std::uint64_t v = round_pair(kF32, Rounding::kRn, r, 0);
  return ftz ? flush_bits(kF32, v) : v;
}

// Applies fn to each f16 / bf16 element (ftz: flush inputs and results), rounding once.
template <class Fn>
std::uint64_t half_elements(ScalarType t, bool ftz, std::uint64_t a, Fn fn) {
  const ScalarType e = element_type(t);
  const FloatFormat& f = format_of(e);
  const int n = (t == ScalarType::kF16x2 || t == ScalarType::kBF16x2) ? 2 : 1;
  std::uint64_t d = 0;
  for (int k = 0; k < n; ++k) {
    std::uint64_t v = (a >> (16 * k)) & 0xffff;
    if (ftz) v = flush_bits(f, v);
    std::uint64_t r = round_pair(f, Rounding::kRn, fn(to_double(f, v)), 0);
    if (ftz) r = flush_bits(f, r);
    d |= r << (16 * k);
  }
  return d;
}

bool is_half_type(ScalarType t) {
  return t == ScalarType::kF16 || t == ScalarType::kF16x2 || t == ScalarType::kBF16 || t == ScalarType::kBF16x2;
}

[[noreturn]] void unsupported(std::string_view op, ScalarType t) {
  QJIT_THROW("sim", "{}.approx.{} is not a PTX instruction", op, scalar_type_name(t));
}

}  // namespace

std::uint64_t frcp_approx(ScalarType t, bool ftz, std::uint64_t a) {
  if (t == ScalarType::kF64) {
    // rcp.approx.ftz.f64: the ISA promises only a gross approximation; sim gives the IEEE one.
    const double x = f64_from(ftz ? flush_bits(kF64, a) : a);
    return round_pair(kF64, Rounding::kRn, 1.0 / x, 0);
  }
  if (t != ScalarType::kF32) unsupported("rcp", t);
  return f32_output(ftz, 1.0 / f32_input(ftz, a));
}

std::uint64_t fsqrt_approx(bool ftz, std::uint64_t a) { return f32_output(ftz, std::sqrt(f32_input(ftz, a))); }

std::uint64_t frsqrt_approx(ScalarType t, bool ftz, std::uint64_t a) {
  if (t == ScalarType::kF64) return round_pair(kF64, Rounding::kRn, 1.0 / std::sqrt(f64_from(a)), 0);
  if (t != ScalarType::kF32) unsupported("rsqrt", t);
  return f32_output(ftz, 1.0 / std::sqrt(f32_input(ftz, a)));
}

std::uint64_t fex2_approx(ScalarType t, bool ftz, std::uint64_t a) {
  if (t == ScalarType::kF32) return f32_output(ftz, std::exp2(f32_input(ftz, a)));
  if (!is_half_type(t)) unsupported("ex2", t);
  // NOTE: ex2.approx.{bf16,bf16x2} exist only as .ftz; the f16 forms keep subnormals.
  const bool flush = ftz || t == ScalarType::kBF16 || t == ScalarType::kBF16x2;
  return half_elements(t, flush, a, [](double x) { return std::exp2(x); });
}

std::uint64_t flg2_approx(bool ftz, std::uint64_t a) { return f32_output(ftz, std::log2(f32_input(ftz, a))); }

std::uint64_t fsin_approx(bool ftz, std::uint64_t a) { return f32_output(ftz, std::sin(f32_input(ftz, a))); }

std::uint64_t fcos_approx(bool ftz, std::uint64_t a) { return f32_output(ftz, std::cos(f32_input(ftz, a))); }

std::uint64_t ftanh_approx(ScalarType t, std::uint64_t a) {
  // NOTE: tanh.approx has no .ftz: subnormal inputs pass through (tanh(x) ~ x), as the ISA notes.
  if (t == ScalarType::kF32) return f32_output(false, std::tanh(f32_input(false, a)));
  if (!is_half_type(t)) unsupported("tanh", t);
  return half_elements(t, false, a, [](double x) { return std::tanh(x); });
}

}  // namespace qjit::sim
