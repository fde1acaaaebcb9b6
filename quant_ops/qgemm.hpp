#pragma once
// The W8A8 GEMM op on pre-quantized operands: validates, then dispatches — cpu runs the
// reference (quant_ops/reference/gemm.hpp), cuda and sim launch the JIT-compiled qgemm kernel
// (templates/impls/qgemm.cuh). Numerics: DESIGN.md section 5; int8 without GELU is
// bit-identical on every device, fp8 and GELU agree by NMSE.

#include <optional>

#include "jit/impls/qgemm.hpp"
#include "quant_ops/act_quant.hpp"
#include "quant_ops/kernel_launch.hpp"
#include "common/qtype.hpp"
#include "quant_ops/reference/epilogue.hpp"
#include "runtime/tensor.hpp"

namespace qjit {

/// A W8A8 GEMM resolved for one kind of call on one driver (DESIGN.md section 3a): the config,
/// the kernels in launch order and their launch shape, so launching it builds no spec.
struct QGemmPlan {
  jit::impls::GemmConfig config;  // with the fusion the call takes
  unsigned threads = 0, smem_bytes = 0;
  const Kernel* gemm = nullptr;
  const Kernel* transpose = nullptr;  // block-fp8 taking logical group128 scales: before the GEMM
  std::optional<ActQuantPlan> pass;   // the separate strategy's act_quant pass: first
};

struct QGemmOptions {
  // per_token ([M]), per_tensor ([1]) or group128 ([M, ceil(K/128)], fp8 with block128 weights)
  Granularity act_granularity = Granularity::kPerToken;
  // per_channel ([N]), per_tensor ([1]) or block128 ([ceil(N/128), ceil(K/128)], fp8 with group128)
  Granularity weight_granularity = Granularity::kPerChannel;
  std::optional<Tensor> bias;                                  // [N] f32, f16 or bf16
  reference::Activation activation = reference::Activation::kNone;
  DType out_dtype = DType::kBF16;  // bf16, f16 or f32
  // The tuning choice; when absent, the tuning database's for the problem on this device
  // (quant_ops/tuning.hpp), else the heuristic's. Never changes results, only speed.
  std::optional<jit::impls::GemmConfig> config;
  // A call site's plans (a layer's, not owned): on sim / cuda the op resolves its kernels once
  // per M bucket and input kind there, and later calls launch without building a spec.
  // Unused with an explicit config.
  PlanMemo<QGemmPlan>* memo = nullptr;
  // When given, set to the config the call ran on sim / cuda (for traces; not owned).
  jit::impls::GemmConfig* ran = nullptr;
};

/// y [M, N] = epilogue(a · w^T) for a [M, K] and w [N, K] holding int8 (both) or fp8 (e4m3 /
/// e5m2, any pairing) codes, K-contiguous with rows 16-byte aligned; scale_a / scale_w f32 in
/// the logical layouts of the granularities (DESIGN.md section 5; group128 x block128 is the
/// block-fp8 family, fp8 only). Scales and bias on the cpu are copied to a's device.
/// Block-fp8 on sim / cuda launches two kernels of the GEMM's program: the logical group128
/// scales transposed into the kernel's K-major layout (jit::impls::kQGemmBlockScalesKernel),
/// then the GEMM.
/// Throws qjit::Error, before any work, naming the problem: dtypes, shapes (N and K must be
/// multiples of 16), scale shapes (naming the expected one), granularity mixes, fp8 on a
/// device older than sm_89, int8 K that could overflow int32.
Tensor qgemm(const Tensor& a, const Tensor& scale_a, const Tensor& w, const Tensor& scale_w,
             const QGemmOptions& options = {});

/// The desc the op builds for these operands (for tests, benchmarks and `qjit compile`).
jit::impls::GemmDesc qgemm_desc(const Tensor& a, const Tensor& w, const QGemmOptions& options);

/// How the GEMM quantizes float activations (DESIGN.md section 5).
struct ActQuant {
  QType qtype = QType::kInt8;  // int8, fp8_e4m3 or fp8_e5m2 (matching the weights' family)
  // Dynamic: per_token, per_tensor or group128 (with block128 weights). Static: per_tensor.
  Granularity granularity = Granularity::kPerToken;
  std::optional<Tensor> static_scale{};  // present: static per_tensor, this [1] f32 scale (finite, > 0)
};

/// y [M, N] = epilogue(quantize(x) · w^T) for float activations x [M, K] (bf16, f16 or f32,
/// K-contiguous): the activations are quantized as `act` says, with the reference's exact
/// formulas (int8 without GELU is bit-identical to reference quantization + reference GEMM).
/// cpu: the reference. cuda / sim: a static scale is applied inside the GEMM (x read and
/// quantized in its main loop); a dynamic per_token scale either in a fused prologue of the
/// GEMM or by the separate act_quant pass (the config's fusion; the heuristic picks); dynamic
/// per_tensor and group128 by the separate pass. options.act_granularity is ignored (`act`
/// says it). Throws qjit::Error, before any work, as the pre-quantized overload does, and for
/// a static scale that is not one finite positive f32.
Tensor qgemm(const Tensor& x, const ActQuant& act, const Tensor& w, const Tensor& scale_w,
             const QGemmOptions& options = {});
/// The desc the op builds for float activations.
jit::impls::GemmDesc qgemm_desc(const Tensor& x, const ActQuant& act, const Tensor& w, const QGemmOptions& options);

/// A float-activation qgemm call without its data: everything its kernel choice depends on.
/// For plans (`qjit run` compiles ahead what a model's layers will launch) and the op itself.
struct QGemmProblem {
  std::int64_t m = 0, n = 0, k = 0;
  DType x_dtype = DType::kBF16;  // the float activations: bf16, f16 or f32
  QType act = QType::kInt8;
  Granularity act_granularity = Granularity::kPerToken;  // dynamic: per_token | per_tensor | group128
  bool act_static = false;                               // a static (calibrated) per_tensor scale
  QType weight = QType::kInt8;
  Granularity weight_granularity = Granularity::kPerChannel;
  std::optional<DType> bias;  // its dtype; none: no bias
  reference::Activation activation = reference::Activation::kNone;
  DType out_dtype = DType::kBF16;
  // Elements (a power of two <= 16) that x's base address, row stride and K are multiples
  // of; 0: dense rows of an allocation (derived from K). Sizes the separate act_quant pass's
  // vector loads, as quantize_activations measures it.
  std::int64_t x_row_align = 0;
};
/// The problem of qgemm(x, act, w, scale_w, options) (x_row_align left 0).
QGemmProblem qgemm_problem(const Tensor& x, const ActQuant& act, const Tensor& w, const QGemmOptions& options);
/// The desc the op builds for the problem (what qgemm_desc(x, act, w, options) returns).
jit::impls::GemmDesc qgemm_desc(const QGemmProblem& problem);

/// What qgemm(x, act, w, scale_w, options) launches on sim / cuda of `arch`: the config
/// (`config`, else the heuristic's, with its fusion) and the kernels in launch order: the
/// act_quant pass of the activation mode when quantization is separate (dynamic per_tensor
/// and group128 always, per_token when the config says so; group128's writes the scales in
/// the block-fp8 GEMM's K-major layout, so no transpose runs), then the GEMM (its A source:
/// static or dynamic fused when it quantizes x itself, quantized after the pass). Pure: no
/// device, no data; the op dispatches on it. Throws qjit::Error as the op does for a desc or
/// config `arch` cannot run (fp8 below sm_89, a config that does not fit).
struct QGemmLaunches {
  jit::impls::GemmConfig config;
  std::vector<KernelLaunch> kernels;
  bool separate() const { return kernels.size() == 2; }
};
QGemmLaunches qgemm_launches(const QGemmProblem& problem, jit::Arch arch,
                             const std::optional<jit::impls::GemmConfig>& config = std::nullopt);

/// The plan of pre-quantized activations of `desc` (logical_group_scales: block-fp8's group
/// scales in the logical layout, transposed by a launch before the GEMM), and of float
/// activations (qgemm_launches' kernels, resolved), on `driver`. Throws as the op does.
QGemmPlan plan_qgemm(const std::shared_ptr<Driver>& driver, const jit::impls::GemmDesc& desc,
                     const std::optional<jit::impls::GemmConfig>& config, bool logical_group_scales);
QGemmPlan plan_qgemm(const std::shared_ptr<Driver>& driver, const QGemmProblem& problem,
                     const std::optional<jit::impls::GemmConfig>& config = std::nullopt);
/// Launches `plan` on operands the op validated: x float (or codes for a codes plan), its
/// static scale (or the codes' scales) on x's device.
Tensor launch_qgemm(const QGemmPlan& plan, const Tensor& x, const std::optional<Tensor>& static_scale,
                    const Tensor& w, const Tensor& scale_w, const QGemmOptions& options);

}  // namespace qjit
