#pragma once
// The per-element error bound the GEMM sim tests sum into their NMSE bounds, and the NMSE
// they compare with it. Each test file derives its own accumulation error (acc_err: how its
// kernel and the reference sum the same exact products); the rest is common to every GEMM
// kernel here:
//  - Epilogue. acc * s + bias is one rounding on each side: 2 u |y| (u = 2^-24).
//  - GELU. tanh.approx.f32 has relative error <= 2^-10.987 (PTX ISA), so (0.5 y)(1 + t)
//    moves by <= 0.5 |y| (2^-10.98 + 2u), with 2u for the reference's own tanhf and the add;
//    GELU's slope is within [-0.13, 1.13], so an input error e becomes <= 1.13 e.
//  - Output rounding. round(a) - round(b) <= |a - b| + u_out (|a| + |b|), u_out = 2^-9
//    (bf16), 2^-11 (f16), 2^-24 (f32), plus d_out, half the smallest f16 subnormal, for f16.
// Per element |sim - ref| <= e = (1 + u_out) (L (acc_err + 2 u |y|) + G) + 2 u_out |ref| + d_out
// with L = 1.13 and G the tanh term with GELU (L = 1, G = 0 without).

#include <cmath>
#include <vector>

#include "quant_ops/reference/gemm.hpp"
#include "common/dtype.hpp"

namespace qjit::test {

/// u_out: the unit roundoff of the output dtype.
inline double output_roundoff(DType out) {
  return out == DType::kBF16 ? std::ldexp(1.0, -9) : out == DType::kF16 ? std::ldexp(1.0, -11) : std::ldexp(1.0, -24);
}

/// e above for one output element: acc_err the accumulation error, y the epilogue's input to
/// GELU (near enough for a bound), r the reference's output.
inline double element_error(double acc_err, double y, float r, bool gelu, DType out) {
  const double u = std::ldexp(1.0, -24);
  const double u_out = output_roundoff(out);
  const double d_out = out == DType::kF16 ? std::ldexp(1.0, -25) : 0.0;
  const double tanh_err = gelu ? 0.5 * std::fabs(y) * (std::pow(2.0, -10.98) + 2 * u) : 0.0;
  return (1 + u_out) * ((gelu ? 1.13 : 1.0) * (acc_err + 2 * u * std::fabs(y)) + tanh_err) + 2 * u_out * std::fabs(r) +
         d_out;
}

/// reference::nmse of got against want (f32 values widened).
inline double nmse_of(const std::vector<float>& got, const std::vector<float>& want) {
  return reference::nmse(got, std::vector<double>(want.begin(), want.end()));
}

}  // namespace qjit::test
