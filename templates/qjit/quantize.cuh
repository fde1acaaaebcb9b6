#pragma once
// The quantization formulas of DESIGN.md section 5 on the device, one value at a time.
// Every step is an explicitly rounded operation so the result is bit-identical to the
// host reference (quant_ops/reference).

#include "ptx/arith.cuh"
#include "ptx/cvt.cuh"
#include "qjit/fp8.cuh"
#include "qjit/types.cuh"

namespace qjit::dev {

template <DType T>
__device__ __forceinline__ float load_as_f32(const storage_t<T>* p, i64 i) {
  if constexpr (T == DType::kF32) return p[i];
  else if constexpr (T == DType::kF16) return ptx::f16_to_f32(p[i]);
  else if constexpr (T == DType::kBF16) return ptx::bf16_to_f32(p[i]);
  else static_assert(T == DType::kF32, "activations are f32, f16 or bf16");
}

// Scale and inverse of a group with absolute maximum `amax` (NaN-propagating max).
struct GroupScale {
  float scale;  // dequantization scale: a / qmax, or NaN when amax is NaN or Inf
  float inv;    // quantization multiplier: qmax / a
  bool finite;  // false: amax was NaN or Inf, every q of the group is 0
};

template <DType Q>
__device__ __forceinline__ GroupScale dynamic_scale(float amax) {
  constexpr float kQ = kQmax<Q>;
  // NOTE: !(amax <= FLT_MAX) is true for NaN and +Inf alike.
  if (!(amax <= 3.402823466e38f)) return {__uint_as_float(0x7fc00000u), 0.0f, false};
  const float a = amax > 1e-30f ? amax : 1e-30f;
  return {ptx::div_rn(a, kQ), ptx::div_rn(kQ, a), true};
}

// Static scale `s` (finite, > 0): inv = 1 / s, one IEEE division.
__device__ __forceinline__ float static_inverse(float s) { return ptx::div_rn(1.0f, s); }

// Quantize one value with multiplier inv. int8: round half to even, clamp to ±127 (NaN -> 0,
// ±Inf -> ±127); fp8: satfinite (NaN stays NaN).
template <DType Q>
__device__ __forceinline__ storage_t<Q> quantize(float x, float inv) {
  const float y = ptx::mul_rn(x, inv);
  if constexpr (Q == DType::kI8) {
    i32 q = ptx::f32_to_s32_rni(y);
    q = q > 127 ? 127 : (q < -127 ? -127 : q);
    return static_cast<i8>(q);
  } else {
    return f32_to_fp8<Q>(y);
  }
}

}  // namespace qjit::dev
