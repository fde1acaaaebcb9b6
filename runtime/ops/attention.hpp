#pragma once
// Scaled-dot-product attention without masks, the op of the DiT block's self-attention (over
// video tokens) and cross-attention (to text tokens; Wan2.1 pads the text with zeros and
// attends to every key). Validates everything first, then dispatches: cpu runs bf16 with the
// head dim a multiple of 16 up to 256 on its compiled kernel (host_attention.hpp) and the rest
// on the reference (attention_reference.hpp), as cpu:ref does everything; cuda and sim launch the JIT-compiled attention family
// (templates/impls/attention.cuh: tiled keys, online softmax, ex2.approx, fp32 accumulation;
// tensor cores for f16 / bf16 with head_dim a multiple of 16 up to 128, where P is rounded to
// the input type for P V as FlashAttention-2 does; CUDA cores otherwise), which agrees with
// the reference by NMSE, not bit for bit.

#include <cstdint>
#include <optional>

#include "jit/impls/attention.hpp"
#include "runtime/kernels.hpp"
#include "runtime/tensor.hpp"

namespace qjit {

struct AttentionOptions {
  // NOTE: every member has a default member initializer, so designated initializers that
  // leave some out keep GCC's -Wmissing-field-initializers quiet.
  std::optional<float> softmax_scale{};  // default 1/sqrt(head_dim)
  std::optional<DType> out_dtype{};      // default q's dtype; f32, f16 or bf16
  KernelMemo* memo = nullptr;            // the call site's resolved kernel (runtime/kernels.hpp)
};

/// o [B, Sq, H*Dh] = softmax(q k^T * scale) v per batch b and head h, with q [B, Sq, H*Dh],
/// k and v [B, Skv, H*Dh] (head h = columns [h*Dh, (h+1)*Dh)); f32, f16 or bf16 inputs (q, k, v
/// same dtype), fp32 accumulation. heads divides the last dimension. cpu runs the reference;
/// sim and cuda launch the JIT kernel (head_dim a multiple of 8 up to 256 there; any on the
/// cpu). Views whose last dimension is contiguous are read in place, others copied; k and v
/// on the cpu are copied to q's device. Throws qjit::Error, before any work, naming the
/// problem: ranks, dtypes, batch / key-count / width mismatches, heads, head_dim, Skv = 0,
/// the scale, the output dtype, devices, a device older than sm_80.
Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, std::int64_t heads,
                 const AttentionOptions& options = {});

/// The kernel desc attention() builds for these operands on sim/cuda (for tests, benchmarks
/// and `qjit compile`).
jit::impls::AttentionDesc attention_desc(const Tensor& q, std::int64_t heads, const AttentionOptions& options = {});

}  // namespace qjit
