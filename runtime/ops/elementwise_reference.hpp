#pragma once
// The reference of the elementwise ops (runtime/ops/elementwise.hpp), what the `cpu` device
// runs: plain C++ in which every operation is one IEEE fp32 rounding (the project compiles
// with -ffp-contract=off). Inputs are widened exactly to f32; each result is rounded once to
// the output dtype (RNE).
//   silu(x)              t = x * kNegLog2e            (kNegLog2e = -log2(e) rounded to f32)
//                        e = exp2_f32(t)              (2^t, see below)
//                        silu = x / (1.0f + e)        (one add, one division)
//   gated_residual       out = x + (y * gate)         (one mul, then one add)
//   add                  out = a + b
// exp2_f32(t) is libm's double exp2 of t rounded once to f32: the value the sim device's
// ex2.approx.f32 returns (sim/scalar_approx.cpp), so SiLU on sim is bit-identical to
// this reference. NOTE: a GPU's ex2.approx.f32 is within 2 ulp of it, so on cuda SiLU is
// compared by NMSE (as GELU's tanh.approx is); the sequence itself is the GPU's.
// Special values follow the formula: silu(+Inf) = +Inf, silu(-Inf) = NaN (-Inf / Inf), and
// silu(x) = -0 for x below about -88.7, where 2^t overflows to Inf (x / Inf).

#include <cstdint>

#include "runtime/tensor.hpp"

namespace qjit::ops {

/// -log2(e) rounded to f32.
inline constexpr float kNegLog2e = -1.4426950408889634f;

/// 2^t as the sim's ex2.approx.f32 computes it: libm's double exp2, rounded once to f32.
float exp2_f32(float t);
/// SiLU of one value, in the order above.
float silu_value(float x);
/// x + (y * gate), in the order above.
float gated_residual_value(float x, float y, float gate);

/// Which element of a broadcast operand (gate, add's b) output element i reads:
/// (i / block) * block_stride + i % inner. The kernel uses the same formula.
struct Broadcast {
  std::int64_t inner = 1, block = 1, block_stride = 0;
  std::int64_t index(std::int64_t i) const { return (i / block) * block_stride + i % inner; }
};
/// gate [B, D] or [B, 1, D] (block S*D, stride D) or [D] (stride 0), for x [B, S, D].
Broadcast gate_broadcast(const Tensor& x, const Tensor& gate);
/// b a suffix of a's shape: b's elements repeat every b.numel() elements of a.
Broadcast suffix_broadcast(const Tensor& b);

/// The references on cpu tensors of any strides (f32, f16 or bf16 each); each returns a
/// contiguous cpu tensor of `out` with the first input's shape. The caller validates (the ops
/// in elementwise.hpp do).
Tensor silu_reference(const Tensor& x, DType out);
/// gate: [B, D], [B, 1, D] or [D], for x, y [B, S, D].
Tensor gated_residual_reference(const Tensor& x, const Tensor& y, const Tensor& gate, DType out);
/// b: a's shape or a suffix of it (leading 1s allowed), broadcast along a's leading dims.
Tensor add_reference(const Tensor& a, const Tensor& b, DType out);

}  // namespace qjit::ops
