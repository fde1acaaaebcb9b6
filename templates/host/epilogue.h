#pragma once
// The end of DESIGN.md section 5's GEMM epilogue for the host kernels, one element or 16
// lanes at a time: y (already fmaf(acc, s, bias)) through the optional GELU-tanh, NaN made
// the canonical one, rounded to nearest even to the output dtype and stored.

#include "host/types.h"
#include "host/vec512.h"

namespace qjit::host::detail {

inline float gelu_tanh(float y) {
  const float cube = (y * y) * y;
  const float u = 0.7978845608028654f * (y + 0.044715f * cube);
  const float t = tanhf(u);
  return (0.5f * y) * (1.0f + t);
}

template <Activation A, DType Out>
inline void finish_one(void* out, i64 at, float y) {
  if constexpr (A == Activation::kGeluTanh) y = gelu_tanh(y);
  if (is_nan(y)) y = float_of(kCanonicalNaNBits);
  store_from_f32<Out>(out, at, y);
}

#if QJIT_HOST_AVX512
// Lanes of `mask` of y to out[at..at+16).
template <Activation A, DType Out>
inline void finish16(void* out, i64 at, __m512 y, __mmask16 mask) {
  if constexpr (A == Activation::kGeluTanh) {
    // gelu_tanh's operations in its order, with tanh16 for tanhf (an NMSE-bounded difference,
    // as DESIGN.md section 5 allows with an activation).
    const __m512 cube = _mm512_mul_ps(_mm512_mul_ps(y, y), y);
    const __m512 u = _mm512_mul_ps(_mm512_set1_ps(0.7978845608028654f),
                                   _mm512_add_ps(y, _mm512_mul_ps(_mm512_set1_ps(0.044715f), cube)));
    const __m512 t = vec512::tanh16(u);
    y = _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), y), _mm512_add_ps(_mm512_set1_ps(1.0f), t));
  }
  const __mmask16 nan = _mm512_cmp_ps_mask(y, y, _CMP_UNORD_Q);
  y = _mm512_mask_mov_ps(y, nan, _mm512_castsi512_ps(_mm512_set1_epi32(static_cast<int>(kCanonicalNaNBits))));
  if constexpr (Out == DType::kF32) {
    _mm512_mask_storeu_ps(static_cast<float*>(out) + at, mask, y);
  } else if constexpr (Out == DType::kF16) {
    _mm256_mask_storeu_epi16(static_cast<u16*>(out) + at, mask,
                             _mm512_cvtps_ph(y, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  } else {
    static_assert(Out == DType::kBF16, "the output is f32, f16 or bf16");
    const __m512i b = _mm512_castps_si512(y);
    __m512i r = _mm512_add_epi32(b, _mm512_add_epi32(_mm512_set1_epi32(0x7fff),
                                                     _mm512_and_si512(_mm512_srli_epi32(b, 16), _mm512_set1_epi32(1))));
    r = _mm512_srli_epi32(r, 16);
    // NOTE: the only NaN here is the canonical one, which rounds to 0x7fff.
    r = _mm512_mask_mov_epi32(r, nan, _mm512_set1_epi32(0x7fff));
    _mm256_mask_storeu_epi16(static_cast<u16*>(out) + at, mask, _mm512_cvtepi32_epi16(r));
  }
}
#endif

}  // namespace qjit::host::detail
