#pragma once
// One linear layer under a quantization rule: y = act(x · dequant(w)^T + bias), with the
// weights quantized once (quantize_weight, or pre-quantized weights from the user) and the
// activations quantized per call as the rule says. `qjit linear` and QuantLinear run it.
//
// It validates everything first (rule, shapes, dtypes, scales), then dispatches by the
// rule's family (reference/gemm.hpp: int8, fp8, block_fp8, weight_only) and x's device:
// - cpu: the reference composition (reference activation quantization + reference_gemm),
//   every family;
// - sim / cuda: the JIT ops (qgemm on the float activations for W8A8, which quantizes them
//   in its main loop, in a fused prologue or in a separate act_quant pass; qgemm_weight_only); every family, on every arch
//   its mma exists for (linear_arch_support: fp8 needs sm_89), never a fallback to another path.
// Numerics: DESIGN.md section 5; int8 W8A8 without GELU is bit-identical on every device.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "jit/impls/host_gemm_bf16.hpp"
#include "jit/impls/host_gemm_f32.hpp"
#include "jit/impls/host_qgemm.hpp"
#include "jit/impls/qgemm.hpp"
#include "jit/impls/qgemm_wo.hpp"
#include "quant_ops/act_quant.hpp"
#include "quant_ops/kernel_launch.hpp"
#include "quant_ops/qgemm.hpp"
#include "quant_ops/qgemm_weight_only.hpp"
#include "common/qtype.hpp"
#include "quant_ops/reference/epilogue.hpp"
#include "quant_ops/reference/gemm.hpp"
#include "quant_ops/rule.hpp"
#include "runtime/tensor.hpp"

namespace qjit {

/// A layer's weights quantized under a rule, in the logical layouts of DESIGN.md section 5.
struct HostPackedWeight;  // quant_ops/host_linear.hpp

struct QuantizedWeight {
  QType qtype = QType::kInt8;
  Granularity granularity = Granularity::kPerChannel;
  Tensor q;       // [N, K] codes: int8, fp8_e4m3 or fp8_e5m2 (the rule's weight qtype)
  Tensor scales;  // f32: per_channel [N], per_tensor [1], block128 [ceil(N/128), ceil(K/128)]
  // On the cpu device, under a rule it has kernels for: the weights packed for its GEMM, once
  // (quantize_weight and quantized_weight_from pack them; linear_forward packs per call
  // when absent).
  std::shared_ptr<const HostPackedWeight> host_packed;

