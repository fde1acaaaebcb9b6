#pragma once
// AVX-512 pieces of the host kernels (a program compiled for Isa::kAvx512Vnni): loads of
// f32 / f16 / bf16 as f32 lanes, the NaN-propagating row amax and the int8 and fp8
// quantization of a row, lane for lane the scalar code of host/act_quant.h and host/types.h
// (IEEE multiply, round to nearest even, int8 clamped to ±127 with NaN to 0, fp8 saturated
// with NaN kept). Empty in a program for another ISA.

#include "host/types.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512VNNI__)
#define QJIT_HOST_AVX512 1
#include <immintrin.h>

namespace qjit::host::vec512 {

// 16 elements from `p + i` as f32 (lanes beyond `mask` are 0).
template <DType T>
inline __m512 load16(const void* p, i64 i, __mmask16 mask) {
  if constexpr (T == DType::kF32) {
    return _mm512_maskz_loadu_ps(mask, static_cast<const float*>(p) + i);
  } else {
    const __m256i h = _mm256_maskz_loadu_epi16(mask, static_cast<const u16*>(p) + i);
    if constexpr (T == DType::kBF16) {
      return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    } else {
      static_assert(T == DType::kF16, "a float operand is f32, f16 or bf16");
      return _mm512_cvtph_ps(h);  // exact, subnormals included
    }
  }
}

inline __mmask16 tail_mask(i64 remaining) {
  return remaining >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << remaining) - 1u);
}

// max |x| over k elements; NaN when any is NaN.
template <DType T>
inline float row_amax(const void* x, i32 k) {
  const __m512 abs_mask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
  __m512 m = _mm512_setzero_ps();
  __mmask16 nan = 0;
  for (i32 c = 0; c < k; c += 16) {
    const __m512 v = load16<T>(x, c, tail_mask(k - c));
    nan |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    m = _mm512_max_ps(m, _mm512_and_ps(v, abs_mask));
  }
  if (nan) return float_of(0x7fc00000u);
  return _mm512_reduce_max_ps(m);
}

// q[c] = clamp(rint(x[c] * inv), -127, 127), NaN -> 0, for c < k; returns Σ q.
template <DType T>
inline i32 quantize_row(const void* x, i32 k, float inv, i8* q) {
  const __m512 vinv = _mm512_set1_ps(inv);
  const __m512 lo = _mm512_set1_ps(-127.0f), hi = _mm512_set1_ps(127.0f);
  __m512i sum = _mm512_setzero_si512();
  for (i32 c = 0; c < k; c += 16) {
    const __mmask16 mask = tail_mask(k - c);
    const __m512 y = _mm512_mul_ps(load16<T>(x, c, mask), vinv);
    const __mmask16 nan = _mm512_cmp_ps_mask(y, y, _CMP_UNORD_Q);
    __m512 r = _mm512_roundscale_ps(y, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    r = _mm512_min_ps(_mm512_max_ps(r, lo), hi);
    const __m512i v = _mm512_maskz_cvtps_epi32(static_cast<__mmask16>(~nan), r);
    sum = _mm512_add_epi32(sum, v);
    _mm_mask_storeu_epi8(q + c, mask, _mm512_cvtepi32_epi8(v));
  }
  return _mm512_reduce_add_epi32(sum);
}

// fp8_round<Q> (host/types.h) on 16 lanes.
template <DType Q>
inline __m512 fp8_round16(__m512 x) {
  constexpr int kShift = 23 - kFp8Mantissa<Q>;
  constexpr float kUp = static_cast<float>(1u << (kFp8Mantissa<Q> - kFp8MinExp<Q>));
  const __m512i b = _mm512_castps_si512(x);
  const __m512i a = _mm512_and_si512(b, _mm512_set1_epi32(0x7fffffff));
  const __m512i half = _mm512_set1_epi32(static_cast<int>((1u << (kShift - 1)) - 1u));
  const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(a, kShift), _mm512_set1_epi32(1));
  const __m512i normal = _mm512_and_si512(_mm512_add_epi32(_mm512_add_epi32(a, half), odd),
                                          _mm512_set1_epi32(static_cast<int>(~((1u << kShift) - 1u))));
  const __m512 sub = _mm512_mul_ps(
      _mm512_roundscale_ps(_mm512_mul_ps(_mm512_castsi512_ps(a), _mm512_set1_ps(kUp)),
                           _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC),
      _mm512_set1_ps(1.0f / kUp));
  const __mmask16 is_sub =
      _mm512_cmplt_epu32_mask(a, _mm512_set1_epi32(static_cast<int>(static_cast<u32>(127 + kFp8MinExp<Q>) << 23)));
  __m512 r = _mm512_mask_mov_ps(_mm512_castsi512_ps(normal), is_sub, sub);
  r = _mm512_min_ps(r, _mm512_set1_ps(kFp8Max<Q>));
  r = _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(r), _mm512_and_si512(b, _mm512_set1_epi32(static_cast<int>(0x80000000u)))));
  return _mm512_mask_mov_ps(r, _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), x);  // NaN kept
}

