#pragma once
// Activation quantization: rows of f32/f16/bf16 [M, K] -> int8 or fp8 [M, K] + fp32 scales.
//   act_quant_per_token<Config>     dynamic, one scale per row (scales [M])
//   act_quant_static<Config>        static per-tensor scale given by the caller
//   act_quant_tensor_amax<Config>   dynamic per-tensor, pass 1: global amax into a workspace word
//   act_quant_tensor_apply<Config>  dynamic per-tensor, pass 2: quantize with it (scales [1])
//   act_quant_group128<Config>      dynamic, one scale per 1x128 group along K (scales [M, ceil(K/128)],
//                                   or K-major [ceil(K/128), group_scales_ld(M)] with kScalesKMajor)
// Numerics: DESIGN.md section 5; host generator: jit/impls/act_quant.cpp.

#include "ptx/arith.cuh"
#include "ptx/atomic.cuh"
#include "ptx/warp.cuh"
#include "qjit/quantize.cuh"
#include "qjit/types.cuh"

namespace qjit::kernels {

// Which scales a program computes (a problem parameter, like kIn and kOut); the host's
// qjit::ActScale (common/qtype.hpp) mirrors it by name.
enum class ActQuantMode : int { kDynamicPerToken = 0, kStaticPerTensor, kDynamicPerTensor, kDynamicGroup128 };

// Fields the kernels read (the generated struct defines them):
//   kMode     ActQuantMode  the entry points that get a body (see "entry points" below)
//   kIn       dev::DType    activation element type (f32, f16, bf16)
//   kOut      dev::DType    quantized type (int8, fp8 e4m3, fp8 e5m2)
//   kScalesKMajor bool      group128 only: write the scales K-major, [ceil(K/128),
//                           group_scales_ld(M)], the layout the block-fp8 GEMM reads
//                           (impls/qgemm.cuh); else (and for the other modes) logical
//   kThreads  int           threads per block (a multiple of 32, at most 1024)      [config]
//   kVec      int           elements per vector access (power of two, at most 16     [config]
//                           bytes of input); the caller guarantees x's base, x's row
//                           stride and K are multiples of it. Read by the per-tensor and
//                           group128 kernels only.
// NOTE: the config fields never change results, only speed.
template <typename Config>
struct ActQuantTraits {
  static constexpr ActQuantMode kMode = Config::kMode;
  static constexpr dev::DType kIn = Config::kIn;
  static constexpr dev::DType kOut = Config::kOut;
  static constexpr bool kScalesKMajor = Config::kScalesKMajor;
  static constexpr int kThreads = Config::kThreads;
  static constexpr int kVec = Config::kVec;
  static_assert(kIn == dev::DType::kF32 || kIn == dev::DType::kF16 || kIn == dev::DType::kBF16,
                "act_quant: kIn must be f32, f16 or bf16");
  static_assert(kOut == dev::DType::kI8 || dev::kIsFp8<kOut>, "act_quant: kOut must be int8 or fp8");
  static_assert(kThreads % 32 == 0 && kThreads >= 32 && kThreads <= 1024,
                "act_quant: kThreads must be a multiple of 32 in [32, 1024]");
  static_assert(kVec >= 1 && (kVec & (kVec - 1)) == 0 && kVec * dev::kSizeOf<kIn> <= 16,
                "act_quant: kVec must be a power of two with at most 16 bytes of input");
  static_assert(!kScalesKMajor || kMode == ActQuantMode::kDynamicGroup128,
                "act_quant: K-major scales are group128's");
  using In = dev::storage_t<kIn>;
  using Out = dev::storage_t<kOut>;
};

// kN elements x[i, i + kN) as f32 with one vector load (i a multiple of kN; x aligned to it).
template <dev::DType kIn, int kN>
__device__ __forceinline__ void load_vec_f32(const dev::storage_t<kIn>* x, dev::i64 i, float (&v)[kN]) {
  const auto raw = *reinterpret_cast<const dev::Vec<dev::storage_t<kIn>, kN>*>(x + i);
#pragma unroll
  for (int j = 0; j < kN; ++j) v[j] = dev::load_as_f32<kIn>(raw.v, j);
}

// Quantizes kN values with g and stores them at q[i, i + kN) with one vector store.
template <dev::DType kOut, int kN>
__device__ __forceinline__ void store_vec_q(dev::storage_t<kOut>* q, dev::i64 i, const float (&v)[kN],
                                            const dev::GroupScale& g) {
  dev::Vec<dev::storage_t<kOut>, kN> raw;
#pragma unroll
  for (int j = 0; j < kN; ++j) raw.v[j] = g.finite ? dev::quantize<kOut>(v[j], g.inv) : dev::storage_t<kOut>(0);
  *reinterpret_cast<dev::Vec<dev::storage_t<kOut>, kN>*>(q + i) = raw;
}

// Chunk c of a row: elements [c * kVec, c * kVec + kVec), one vector load when the chunk
// lies inside the row, else element by element; elements past k read as 0, which no amax
// notices (|x| >= 0) and which the stores below skip.
template <typename T>
__device__ __forceinline__ void load_chunk(const typename T::In* xr, int c, int k, float (&v)[T::kVec]) {
  const int c0 = c * T::kVec;
  if (c0 + T::kVec <= k) {
    load_vec_f32<T::kIn, T::kVec>(xr, c0, v);
  } else {
#pragma unroll
    for (int j = 0; j < T::kVec; ++j) v[j] = c0 + j < k ? dev::load_as_f32<T::kIn>(xr, c0 + j) : 0.0f;
  }
}

template <typename T>
__device__ __forceinline__ void store_chunk(typename T::Out* qr, int c, int k, const float (&v)[T::kVec],
                                            const dev::GroupScale& g) {
  const int c0 = c * T::kVec;
  if (c0 + T::kVec <= k) {
    store_vec_q<T::kOut, T::kVec>(qr, c0, v, g);
  } else {
#pragma unroll
    for (int j = 0; j < T::kVec; ++j) {
      if (c0 + j < k) qr[c0 + j] = g.finite ? dev::quantize<T::kOut>(v[j], g.inv) : typename T::Out(0);
    }
  }
}

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
__device__ __forceinline__ void per_token_body(const typename ActQuantTraits<Config>::In* __restrict__ x,
                                               dev::i64 x_row_stride,
                                               typename ActQuantTraits<Config>::Out* __restrict__ q,
                                               dev::i64 q_row_stride, float* __restrict__ scales, int m,
                                               int k) {
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
__device__ __forceinline__ void static_body(const typename ActQuantTraits<Config>::In* __restrict__ x,
                                            dev::i64 x_row_stride,
                                            typename ActQuantTraits<Config>::Out* __restrict__ q,
                                            dev::i64 q_row_stride, const float* __restrict__ scale, int m,
                                            int k) {
  using T = ActQuantTraits<Config>;
  const float inv = dev::static_inverse(*scale);
  const dev::i64 total = static_cast<dev::i64>(m) * k;
  const dev::i64 stride = static_cast<dev::i64>(gridDim.x) * T::kThreads;
  for (dev::i64 idx = blockIdx.x * static_cast<dev::i64>(T::kThreads) + threadIdx.x; idx < total; idx += stride) {
    const dev::i64 row = idx / k, col = idx % k;
    q[row * q_row_stride + col] = dev::quantize<T::kOut>(dev::load_as_f32<T::kIn>(x + row * x_row_stride, col), inv);
  }
}

// Dynamic per-tensor, pass 1: the NaN-propagating max of |x| over the whole tensor, combined
// across blocks by an unsigned max on the float's bits into *amax_bits, which the caller
// zeroed. Rows are grid-strided over blockIdx.y, a row's kVec-chunks over blockIdx.x.
// NOTE: non-negative floats order like their bit patterns (+0 < subnormals < normals <
// +Inf = 0x7F800000), and every NaN is written as 0x7FC00000, above +Inf: the combined word
// is NaN if any element was NaN, else +Inf if any was infinite, else the exact amax.
template <typename Config>
__device__ __forceinline__ void tensor_amax_body(const typename ActQuantTraits<Config>::In* __restrict__ x,
                                                 dev::i64 x_row_stride, dev::u32* __restrict__ amax_bits,
                                                 int m, int k) {
  using T = ActQuantTraits<Config>;
  __shared__ float smem_warps[T::kThreads / 32];
  const int chunks = (k + T::kVec - 1) / T::kVec;
  float amax = 0.0f;
  for (int row = blockIdx.y; row < m; row += gridDim.y) {
    const typename T::In* xr = x + row * x_row_stride;
    for (int c = blockIdx.x * T::kThreads + threadIdx.x; c < chunks; c += gridDim.x * T::kThreads) {
      float v[T::kVec];
      load_chunk<T>(xr, c, k, v);
#pragma unroll
      for (int j = 0; j < T::kVec; ++j) amax = ptx::max_nan(amax, ptx::abs_f32(v[j]));
    }
  }
  amax = block_amax<T::kThreads>(amax, smem_warps);
  if (threadIdx.x == 0) ptx::red_max_u32(amax_bits, amax != amax ? 0x7fc00000u : __float_as_uint(amax));
}

// Dynamic per-tensor, pass 2: one scale from *amax_bits (pass 1's result) for every element;
// writes it to scale[0]. Same grid shape as pass 1.
template <typename Config>
__device__ __forceinline__ void tensor_apply_body(const typename ActQuantTraits<Config>::In* __restrict__ x,
                                                  dev::i64 x_row_stride,
                                                  typename ActQuantTraits<Config>::Out* __restrict__ q,
                                                  dev::i64 q_row_stride,
                                                  const dev::u32* __restrict__ amax_bits,
                                                  float* __restrict__ scale, int m, int k) {
  using T = ActQuantTraits<Config>;
  // One read of the word per block, not one per warp (a 4-byte read costs a whole sector).
  __shared__ dev::u32 amax_shared;
  if (threadIdx.x == 0) amax_shared = *amax_bits;
  ptx::bar_sync();
  const dev::GroupScale g = dev::dynamic_scale<T::kOut>(__uint_as_float(amax_shared));
  if (blockIdx.x == 0 && blockIdx.y == 0 && threadIdx.x == 0) *scale = g.scale;
  const int chunks = (k + T::kVec - 1) / T::kVec;
  for (int row = blockIdx.y; row < m; row += gridDim.y) {
    const typename T::In* xr = x + row * x_row_stride;
    typename T::Out* qr = q + row * q_row_stride;
    for (int c = blockIdx.x * T::kThreads + threadIdx.x; c < chunks; c += gridDim.x * T::kThreads) {
      float v[T::kVec];
      load_chunk<T>(xr, c, k, v);
      store_chunk<T>(qr, c, k, v, g);
    }
  }
}

// The leading dimension of K-major group128 scales: M rounded up to 8 floats (one 32-byte
// sector). NOTE: the same formula as qgemm.cuh's and the host's jit::impls::group_scales_ld.
__device__ __forceinline__ int k_major_scales_ld(int m) { return (m + 7) / 8 * 8; }

// Dynamic group128: one warp per 1x128 group (grid- and warp-strided over all M * ceil(K/128)
// groups, a row's groups adjacent), 4 elements per lane, amax by butterfly shuffles. With
// kVec >= 4 a lane reads 4 adjacent elements in one vector load; otherwise lane l reads
// elements l, l + 32, l + 64, l + 96 (coalesced scalar loads). The last group of a row may
// be partial: its missing elements read as 0 and are not stored.
template <typename Config>
__device__ __forceinline__ void group128_body(const typename ActQuantTraits<Config>::In* __restrict__ x,
                                              dev::i64 x_row_stride,
                                              typename ActQuantTraits<Config>::Out* __restrict__ q,
                                              dev::i64 q_row_stride, float* __restrict__ scales, int m, int k) {
  using T = ActQuantTraits<Config>;
  constexpr int kGroup = 128, kPerLane = kGroup / 32;
  constexpr bool kVector = T::kVec >= kPerLane;  // NOTE: kVec-aligned rows are 4-aligned then
  constexpr int kWarps = T::kThreads / 32;
  const int lane = threadIdx.x % 32;
  const int groups = (k + kGroup - 1) / kGroup;
  const dev::i64 total = static_cast<dev::i64>(m) * groups;
  const dev::i64 step = static_cast<dev::i64>(gridDim.x) * kWarps;
  // NOTE: gi is the same in every lane of a warp, so the loop and the shuffles are warp-uniform.
  for (dev::i64 gi = static_cast<dev::i64>(blockIdx.x) * kWarps + threadIdx.x / 32; gi < total; gi += step) {
    const dev::i64 row = gi / groups;
    const int group = static_cast<int>(gi - row * groups);
    const int c0 = group * kGroup;
    const bool full = c0 + kGroup <= k;
    const typename T::In* xr = x + row * x_row_stride;
    typename T::Out* qr = q + row * q_row_stride;
    float v[kPerLane];
    if (kVector && full) {
      load_vec_f32<T::kIn, kPerLane>(xr, c0 + lane * kPerLane, v);
    } else {
#pragma unroll
      for (int j = 0; j < kPerLane; ++j) {
        const int c = c0 + (kVector ? lane * kPerLane + j : lane + 32 * j);
        v[j] = c < k ? dev::load_as_f32<T::kIn>(xr, c) : 0.0f;
      }
    }
    float amax = 0.0f;
#pragma unroll
    for (int j = 0; j < kPerLane; ++j) amax = ptx::max_nan(amax, ptx::abs_f32(v[j]));
    for (int offset = 16; offset > 0; offset >>= 1) amax = ptx::max_nan(amax, ptx::shfl_xor(amax, offset));
    const dev::GroupScale g = dev::dynamic_scale<T::kOut>(amax);
    if (kVector && full) {
      store_vec_q<T::kOut, kPerLane>(qr, c0 + lane * kPerLane, v, g);
    } else {
#pragma unroll
      for (int j = 0; j < kPerLane; ++j) {
        const int c = c0 + (kVector ? lane * kPerLane + j : lane + 32 * j);
        if (c < k) qr[c] = g.finite ? dev::quantize<T::kOut>(v[j], g.inv) : typename T::Out(0);
      }
    }
    if (lane == 0) {
      if constexpr (T::kScalesKMajor) scales[group * static_cast<dev::i64>(k_major_scales_ld(m)) + row] = g.scale;
      else scales[row * groups + group] = g.scale;
    }
  }
}

// ---- entry points -------------------------------------------------------------------------
// NOTE: every program holds every entry of the family (the JIT instantiates them all), but
// only its mode's have a body: the others compile to nothing, so a program costs what its
// mode needs. The op launches only act_quant_kernel(mode) (and the amax pass) of a spec.
// Every entry takes the same parameters, the fields of jit::impls::ActQuantParams in order
// (jit/impls/act_quant.hpp; the generated source checks them): x [m, k] rows x_row_stride
// elements apart; q [m, k] codes q_row_stride apart; scales: per-token [m], group128
// [m, groups] or K-major, static the given scale, per-tensor the scale the apply pass writes;
// amax_bits: per-tensor, the word the amax pass max-combines into. Unused ones may be null.
// NOTE: inputs an entry only reads are const (ScalesT, AmaxT): with __restrict__, the
// compiler loads them through the non-coherent cache.
#define QJIT_ACT_QUANT_PARAMS(ScalesT, AmaxT)                                                                     \
  const typename ActQuantTraits<Config>::In *__restrict__ x, dev::i64 x_row_stride,                              \
      typename ActQuantTraits<Config>::Out *__restrict__ q, dev::i64 q_row_stride, ScalesT *__restrict__ scales, \
      AmaxT *__restrict__ amax_bits, int m, int k

template <typename Config>
__global__ void __launch_bounds__(Config::kThreads) act_quant_per_token(QJIT_ACT_QUANT_PARAMS(float, dev::u32)) {
  if constexpr (Config::kMode == ActQuantMode::kDynamicPerToken) {
    per_token_body<Config>(x, x_row_stride, q, q_row_stride, scales, m, k);
  }
}

template <typename Config>
__global__ void __launch_bounds__(Config::kThreads) act_quant_static(QJIT_ACT_QUANT_PARAMS(const float, dev::u32)) {
  if constexpr (Config::kMode == ActQuantMode::kStaticPerTensor) {
    static_body<Config>(x, x_row_stride, q, q_row_stride, scales, m, k);
  }
}

template <typename Config>
__global__ void __launch_bounds__(Config::kThreads) act_quant_tensor_amax(QJIT_ACT_QUANT_PARAMS(float, dev::u32)) {
  if constexpr (Config::kMode == ActQuantMode::kDynamicPerTensor) {
    tensor_amax_body<Config>(x, x_row_stride, amax_bits, m, k);
  }
}

template <typename Config>
__global__ void __launch_bounds__(Config::kThreads) act_quant_tensor_apply(QJIT_ACT_QUANT_PARAMS(float, const dev::u32)) {
  if constexpr (Config::kMode == ActQuantMode::kDynamicPerTensor) {
    tensor_apply_body<Config>(x, x_row_stride, q, q_row_stride, amax_bits, scales, m, k);
  }
}

template <typename Config>
__global__ void __launch_bounds__(Config::kThreads) act_quant_group128(QJIT_ACT_QUANT_PARAMS(float, dev::u32)) {
  if constexpr (Config::kMode == ActQuantMode::kDynamicGroup128) {
    group128_body<Config>(x, x_row_stride, q, q_row_stride, scales, m, k);
  }
}

#undef QJIT_ACT_QUANT_PARAMS

}  // namespace qjit::kernels
