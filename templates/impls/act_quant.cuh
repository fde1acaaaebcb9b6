#pragma once
// Activation quantization: rows of f32/f16/bf16 [M, K] -> int8 or fp8 [M, K] + fp32 scales.
//   act_quant_per_token<Config>  dynamic, one scale per row (scales [M])
//   act_quant_static<Config>     static per-tensor scale given by the caller
// Numerics: DESIGN.md section 5; host generator: jit/impls/act_quant.cpp.

#include "ptx/arith.cuh"
#include "ptx/warp.cuh"
#include "qjit/quantize.cuh"
#include "qjit/types.cuh"

namespace qjit::kernels {

// Config fields the kernels read (the generated struct defines them):
//   kIn       dev::DType  activation element type (f32, f16, bf16)
//   kOut      dev::DType  quantized type (int8, fp8 e4m3, fp8 e5m2)
//   kThreads  int         threads per block (a multiple of 32, at most 1024)
// NOTE: the config never changes results, only speed.
template <typename Config>
struct ActQuantTraits {
  static constexpr dev::DType kIn = Config::kIn;
  static constexpr dev::DType kOut = Config::kOut;
  static constexpr int kThreads = Config::kThreads;
  static_assert(kIn == dev::DType::kF32 || kIn == dev::DType::kF16 || kIn == dev::DType::kBF16,
                "act_quant: kIn must be f32, f16 or bf16");
  static_assert(kOut == dev::DType::kI8 || dev::kIsFp8<kOut>, "act_quant: kOut must be int8 or fp8");
  static_assert(kThreads % 32 == 0 && kThreads >= 32 && kThreads <= 1024,
                "act_quant: kThreads must be a multiple of 32 in [32, 1024]");
  using In = dev::storage_t<kIn>;
  using Out = dev::storage_t<kOut>;
};

// NaN-propagating max over the block; every thread gets the result.
template <int kThreads>
__device__ __forceinline__ float block_amax(float v, float* smem_warps) {
  for (int offset = 16; offset > 0; offset >>= 1) v = ptx::max_nan(v, ptx::shfl_xor(v, offset));
  const int warp = threadIdx.x / 32;
  if (threadIdx.x % 32 == 0) smem_warps[warp] = v;
  ptx::bar_sync();
  float r = smem_warps[0];
  for (int w = 1; w < kThreads / 32; ++w) r = ptx::max_nan(r, smem_warps[w]);
  return r;
}

// One block per row (grid-strided over rows). Reads the row twice: amax, then quantize.
template <typename Config>
__global__ void __launch_bounds__(Config::kThreads)
act_quant_per_token(const typename ActQuantTraits<Config>::In* __restrict__ x, dev::i64 x_row_stride,
                    typename ActQuantTraits<Config>::Out* __restrict__ q, dev::i64 q_row_stride,
                    float* __restrict__ scales, int m, int k) {
  using T = ActQuantTraits<Config>;
  __shared__ float smem_warps[T::kThreads / 32];
  for (int row = blockIdx.x; row < m; row += gridDim.x) {
    const typename T::In* xr = x + row * x_row_stride;
    typename T::Out* qr = q + row * q_row_stride;
    float amax = 0.0f;
    for (int i = threadIdx.x; i < k; i += T::kThreads) {
      amax = ptx::max_nan(amax, ptx::abs_f32(dev::load_as_f32<T::kIn>(xr, i)));
    }
    amax = block_amax<T::kThreads>(amax, smem_warps);
    const dev::GroupScale g = dev::dynamic_scale<T::kOut>(amax);
    for (int i = threadIdx.x; i < k; i += T::kThreads) {
      const float v = dev::load_as_f32<T::kIn>(xr, i);
      qr[i] = g.finite ? dev::quantize<T::kOut>(v, g.inv) : typename T::Out(0);
    }
    if (threadIdx.x == 0) scales[row] = g.scale;
    ptx::bar_sync();  // smem_warps is reused by the next row
  }
}

// Static per-tensor scale: element-wise, grid-strided over the whole [M, K] range.
template <typename Config>
__global__ void __launch_bounds__(Config::kThreads)
act_quant_static(const typename ActQuantTraits<Config>::In* __restrict__ x, dev::i64 x_row_stride,
                 typename ActQuantTraits<Config>::Out* __restrict__ q, dev::i64 q_row_stride,
                 const float* __restrict__ scale, int m, int k) {
  using T = ActQuantTraits<Config>;
  const float inv = dev::static_inverse(*scale);
  const dev::i64 total = static_cast<dev::i64>(m) * k;
  const dev::i64 stride = static_cast<dev::i64>(gridDim.x) * T::kThreads;
  for (dev::i64 idx = blockIdx.x * static_cast<dev::i64>(T::kThreads) + threadIdx.x; idx < total; idx += stride) {
    const dev::i64 row = idx / k, col = idx % k;
    q[row * q_row_stride + col] = dev::quantize<T::kOut>(dev::load_as_f32<T::kIn>(x + row * x_row_stride, col), inv);
  }
}

}  // namespace qjit::kernels