  std::int64_t n() const { return q.size(0); }
  std::int64_t k() const { return q.size(1); }
};

/// Quantizes w [N, K] (f32, f16 or bf16, any device) with the reference weight quantization
/// (per_channel, per_tensor or block128, as the rule says). The result lives on w's device.
/// Throws qjit::Error for a rule that keeps the layer unquantized (weight none), a w that is
/// not a 2-D float tensor, or N, K that are not positive multiples of 16.
QuantizedWeight quantize_weight(const Tensor& w, const ResolvedRule& rule);
QuantizedWeight quantize_weight(const Tensor& w, const Rule& rule);

/// Pre-quantized weights from the user, validated against the rule: q [N, K] must hold the
/// rule's weight qtype (int8 / fp8_e4m3 / fp8_e5m2 storage), scales must be f32 in the
/// logical layout of the rule's weight granularity. Also accepted, as vLLM and LightX2V
/// store them: per_channel [N, 1], per_tensor [] or [1, 1] (reshaped to the logical
/// layout). Errors name the expected dtype and shape.
QuantizedWeight quantized_weight_from(const Tensor& q, const Tensor& scales, const ResolvedRule& rule);

struct LinearOptions {
  std::optional<Tensor> bias;                                       // [N] f32, f16 or bf16
  reference::Activation activation = reference::Activation::kNone;  // after the bias
  std::optional<DType> out_dtype;                                   // bf16, f16, f32; default: the rule's
  // The calibrated activation scale (one f32 value, finite, > 0). Required exactly when the
  // rule has act_static_scale, rejected otherwise.
  std::optional<Tensor> act_scale;
  // The GEMM's tuning choice on sim / cuda (W8A8 families, weight-only); the heuristic's
  // when absent. Never changes results, only speed.
  std::optional<jit::impls::GemmConfig> config;
  std::optional<jit::impls::WeightOnlyConfig> weight_only_config;
  // The cpu int8 GEMM's blocking; the tuning database's or the heuristic's when absent
  // (quant_ops/tuning.hpp). Never changes results, only speed.
  std::optional<jit::impls::HostQGemmConfig> host_int8_config;
  // The same for the cpu float GEMM (fp8, block fp8, weight-only on bf16 activations).
  std::optional<jit::impls::HostGemmBf16Config> host_bf16_config;
  // The same for the cpu f16 GEMM (weight-only rules on f16 activations).
  std::optional<jit::impls::HostGemmF32Config> host_f32_config;
  // The calling layer's resolved kernels (QuantLinear's; not owned): on sim / cuda each kind
  // of call resolves once, then launches without building a spec (DESIGN.md section 3a).
  PlanMemo<QGemmPlan>* memo = nullptr;
  PlanMemo<WeightOnlyPlan>* weight_only_memo = nullptr;
};

/// What a linear_forward call ran, for `qjit linear --json`, tests and logs.
struct LinearTrace {
  reference::GemmFamily family = reference::GemmFamily::kInt8;
  std::string device;              // x's device: "cpu", "sim", "cuda:0"
  std::string arch;                // the target arch on sim / cuda; empty on cpu
  std::vector<std::string> steps;  // e.g. "act_quant group128 fp8_e4m3", "qgemm 64x128x64 w2x2 s4"
};

/// The family a (quantizing) rule runs in. Throws for a rule with weight none.
reference::GemmFamily linear_family(const ResolvedRule& rule);

/// Whether the sim / cuda kernels of `rule` run on `arch`: the fp8 and block-fp8 families
/// need fp8 mma (sm_89 or newer); on the host arch, whether the cpu device has kernels for it
/// (host_kernels_support). When they do not, and `why` is given, says why (naming the rule,
/// the family and the arch).
bool linear_arch_support(const ResolvedRule& rule, jit::Arch arch, std::string* why = nullptr);

/// A linear_forward call without its data: everything the kernels it launches depend on.
struct LinearProblem {
  std::int64_t m = 0;  // rows of x (the product of its leading dimensions)
  std::int64_t n = 0, k = 0;
  DType x_dtype = DType::kBF16;
  std::optional<DType> bias;  // its dtype; none: no bias
  reference::Activation activation = reference::Activation::kNone;
  std::optional<DType> out_dtype;  // default: the rule's
  std::optional<jit::impls::GemmConfig> config;
  std::optional<jit::impls::WeightOnlyConfig> weight_only_config;
  // The calling layer's resolved kernels (QuantLinear's; not owned): on sim / cuda each kind
  // of call resolves once, then launches without building a spec (DESIGN.md section 3a).
  PlanMemo<QGemmPlan>* memo = nullptr;
  PlanMemo<WeightOnlyPlan>* weight_only_memo = nullptr;
};

/// The W8A8 GEMM problem linear_forward hands the qgemm op for `problem` under a W8A8 `rule`
/// (the autotuner's description of a linear on sim / cuda).
QGemmProblem linear_qgemm_problem(const ResolvedRule& rule, const LinearProblem& problem);
/// The same for the weight-only GEMM (qgemm_weight_only) under a weight-only `rule`.
WeightOnlyProblem linear_weight_only_problem(const ResolvedRule& rule, const LinearProblem& problem);

/// The kernels linear_forward launches for `problem` under `rule` on a sim / cuda device of
/// `arch`, in launch order (x dense, as from an allocation): W8A8 — the act_quant pass of the
/// rule's activation mode when the quantization is separate, then qgemm (qgemm_launches);
/// weight-only — qgemm_wo. Pure (no device, no data): what `qjit run` compiles ahead. Throws
/// qjit::Error for a rule with weight none, a family `arch` cannot run (linear_arch_support)
/// or a problem the kernels reject.
std::vector<KernelLaunch> linear_kernels(const ResolvedRule& rule, const LinearProblem& problem, jit::Arch arch);

/// Everything linear_forward checks before any work, for callers that want the errors before
/// they spend time (quantizing weights): the rule quantizes; x is [..., K] f32/f16/bf16
/// (f16/bf16 for weight-only); w is [N, K] (float or codes) with N and K positive multiples
/// of 16 and K matching x; the int8 K bound; bias [N]; the static scale given exactly when
/// the rule is static; out dtype; the family's mma on x's device arch. Throws qjit::Error naming
/// the field, tensor or shape.
void check_linear(const Tensor& x, const Tensor& w, const ResolvedRule& rule, const LinearOptions& options);

/// y [..., N] = the linear layer on x [..., K], on x's device (weights, scales, bias and the
/// static scale may be on the cpu or there). Validates first (check_linear, plus the
/// weight's qtype and granularity against the rule), then dispatches (see the top).
Tensor linear_forward(const Tensor& x, const QuantizedWeight& w, const ResolvedRule& rule,
                      const LinearOptions& options = {}, LinearTrace* trace = nullptr);
Tensor linear_forward(const Tensor& x, const QuantizedWeight& w, const Rule& rule, const LinearOptions& options = {},
                      LinearTrace* trace = nullptr);

/// The activations exactly as linear_forward quantizes them (the same bytes on every device,
/// DESIGN.md section 5), flattened to [M, K], with their scales in the logical layout:
/// per_token [M], per_tensor [1] (dynamic or static), group128 [M, ceil(K/128)]. On cpu
/// tensors. For dumps and tests. Throws for a weight-only rule (nothing is quantized).
QuantizedActivations quantize_linear_input(const Tensor& x, const ResolvedRule& rule,
                                           const std::optional<Tensor>& act_scale = std::nullopt);

}  // namespace qjit
