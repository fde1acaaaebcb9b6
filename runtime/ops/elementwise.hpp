#pragma once
// Elementwise glue of Wan2.1's block: SiLU (the time embedding's activation), the gated
// residual x + y * gate after self-attention and the FFN, and a broadcast add (modulation +
// timestep projection). All in fp32, inputs f32, f16 or bf16, the result rounded once to the
// output dtype. cpu:ref runs the reference (elementwise_reference.hpp, whose header defines
// the exact order of operations), cpu its compiled kernel with the same bits (host_glue.hpp); sim and cuda launch the JIT-compiled elementwise kernel
// (templates/impls/elementwise.cuh). gated_residual and add are bit-identical on every
// device; silu is bit-identical on sim, and within the derived NMSE bound of
// tests/runtime/elementwise_sim_test.cpp on a GPU (its exp is ex2.approx, within 2 ulp).
//
// Every op validates before any work and throws qjit::Error naming the problem (op, tensor,
// shape, dtype, device). All operands must be on the first input's device; non-contiguous
// operands are copied first. The result is a new contiguous tensor on that device.

#include <optional>

#include "runtime/kernels.hpp"
#include "runtime/tensor.hpp"

namespace qjit {

// Each op takes an optional KernelMemo: its call site's (a block's) resolved kernel, so a
// call that has run before launches without building a spec (runtime/kernels.hpp).

/// x * sigmoid(x) (SiLU), elementwise, any shape: x / (1 + exp(-x)). Output dtype: x's by
/// default.
Tensor silu(const Tensor& x, std::optional<DType> out = std::nullopt, KernelMemo* memo = nullptr);

/// Wan's gated residual: out = x + y * gate, with x, y [B, S, D] and gate [B, D] or [B, 1, D]
/// (one per batch element, broadcast over S, as Wan's modulation chunks are) or [D]. Result
/// in x's dtype by default (Wan keeps the residual stream in f32).
Tensor gated_residual(const Tensor& x, const Tensor& y, const Tensor& gate, std::optional<DType> out = std::nullopt,
                      KernelMemo* memo = nullptr);

/// a + b with b the same shape as a or broadcast along leading dimensions (b's shape a
/// suffix of a's, e.g. a [B, 6, D] + b [6, D]; leading 1s of b are ignored). Output dtype:
/// a's by default.
Tensor add(const Tensor& a, const Tensor& b, std::optional<DType> out = std::nullopt, KernelMemo* memo = nullptr);

}  // namespace qjit
