#pragma once
// The weight-only GEMM op (act qtype none): bf16/f16 activations times int8/fp8 weights with
// their scales. Validates, then dispatches — cpu runs the reference
// (quant_ops/reference/gemm.hpp, kWeightOnly), cuda and sim launch the JIT-compiled qgemm_wo
// kernel (templates/impls/qgemm_wo.cuh). Both dequantize w = round_to_x_dtype(decode(q) *
// scale) and sum in fp32, in different orders: devices agree with the reference by NMSE.

#include <optional>

#include "jit/impls/qgemm_wo.hpp"
#include "quant_ops/kernel_launch.hpp"
#include "common/qtype.hpp"
#include "quant_ops/reference/epilogue.hpp"
#include "runtime/kernels.hpp"
#include "runtime/tensor.hpp"

namespace qjit {

/// The weight-only GEMM resolved for one kind of call on one driver: its config and kernel.
struct WeightOnlyPlan {
  jit::impls::WeightOnlyConfig config;
  const Kernel* kernel = nullptr;
};

struct WeightOnlyOptions {
  // per_channel ([N]), per_tensor ([1]) or block128 ([ceil(N/128), ceil(K/128)], row-major)
  Granularity weight_granularity = Granularity::kPerChannel;
  std::optional<Tensor> bias;  // [N] f32, f16 or bf16
  reference::Activation activation = reference::Activation::kNone;
  DType out_dtype = DType::kBF16;  // bf16, f16 or f32
  // The tuning choice; when absent, the tuning database's for the problem on this device
  // (quant_ops/tuning.hpp), else the heuristic's. Never changes results, only speed.
  std::optional<jit::impls::WeightOnlyConfig> config;
  // A call site's plans (a layer's, not owned), as QGemmOptions::memo.
  PlanMemo<WeightOnlyPlan>* memo = nullptr;
  // When given, set to the config the call ran on sim / cuda (for traces; not owned).
  jit::impls::WeightOnlyConfig* ran = nullptr;
};

/// y [M, N] = epilogue(x · dequant(w)^T) for x [M, K] bf16 or f16 and w [N, K] holding int8,
/// fp8_e4m3 or fp8_e5m2 codes (K-contiguous, rows 16-byte aligned), scale_w f32 in the
/// layout of the granularity (block128: 2-D [ceil(N/128), ceil(K/128)], or those elements
/// 1-D). Weights, scales and bias on the cpu are copied to x's device. Throws qjit::Error,
/// before any work, naming the problem: dtypes, shapes (N and K must be multiples of 16),
/// scale shapes (naming the expected one), a device older than sm_80.
Tensor qgemm_weight_only(const Tensor& x, const Tensor& w, const Tensor& scale_w, const WeightOnlyOptions& options = {});

/// The desc the op builds for these operands (for tests, benchmarks and `qjit compile`).
jit::impls::WeightOnlyDesc qgemm_weight_only_desc(const Tensor& x, const Tensor& w, const WeightOnlyOptions& options);

/// A qgemm_weight_only call without its data: everything its kernel choice depends on (for
/// plans, and the op itself).
struct WeightOnlyProblem {
  std::int64_t m = 0, n = 0, k = 0;
  DType x_dtype = DType::kBF16;  // bf16 or f16
  QType weight = QType::kInt8;
  Granularity weight_granularity = Granularity::kPerChannel;
  std::optional<DType> bias;  // its dtype; none: no bias
  reference::Activation activation = reference::Activation::kNone;
  DType out_dtype = DType::kBF16;
};
/// The problem of qgemm_weight_only(x, w, scale_w, options).
WeightOnlyProblem qgemm_weight_only_problem(const Tensor& x, const Tensor& w, const WeightOnlyOptions& options);
/// The desc the op builds for the problem (what qgemm_weight_only_desc(x, w, options) returns).
jit::impls::WeightOnlyDesc qgemm_weight_only_desc(const WeightOnlyProblem& problem);

/// What qgemm_weight_only launches on sim / cuda of `arch` with `config` (else the
/// heuristic's): the config and its one kernel. Pure: with the config the op chose (an
/// explicit one, the tuning database's or the heuristic's) the op launches exactly it. Throws
/// qjit::Error as the op does for a desc or config `arch` cannot run.
struct WeightOnlyLaunches {
  jit::impls::WeightOnlyConfig config;
  std::vector<KernelLaunch> kernels;
};
WeightOnlyLaunches qgemm_weight_only_launches(const WeightOnlyProblem& problem, jit::Arch arch,
                                              const std::optional<jit::impls::WeightOnlyConfig>& config = std::nullopt);
/// The op's plan on `driver`: `config`, else the tuning database's (a tuned config that fails
/// to plan gives way to the heuristic's, with a warning), and its kernel.
WeightOnlyPlan plan_qgemm_weight_only(const std::shared_ptr<Driver>& driver, const WeightOnlyProblem& problem,
                                      const std::optional<jit::impls::WeightOnlyConfig>& config = std::nullopt);

}  // namespace qjit
