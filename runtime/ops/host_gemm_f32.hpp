#pragma once
// The cpu device's f16 / f32 GEMM kernel (templates/host/gemm_f32.h,
// jit/impls/host_gemm_f32.hpp) from the host side: weights packed once in its layout (f32
// panels), activation rows widened to f32, one call. gemm() runs the unquantized f16 and f32
// GEMMs through it, bit-identical to the reference without GELU.

#include <cstdint>
#include <optional>
#include <vector>

#include "common/qtype.hpp"
#include "jit/impls/host_gemm_f32.hpp"
#include "runtime/driver.hpp"
#include "runtime/tensor.hpp"

namespace qjit {

/// Weights in the kernel's layout: ceil(n / 16) panels of [k][16] f32 (channels beyond n 0),
/// from weights of `dtype` (f16 or f32).
struct HostF32Weight {
  std::int64_t n = 0, k = 0;
  DType dtype = DType::kF16;
  std::vector<float> panels;
  std::size_t bytes() const { return panels.size() * sizeof(float); }
};

/// Packs f16 or f32 weights [N, K] (any strides, on the cpu).
HostF32Weight pack_host_f32_weight(const Tensor& w);

/// The kernel's description for a call of host_gemm_f32 with these arguments on this host:
/// what a tuned config is looked up by (quant_ops/tuning.hpp).
jit::impls::HostGemmF32Desc host_gemm_f32_desc(const HostF32Weight& w, const std::optional<Tensor>& bias,
                                               Activation act, DType out);

/// The launch of an M x N call with `config`: its grid of blocks and thread bound.
LaunchConfig host_gemm_f32_launch(std::int64_t m, std::int64_t n, const jit::impls::HostGemmF32Config& config);

/// y [M, N] of `out` = epilogue(x [M, K] · w^T): x of w's dtype on the cpu (any strides), bias
/// [N] f32 / f16 / bf16 on the cpu or none. `config`: blocking and threads (never the
/// result's bits); none: the heuristic's (what gemm() runs: only the weight-only linear, in
/// quant_ops, reads the tuning database).
Tensor host_gemm_f32(const HostF32Weight& w, const Tensor& x, const std::optional<Tensor>& bias, Activation act,
                     DType out, const std::optional<jit::impls::HostGemmF32Config>& config = std::nullopt);

}  // namespace qjit
