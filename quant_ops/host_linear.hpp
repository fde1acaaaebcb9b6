#pragma once
// The linear layer on the cpu device's compiled kernels (runtime/host_driver.hpp): int8 W8A8
// with dynamic per-token, dynamic per-tensor or static activation scales and per-channel or
// per-tensor weights — the activations quantized by templates/host/act_quant.h, the GEMM by
// templates/host/qgemm_int8.h on weights packed once (pack_for_host, at apply time), with the
// epilogue of DESIGN.md section 5: bit-identical to the reference and to sim. Rules without
// host kernels yet run the reference on the cpu (linear.cpp says which in its trace).

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "jit/impls/host_qgemm.hpp"
#include "quant_ops/linear.hpp"

namespace qjit {

/// Int8 weights in the host GEMM's layout: ceil(N / 16) panels of [K_padded / 4][16][4] bytes of
/// (w + 128), channels beyond N and K beyond K as 128 (a zero weight), with the scales.
struct HostPackedWeight {
  std::int64_t n = 0, k = 0, k_padded = 0;
  std::vector<std::uint8_t> panels;
  std::vector<float> scales;  // per-channel [N] or per-tensor [1]
  bool per_channel = true;
};

/// Whether the cpu device has kernels for `rule` (int8 weights per-channel or per-tensor,
/// int8 activations per-token, per-tensor or static).
bool host_kernels_support(const ResolvedRule& rule);

/// Packs int8 weights (any device) for the host GEMM. Throws unless they are int8 per-channel or
/// per-tensor.
std::shared_ptr<const HostPackedWeight> pack_for_host(const QuantizedWeight& w);

/// linear_forward on the cpu device (checked by linear_forward before): x [M, K] rows on the
/// host, packed weights (w.host_packed, packed now when absent).
Tensor host_linear_forward(const Tensor& x2d, const QuantizedWeight& w, const ResolvedRule& rule,
                           const LinearOptions& o, DType out_dtype, LinearTrace* trace);

}  // namespace qjit
