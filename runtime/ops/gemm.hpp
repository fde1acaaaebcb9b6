#pragma once
// The unquantized GEMM, the op of runtime's Linear and of the high-precision layers a rule
// keeps: y = act(x · w^T + bias) with x [M, K] and w [N, K] both bf16 or both f16 (fp32
// accumulation), or both f32 on the cpu. Validates everything first, then dispatches: cpu
// runs bf16 on its compiled kernel (host_gemm.hpp: weights packed once per call site) and
// f16 / f32 on its f32-panel kernel (host_gemm_f32.hpp: K summed in the reference's order,
// bit-identical to it without GELU); cpu:ref runs the reference (gemm_reference.hpp) for
// everything; cuda and sim launch the JIT-compiled qgemm_wo kernel with unquantized weights
// (templates/impls/qgemm_wo.cuh, kQW == kAct). Those kernels sum K in their own order: they
// agree with the reference by NMSE, not bit for bit.

#include <optional>

#include <memory>

#include "jit/impls/qgemm_wo.hpp"
#include "runtime/kernels.hpp"
#include "runtime/ops/host_gemm.hpp"
#include "runtime/ops/host_gemm_f32.hpp"
#include "runtime/tensor.hpp"

namespace qjit {

/// The GEMM resolved for one kind of call on one driver: config, kernel, shared memory.
struct GemmPlan {
  jit::impls::WeightOnlyConfig config;
  const Kernel* kernel = nullptr;
  unsigned smem_bytes = 0;
};

struct GemmOptions {
  // NOTE: every member has a default member initializer, even `{}`, so designated
  // initializers that leave some out keep GCC's -Wmissing-field-initializers quiet.
  std::optional<Tensor> bias{};    // [N] f32, f16 or bf16 (on the cpu or x's device)
  bool gelu_tanh = false;          // GELU, tanh approximation, after the bias
  std::optional<DType> out_dtype{};  // f32, f16 or bf16; x's dtype when absent
  // The tuning choice (sim/cuda); the heuristic's when absent. Never changes results.
  std::optional<jit::impls::WeightOnlyConfig> config{};
  // The call site's resolved kernel (a Linear's; runtime/kernels.hpp). Unused with `config`.
  PlanMemo<GemmPlan>* memo = nullptr;
  // The call site's weights in the cpu kernel's layout (a Linear's), packed on its first call
  // there; null: packed per call. The call site clears it when its weights change.
  std::shared_ptr<const HostBf16Weight>* host_weight = nullptr;
  // The same for f16 / f32 weights (the cpu's f32-panel kernel, runtime/ops/host_gemm_f32.hpp).
  std::shared_ptr<const HostF32Weight>* host_weight_f32 = nullptr;
};

/// y [M, N] = act(x · w^T + bias). x [M, K] and w [N, K] of the same dtype: bf16 or f16 on
/// every device, f32 on the cpu only; K-contiguous operands are read in place, others
/// copied. N and K must be multiples of 16 on sim/cuda (the kernel's tiles); any on the cpu.
/// Weights and bias on the cpu are copied to x's device. Throws qjit::Error, before any
/// work, naming the problem: ranks, dtypes, K mismatch, N/K multiples, bias shape and dtype,
/// out dtype, devices, a device older than sm_80.
Tensor gemm(const Tensor& x, const Tensor& w, const GemmOptions& options = {});

/// The kernel desc gemm() builds for these operands on sim/cuda (for tests, benchmarks and
/// `qjit compile`): qtype_w = x's dtype, scale_w none.
jit::impls::WeightOnlyDesc gemm_desc(const Tensor& x, const Tensor& w, const GemmOptions& options = {});

}  // namespace qjit
