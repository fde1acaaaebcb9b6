#pragma once
// The linear layer on the cpu device's compiled kernels (runtime/host_driver.hpp), weights
// packed once at apply time (pack_for_host):
//   - int8 W8A8 (dynamic per-token, dynamic per-tensor or static activations; per-channel or
//     per-tensor weights): templates/host/act_quant.h then templates/host/qgemm_int8.h, with
//     DESIGN.md section 5's epilogue — bit-identical to the reference and to sim (with GELU
//     only on the portable path: the AVX-512 paths' 16-lane tanh is bounded instead);
//   - fp8 W8A8 (e4m3 / e5m2, the same activation scales) and block fp8 (group128 x block128):
//     act_quant.h's fp8 values then templates/host/gemm_bf16.h summing 128-K blocks;
//   - weight-only (any weights) on bf16 activations: gemm_bf16.h on weights dequantized to bf16;
//   - weight-only on f16 activations: templates/host/gemm_f32.h on weights dequantized to f16
//     (packed on first use), the reference's order: bit-identical to it without GELU.
// The fp8 and bf16 weight-only families agree with the reference by NMSE (the additions'
// order). Every valid rule has kernels here (weight-only refuses f32 activations earlier);
// linear.cpp keeps a reference fallback that says so in its trace.

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "jit/impls/host_qgemm.hpp"
#include "quant_ops/linear.hpp"
#include "runtime/ops/host_gemm.hpp"
#include "runtime/ops/host_gemm_f32.hpp"

namespace qjit {

/// Weights in a host kernel's layout, with the scales it reads.
struct HostPackedWeight {
  std::int64_t n = 0, k = 0;
  // int8: ceil(N / 16) panels of [k_padded / 4][16][4] bytes of (w + 128), channels beyond N
  // and K beyond K as 128 (a zero weight).
  std::int64_t k_padded = 0;
  std::vector<std::uint8_t> panels;
  // fp8 and block fp8: the codes' values; weight-only: decode(q) * scale rounded to bf16.
  HostBf16Weight bf16;
  std::vector<float> scales;  // int8 / fp8: per-channel [N] or per-tensor [1]; block fp8:
                              // [ceil(N / 128), ceil(K / 128)]; weight-only: none (applied)
  bool per_channel = true;
  // weight-only on f16 activations: decode(q) * scale rounded to f16, in f32 panels
  // (runtime/ops/host_gemm_f32.hpp); packed on the first such call (atomic load / store).
  mutable std::shared_ptr<const HostF32Weight> f16;
  // NOTE: f16's panels are f32 (4 bytes a weight, exact): counted once they are packed.
  std::size_t bytes() const {
    const std::shared_ptr<const HostF32Weight> f = std::atomic_load(&f16);
    return panels.size() + bf16.bytes() + scales.size() * sizeof(float) + (f ? f->bytes() : 0);
  }
};

/// Whether the cpu device has kernels for `rule` (activations of dtype `x`, when known:
/// weight-only needs bf16 or f16 ones).
bool host_kernels_support(const ResolvedRule& rule, std::optional<DType> x = std::nullopt);

/// The cpu float GEMM's description for `rule` (fp8, block fp8 or weight-only on bf16
/// activations), without bias or activation: what its tuning records are keyed by. Throws
/// for a rule that runs another kernel.
jit::impls::HostGemmBf16Desc host_float_gemm_desc(const ResolvedRule& rule, DType out_dtype);

/// Packs quantized weights (any device) for the host kernels of `rule`. Throws unless
/// host_kernels_support(rule).
std::shared_ptr<const HostPackedWeight> pack_for_host(const QuantizedWeight& w, const ResolvedRule& rule);

/// linear_forward on the cpu device (checked by linear_forward before): x [M, K] rows on the
/// host, packed weights (w.host_packed, packed now when absent).
Tensor host_linear_forward(const Tensor& x2d, const QuantizedWeight& w, const ResolvedRule& rule,
                           const LinearOptions& o, DType out_dtype, LinearTrace* trace);

}  // namespace qjit