// q[c] = the bf16 bits of fp8_round<Q>(x[c] * inv), for c < k.
template <DType T, DType Q>
inline void quantize_fp8_row(const void* x, i32 k, float inv, u16* q) {
  const __m512 vinv = _mm512_set1_ps(inv);
  for (i32 c = 0; c < k; c += 16) {
    const __mmask16 mask = tail_mask(k - c);
    const __m512 r = fp8_round16<Q>(_mm512_mul_ps(load16<T>(x, c, mask), vinv));
    _mm256_mask_storeu_epi16(q + c, mask, _mm512_cvtepi32_epi16(_mm512_srli_epi32(_mm512_castps_si512(r), 16)));
  }
}

// e^x over 16 lanes: Cody-Waite reduction by ln 2, a degree-7 polynomial, scalef (a few ulp;
// x below -104 gives 0, NaN stays NaN, large x overflows to inf).
inline __m512 exp16(__m512 x) {
  x = _mm512_max_ps(_mm512_set1_ps(-104.0f), x);  // NOTE: x NaN stays NaN (max returns its second operand)
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.4426950408889634f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187e-06f), r);
  __m512 p = _mm512_set1_ps(1.0f / 5040.0f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);
}

// tanh(u) over 16 lanes as sign(u) (1 - 2 / (e^{2|u|} + 1)), |u| clamped to 20 (tanh is 1 in
// f32 from 9.1 on) so that infinities give ±1; NaN stays NaN. Absolute error: e^{2|u|}'s few
// ulp scaled by 2e / (e + 1)^2 <= 1/2, plus the division's and subtraction's roundings:
// below 2^-21 (the bound tests/quant_ops/host_linear_test.cpp checks through GELU).
inline __m512 tanh16(__m512 u) {
  const __m512 a = _mm512_min_ps(_mm512_set1_ps(20.0f), _mm512_abs_ps(u));  // NOTE: NaN stays (second operand)
  const __m512 one = _mm512_set1_ps(1.0f);
  const __m512 e = exp16(_mm512_add_ps(a, a));
  const __m512 t = _mm512_sub_ps(one, _mm512_div_ps(_mm512_set1_ps(2.0f), _mm512_add_ps(e, one)));
  const __m512i sign = _mm512_and_si512(_mm512_castps_si512(u), _mm512_set1_epi32(static_cast<int>(0x80000000u)));
  return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(t), sign));
}

// acc += a · b over 16 lanes of bf16 pairs: vdpbf16ps where the target has AVX-512 BF16,
// else the pairs widened to f32 and two FMAs (the products exact either way).
inline __m512 dot_bf16_pairs(__m512 acc, __m512i a, __m512i b) {
#if defined(__AVX512BF16__)
  return _mm512_dpbf16_ps(acc, (__m512bh)a, (__m512bh)b);
#else
  const __m512i hi = _mm512_set1_epi32(static_cast<int>(0xffff0000u));
  acc = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_slli_epi32(a, 16)), _mm512_castsi512_ps(_mm512_slli_epi32(b, 16)), acc);
  return _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_and_si512(a, hi)), _mm512_castsi512_ps(_mm512_and_si512(b, hi)), acc);
#endif
}

}  // namespace qjit::host::vec512

#else
#define QJIT_HOST_AVX512 0
#endif
