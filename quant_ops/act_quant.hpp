#pragma once
// The activation-quantization op: validates, then dispatches — cpu runs the reference,
// cuda and sim launch the JIT-compiled act_quant kernels (templates/impls/act_quant.cuh).
// Numerics: DESIGN.md section 5; every device gives bit-identical results.

#include <optional>

#include "common/qtype.hpp"
#include "runtime/kernels.hpp"
#include "runtime/tensor.hpp"

namespace qjit {

struct QuantizedActivations {
  Tensor q;       // [M, K] int8 or fp8 codes, on x's device
  Tensor scales;  // f32: [M] (per-token), [1] (per-tensor; static: the given scale) or
                  // [M, ceil(K/128)] row-major (group128)
};

/// A static activation scale checked as DESIGN.md section 5 wants it: one f32 value, finite,
/// > 0, with a finite inverse. The value is read (and returned) when the scale is on the cpu
/// or `need_value` asks for it; a device-resident scale is otherwise not read, since that
/// would synchronize the host on every call — whoever placed it on the device checked it
/// (QuantLinear::set_act_scale). Returns NaN when the value was not read. Throws qjit::Error
/// (subsystem `sub`).
float check_static_scale(const Tensor& s, const char* sub, bool need_value = false);

// x: [M, K] (or [..., K], flattened to rows) f32/f16/bf16 with unit stride along K.
// static_scale: a 1-element f32 tensor on x's device (or on cpu), finite and > 0; given with
// kStaticPerTensor only.
QuantizedActivations quantize_activations(const Tensor& x, QType qtype, ActScale mode,
                                          const std::optional<Tensor>& static_scale = std::nullopt);

/// The act_quant pass resolved for one kind of input on one driver (DESIGN.md section 3a):
/// its kernels and config, made once by plan_act_quant and launched by launch_act_quant any
/// number of times without building a spec.
struct ActQuantPlan {
  QType qtype = QType::kInt8;
  ActScale mode = ActScale::kDynamicPerToken;
  bool k_major = false;      // group128 scales in the block-fp8 GEMM's layout
  std::int64_t k = 0;        // sizes the block only
  std::int64_t row_align = 0;
  int threads = 256, vec = 1;
  const Kernel* kernel = nullptr;  // the quantizing pass
  const Kernel* amax = nullptr;    // dynamic per-tensor's first pass
};
/// Elements (a power of two <= 16) that x's base address, its row stride and K are multiples
/// of: what bounds the kernels' vector width, so part of what a plan is for.
std::int64_t act_quant_row_align(const Tensor& x);
ActQuantPlan plan_act_quant(const std::shared_ptr<Driver>& driver, DType x_dtype, QType qtype, ActScale mode,
                            std::int64_t k, std::int64_t row_align, bool k_major);
/// Runs `plan` on x (on the plan's driver, f32/f16/bf16 rows of the plan's K and alignment);
/// `static_scale` on x's device for kStaticPerTensor.
QuantizedActivations launch_act_quant(const ActQuantPlan& plan, const Tensor& x, const Tensor* static_scale);

// The group128 pass that feeds the block-fp8 GEMM (quant_ops/qgemm.cpp): the codes of
// quantize_activations(x, qtype, kDynamicGroup128), bit for bit, with the scales in the
// GEMM's internal K-major layout [ceil(K/128), jit::impls::group_scales_ld(M)] (the padding
// rows past M are not written). x on sim or cuda. NOTE: internal to the ops; interfaces
// (quantize_activations, qjit linear --dump-quantized, checkpoints) keep the logical layout
// (DESIGN.md section 5).
QuantizedActivations quantize_group128_k_major(const Tensor& x, QType qtype);

}  // namespace qjit
