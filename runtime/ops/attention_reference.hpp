#pragma once
// The reference of scaled-dot-product attention (runtime/ops/attention.hpp), what the `cpu`
// device runs: plain C++ in which every operation is one IEEE fp32 rounding (the project
// compiles with -ffp-contract=off). Per batch b, head h and query row i:
//   q, k, v   widened exactly to f32 (bf16/f16 -> f32 of float_convert.hpp)
//   s_j = (sequential fp32 sum d = 0..Dh-1 of q[i, d] * k[j, d], from +0) * scale
//   m   = max_j s_j                     (j = 0..Skv-1 in order; a NaN logit gives NaN)
//   p_j = std::exp(s_j - m)             (fp32 expf)
//   l   = sequential fp32 sum of p_j, from +0
//   o_d = (sequential fp32 sum j of p_j * v[j, d], from +0) / l
//   out = round(o)                      RNE to bf16 / f16, or f32 as is
// The devices' flash-attention kernel walks the keys in tiles with an online softmax and
// ex2.approx: it agrees with this by NMSE, not bit for bit.

#include <cstdint>

#include "runtime/tensor.hpp"

namespace qjit::ops {

/// The reference on cpu tensors: q [B, Sq, H*Dh], k and v [B, Skv, H*Dh] of one dtype (f32,
/// f16 or bf16; any strides), Skv >= 1, `heads` dividing the last dimension. Returns a
/// contiguous cpu [B, Sq, H*Dh] tensor of `out`. The caller validates (attention() does).
Tensor attention_reference(const Tensor& q, const Tensor& k, const Tensor& v, std::int64_t heads, float scale,
                           DType out);

}  // namespace qjit::ops
