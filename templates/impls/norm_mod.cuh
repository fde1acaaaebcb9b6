#pragma once
// Norm + AdaLN modulation, Wan2.1's block input: y = norm(x) * (1 + scale) + shift over rows
// x [M, D] (f32/f16/bf16), with norm LayerNorm (times a weight when affine) or RMSNorm (times a
// weight), weight f32 [D], shift / scale f32 [B, D] (row m takes batch row m / rows_per_batch). Output: y rounded to kOut (f32/f16/bf16), or, fused, that
// rounded y quantized as act_quant quantizes it (dynamic per-token or static per-tensor).
// Numerics (bit-identical to runtime/ops/norm_mod_reference.cpp): one warp per row; lane l
// sums elements l, l + 32, ... in order, then lane 0 adds the 32 partial sums 0..31 in order;
// every operation is an explicitly rounded .rn one (no fma, no rsqrt.approx).
// Host generator: jit/impls/norm_mod.cpp.

#include "ptx/arith.cuh"
#include "ptx/cvt.cuh"
#include "ptx/warp.cuh"
#include "qjit/quantize.cuh"
#include "qjit/types.cuh"

namespace qjit::kernels {

// The host's jit::impls::NormKind / NormModQuant mirror these by name.
enum class NormKind : int { kLayerNorm = 0, kRmsNorm };
enum class NormModQuant : int { kNone = 0, kDynamicPerToken, kStaticPerTensor };

// Fields the kernel reads (the generated struct defines them):
//   kNorm     NormKind
//   kAffine   bool          the normalized value is multiplied by w (always for RMSNorm)
//   kQuant    NormModQuant  kNone: write y as kOut; else quantize y (rounded to kOut) to kQ
//   kIn       dev::DType    x's element type (f32, f16, bf16)
//   kOut      dev::DType    y's type (f32, f16, bf16); with kQuant the type y is rounded to
//                           before quantization (the float output the separate path writes)
//   kQ        dev::DType    quantized type (int8, fp8 e4m3/e5m2); ignored with kNone
//   kThreads  int           threads per block, one warp per row                      [config]
// NOTE: kThreads never changes results: the summation order is per warp, fixed.
template <typename Config>
struct NormModTraits {
  static constexpr NormKind kNorm = Config::kNorm;
  static constexpr bool kAffine = Config::kAffine;
  static constexpr NormModQuant kQuant = Config::kQuant;
  static constexpr dev::DType kIn = Config::kIn;
  static constexpr dev::DType kOut = Config::kOut;
  static constexpr dev::DType kQ = Config::kQ;
  static constexpr int kThreads = Config::kThreads;
  static_assert(kNorm == NormKind::kLayerNorm || kAffine, "norm_mod: RMSNorm always has its weight");
  static_assert(kIn == dev::DType::kF32 || kIn == dev::DType::kF16 || kIn == dev::DType::kBF16,
                "norm_mod: kIn must be f32, f16 or bf16");
  static_assert(kOut == dev::DType::kF32 || kOut == dev::DType::kF16 || kOut == dev::DType::kBF16,
                "norm_mod: kOut must be f32, f16 or bf16");
  static_assert(kQuant == NormModQuant::kNone || kQ == dev::DType::kI8 || dev::kIsFp8<kQ>,
                "norm_mod: kQ must be int8 or fp8");
  static_assert(kThreads % 32 == 0 && kThreads >= 32 && kThreads <= 1024,
                "norm_mod: kThreads must be a multiple of 32 in [32, 1024]");
  using In = dev::storage_t<kIn>;
};

__device__ __forceinline__ float sqrt_rn(float a) {
  float d;
  asm("sqrt.rn.f32 %0, %1;" : "=f"(d) : "f"(a));
  return d;
}

// v rounded to kOut and back (exact for f32).
template <dev::DType kOut>
__device__ __forceinline__ float round_to(float v) {
  if constexpr (kOut == dev::DType::kF32) return v;
  else if constexpr (kOut == dev::DType::kF16) return ptx::f16_to_f32(ptx::f32_to_f16(v));
  else return ptx::bf16_to_f32(ptx::f32_to_bf16(v));
}

template <dev::DType kOut>
__device__ __forceinline__ void store_float(void* y, dev::i64 i, float v) {
  if constexpr (kOut == dev::DType::kF32) static_cast<float*>(y)[i] = v;
  else if constexpr (kOut == dev::DType::kF16) static_cast<dev::u16*>(y)[i] = ptx::f32_to_f16(v);
  else static_cast<dev::u16*>(y)[i] = ptx::f32_to_bf16(v);
}

// The fixed-order sum of one value per lane: lane 0 adds lanes 0..31 in order (through
// `partials`, this warp's 32 floats of shared memory); every lane gets it.
__device__ __forceinline__ float warp_sum_ordered(float v, volatile float* partials) {
  const int lane = threadIdx.x % 32;
  partials[lane] = v;
  __syncwarp();
  float s = partials[0];
  for (int l = 1; l < 32; ++l) s = ptx::add_rn(s, partials[l]);
  __syncwarp();
  return s;
}

// y (fp32, before rounding to kOut) of element i of a row, given the row's statistics.
template <typename T>
__device__ __forceinline__ float modulated(float xi, float mean, float rstd, const float* w, const float* shift,
                                           const float* scale, int i) {
  float n;
  if constexpr (T::kNorm == NormKind::kLayerNorm) n = ptx::mul_rn(ptx::add_rn(xi, -mean), rstd);
  else n = ptx::mul_rn(xi, rstd);
  if constexpr (T::kAffine) n = ptx::mul_rn(n, w[i]);
  return ptx::add_rn(ptx::mul_rn(n, ptx::add_rn(1.0f, scale[i])), shift[i]);
}

// x rows [m, d] (row stride x_row_stride); w: the weight [d] (unused without kAffine);
// shift / scale: [m / rows_per_batch, d], row r using batch row r / rows_per_batch;
// out: kNone: y [m, d] of kOut (row stride out_row_stride); else q [m, d] codes of kQ;
// scales: per-token: [m] written; static: [1] read (the given scale).
template <typename Config>
__global__ void __launch_bounds__(Config::kThreads)
norm_mod(const typename NormModTraits<Config>::In* __restrict__ x, dev::i64 x_row_stride,
         const float* __restrict__ w, const float* __restrict__ shift, const float* __restrict__ scale,
         void* __restrict__ out, dev::i64 out_row_stride, float* __restrict__ scales, float eps, int m, int d,
         int rows_per_batch) {
  using T = NormModTraits<Config>;
  constexpr int kWarps = T::kThreads / 32;
  __shared__ float partials[kWarps][32];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const float dn = static_cast<float>(d);
  // NOTE: row is warp-uniform, so every loop and __syncwarp below is too.
  for (int row = blockIdx.x * kWarps + warp; row < m; row += gridDim.x * kWarps) {
    const typename T::In* xr = x + row * x_row_stride;
    const float* sh = shift + static_cast<dev::i64>(row / rows_per_batch) * d;
    const float* sc = scale + static_cast<dev::i64>(row / rows_per_batch) * d;
    float mean = 0.0f, stat;
    if constexpr (T::kNorm == NormKind::kLayerNorm) {
      float s = 0.0f;
      for (int i = lane; i < d; i += 32) s = ptx::add_rn(s, dev::load_as_f32<T::kIn>(xr, i));
      mean = ptx::div_rn(warp_sum_ordered(s, partials[warp]), dn);
      float v = 0.0f;
      for (int i = lane; i < d; i += 32) {
        const float dv = ptx::add_rn(dev::load_as_f32<T::kIn>(xr, i), -mean);
        v = ptx::add_rn(v, ptx::mul_rn(dv, dv));
      }
      stat = ptx::div_rn(warp_sum_ordered(v, partials[warp]), dn);
    } else {
      float v = 0.0f;
      for (int i = lane; i < d; i += 32) {
        const float xi = dev::load_as_f32<T::kIn>(xr, i);
        v = ptx::add_rn(v, ptx::mul_rn(xi, xi));
      }
      stat = ptx::div_rn(warp_sum_ordered(v, partials[warp]), dn);
    }
    const float rstd = ptx::div_rn(1.0f, sqrt_rn(ptx::add_rn(stat, eps)));
    if constexpr (T::kQuant == NormModQuant::kNone) {
      for (int i = lane; i < d; i += 32) {
        const float y = modulated<T>(dev::load_as_f32<T::kIn>(xr, i), mean, rstd, w, sh, sc, i);
        store_float<T::kOut>(out, row * out_row_stride + i, y);
      }
    } else {
      using Q = dev::storage_t<T::kQ>;
      Q* qr = static_cast<Q*>(out) + row * out_row_stride;
      dev::GroupScale g;
      if constexpr (T::kQuant == NormModQuant::kDynamicPerToken) {
        float amax = 0.0f;
        for (int i = lane; i < d; i += 32) {
          const float y = round_to<T::kOut>(modulated<T>(dev::load_as_f32<T::kIn>(xr, i), mean, rstd, w, sh, sc, i));
          amax = ptx::max_nan(amax, ptx::abs_f32(y));
        }
        for (int offset = 16; offset > 0; offset >>= 1) amax = ptx::max_nan(amax, ptx::shfl_xor(amax, offset));
        g = dev::dynamic_scale<T::kQ>(amax);
        if (lane == 0) scales[row] = g.scale;
      } else {
        g = {*scales, dev::static_inverse(*scales), true};
      }
      for (int i = lane; i < d; i += 32) {
        const float y = round_to<T::kOut>(modulated<T>(dev::load_as_f32<T::kIn>(xr, i), mean, rstd, w, sh, sc, i));
        qr[i] = g.finite ? dev::quantize<T::kQ>(y, g.inv) : Q(0);
      }
    }
  }
}

}  // namespace qjit::kernels
