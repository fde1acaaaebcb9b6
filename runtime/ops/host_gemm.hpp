#pragma once
// The cpu device's float GEMM kernel (templates/host/gemm_bf16.h, jit/impls/host_gemm_bf16.hpp)
// from the host side: weights packed once in its layout, and one call on bf16 activation rows.
// gemm() runs the unquantized bf16 GEMM through it; quant_ops' linears run fp8, block fp8 and
// weight-only through it with their own activations and scales.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "jit/impls/host_gemm_bf16.hpp"
#include "runtime/tensor.hpp"

namespace qjit {

/// Weights in the kernel's layout: ceil(n / 16) panels of [k_pairs][16][2] bf16 (channels
/// beyond n and K beyond k are 0).
struct HostBf16Weight {
  std::int64_t n = 0, k = 0, k_pairs = 0;
  std::vector<std::uint16_t> panels;
  std::size_t bytes() const { return panels.size() * sizeof(std::uint16_t); }
};

/// Packs n channels of k values; `row(c, dst)` writes channel c's k bf16 values to dst.
HostBf16Weight pack_host_bf16_weight(std::int64_t n, std::int64_t k,
                                     const std::function<void(std::int64_t, std::uint16_t*)>& row);
/// Packs bf16 weights [N, K] (any strides, on the cpu).
HostBf16Weight pack_host_bf16_weight(const Tensor& w);

/// bf16 activation rows for the kernel: x itself when it is bf16 with K a multiple of 32 and
/// unit column stride, else a copy K-padded with zeros (host_k_pairs) into `scratch`. x [M, K]
/// bf16 on the cpu.
struct HostBf16Rows {
  const std::uint16_t* data = nullptr;
  std::int64_t m = 0, lda = 0;
};
HostBf16Rows host_bf16_rows(const Tensor& x, std::vector<std::uint16_t>& scratch);

/// One call of the kernel: y [M, N] = epilogue(Σ a · w) (jit/impls/host_gemm_bf16.hpp says
/// what each accumulation mode sums and scales).
struct HostGemmBf16Call {
  HostBf16Rows a;
  jit::impls::HostAccum accum = jit::impls::HostAccum::kSequential;
  const float* a_scales = nullptr;  // kBlock128: [M] or [1]; kBlock128Scaled: [M, ceil(K / 128)]
  std::int64_t a_scale_stride = 0;
  const float* w_scales = nullptr;  // kBlock128: [N] or [1]; kBlock128Scaled: [ceil(N / 128), ceil(K / 128)]
  std::int64_t w_scale_stride = 0;
  std::optional<Tensor> bias;       // [N] f32 / f16 / bf16 on the cpu, contiguous
  Activation activation = Activation::kNone;
  DType out = DType::kBF16;
  std::string* trace = nullptr;     // when given, what ran
  // The blocking (a tuned one: quant_ops/tuning.hpp); none: host_gemm_bf16_heuristic's.
  std::optional<jit::impls::HostGemmBf16Config> config;
};
/// The kernel's description for a call (what its config is tuned for).
jit::impls::HostGemmBf16Desc host_gemm_bf16_desc(const HostGemmBf16Call& call);
Tensor host_gemm_bf16(const HostBf16Weight& w, const HostGemmBf16Call& call);

}  // namespace qjit
