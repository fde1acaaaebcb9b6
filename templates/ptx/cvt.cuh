#pragma once
// Conversions between f32 and the narrow formats, each a single rounded PTX cvt where the
// target arch has one. All round to nearest even.

#include "qjit/types.cuh"

namespace qjit::ptx {

__device__ __forceinline__ float f16_to_f32(dev::u16 h) {
  float d;
  asm("cvt.f32.f16 %0, %1;" : "=f"(d) : "h"(h));
  return d;
}

__device__ __forceinline__ float bf16_to_f32(dev::u16 h) {
  return __uint_as_float(static_cast<dev::u32>(h) << 16);  // exact
}

__device__ __forceinline__ dev::u16 f32_to_f16(float x) {
  dev::u16 d;
  asm("cvt.rn.f16.f32 %0, %1;" : "=h"(d) : "f"(x));
  return d;
}

__device__ __forceinline__ dev::u16 f32_to_bf16(float x) {
  dev::u16 d;
  asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(d) : "f"(x));
  return d;
}

// Two f32 -> one f16x2 / bf16x2 register, `lo` in the lower half (the lower K index of an
// mma fragment register). NOTE: cvt packs its first source operand into the upper half.
__device__ __forceinline__ dev::u32 f32x2_to_f16x2(float lo, float hi) {
  dev::u32 d;
  asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(d) : "f"(hi), "f"(lo));
  return d;
}
__device__ __forceinline__ dev::u32 f32x2_to_bf16x2(float lo, float hi) {
  dev::u32 d;
  asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(d) : "f"(hi), "f"(lo));
  return d;
}

// f32 -> s32, round half to even; NaN -> 0, out of range saturates (PTX float-to-int
// conversions clamp to the destination range).
__device__ __forceinline__ dev::i32 f32_to_s32_rni(float x) {
  dev::i32 d;
  asm("cvt.rni.s32.f32 %0, %1;" : "=r"(d) : "f"(x));
  return d;
}

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
// Two f32 -> two fp8 with satfinite (sm_89+). NOTE: cvt packs its first source operand into
// the upper byte, so `lo` goes last.
__device__ __forceinline__ dev::u16 f32x2_to_e4m3x2(float lo, float hi) {
  dev::u16 d;
  asm("cvt.rn.satfinite.e4m3x2.f32 %0, %1, %2;" : "=h"(d) : "f"(hi), "f"(lo));
  return d;
}
__device__ __forceinline__ dev::u16 f32x2_to_e5m2x2(float lo, float hi) {
  dev::u16 d;
  asm("cvt.rn.satfinite.e5m2x2.f32 %0, %1, %2;" : "=h"(d) : "f"(hi), "f"(lo));
  return d;
}
// Two e4m3 codes (low byte first) -> two exact f16 values, NaN code included (sm_89+).
__device__ __forceinline__ dev::u32 e4m3x2_to_f16x2(dev::u16 codes) {
  dev::u32 d;
  asm("cvt.rn.f16x2.e4m3x2 %0, %1;" : "=r"(d) : "h"(codes));
  return d;
}
#define QJIT_HAS_CVT_FP8 1
#else
#define QJIT_HAS_CVT_FP8 0
#endif

__device__ __forceinline__ float f32_from_bits(dev::u32 b) { return __uint_as_float(b); }

}  // namespace qjit::ptx
