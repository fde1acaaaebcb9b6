#pragma once
// f32 <-> fp8 on the device. Narrowing is round-to-nearest-even with satfinite (finite values
// beyond max and ±Inf give ±max, NaN stays NaN), as cvt.rn.satfinite does. Below sm_89 there
// is no fp8 cvt, so the same rounding is done in integer arithmetic; the two paths agree on
// every input (tested on the sim device against the host reference).

#include "ptx/cvt.cuh"
#include "qjit/types.cuh"

namespace qjit::dev {

// Format parameters: exponent bias, mantissa bits, largest finite encoding (positive).
template <DType T> struct Fp8Format;
template <> struct Fp8Format<DType::kE4M3> {
  static constexpr int kBias = 7, kMan = 3;
  static constexpr u32 kMaxCode = 0x7e, kNanCode = 0x7f;
};
template <> struct Fp8Format<DType::kE5M2> {
  static constexpr int kBias = 15, kMan = 2;
  static constexpr u32 kMaxCode = 0x7b, kNanCode = 0x7f;
};

// Integer RNE narrowing of an f32 bit pattern (the path for archs without fp8 cvt).
template <DType T>
__device__ __forceinline__ u8 f32_to_fp8_soft(float x) {
  using F = Fp8Format<T>;
  const u32 bits = __float_as_uint(x);
  const u32 sign = (bits >> 24) & 0x80u;
  const u32 mag = bits & 0x7fffffffu;
  // NOTE: NaN gives the canonical code 0x7F whatever its sign, as cvt.rn.satfinite does.
  if (mag > 0x7f800000u) return static_cast<u8>(F::kNanCode);
  if (mag == 0x7f800000u) return static_cast<u8>(sign | F::kMaxCode);
  const int exp = static_cast<int>(mag >> 23) - 127;  // unbiased f32 exponent
  const int min_exp = 1 - F::kBias;                   // smallest normal fp8 exponent
  // The fp8 value is m * 2^(e - kMan) for an integer m; choose e (normal or the subnormal
  // range's fixed exponent) and shift the 24-bit f32 significand right by the difference.
  u32 sig = (mag & 0x7fffffu) | (mag >= 0x00800000u ? 0x800000u : 0u);
  const int f32_exp = mag >= 0x00800000u ? exp : -126;
  const int e = f32_exp < min_exp ? min_exp : f32_exp;
  const int shift = 23 - F::kMan + (e - f32_exp);  // >= 23 - kMan
  if (shift >= 32) return static_cast<u8>(sign);  // far below half the smallest subnormal
  const u32 kept = sig >> shift;
  const u32 rest = sig & ((1u << shift) - 1u);
  const u32 half = 1u << (shift - 1);
  u32 m = kept + ((rest > half || (rest == half && (kept & 1u))) ? 1u : 0u);
  // m counts units of 2^(e - kMan); encoding = (e_biased << kMan) + (m - implicit bit), which
  // is (e + kBias - 1) << kMan + m when we let the implicit bit carry into the exponent field.
  u32 code = (static_cast<u32>(e - min_exp) << F::kMan) + m;
  if (code > F::kMaxCode) code = F::kMaxCode;
  return static_cast<u8>(sign | code);
}

template <DType T>
__device__ __forceinline__ u8 f32_to_fp8(float x) {
  static_assert(kIsFp8<T>, "fp8 narrowing needs an fp8 dtype");
#if QJIT_HAS_CVT_FP8
  if constexpr (T == DType::kE4M3) {
    return static_cast<u8>(ptx::f32x2_to_e4m3x2(x, 0.0f) & 0xffu);
  } else {
    return static_cast<u8>(ptx::f32x2_to_e5m2x2(x, 0.0f) & 0xffu);
  }
#else
  return f32_to_fp8_soft<T>(x);
#endif
}

}  // namespace qjit::dev
