#pragma once
// Scaled-dot-product attention without masks, flash-attention style: o = softmax(q k^T *
// scale) v per (batch b, head h), with q [B, Sq, H*Dh], k and v [B, Skv, H*Dh] (head h =
// columns [h*Dh, (h+1)*Dh), the last dimension contiguous), o [B, Sq, H*Dh] of kOut.
// One CTA per (block of queries, head, batch); the keys are walked in tiles staged through
// shared memory, with the online softmax (running max m and sum l, the accumulator rescaled
// by 2^(m_old - m_new) when the max grows) and fp32 accumulation. Logits are taken in base 2:
// the host passes scale * log2(e), so p = ex2.approx(s - m).
//   attention_simt: CUDA cores, any input dtype (f32 inputs take this path). A warp owns one
//                   query row; lane j scores key j of a 32-key tile, then every lane adds
//                   p_j v_j into the head dims it owns (d = lane, lane + 32, ...).
// NOTE: not bit-identical to the reference (runtime/ops/attention_reference.hpp): ex2.approx,
// fma and the tiled (online) order of the sums; the tests bound the difference by NMSE.
// Host generator: jit/impls/attention.cpp.

#include "ptx/arith.cuh"
#include "ptx/cvt.cuh"
#include "ptx/ex2_ftz.cuh"
#include "ptx/warp.cuh"
#include "qjit/quantize.cuh"
#include "qjit/types.cuh"

namespace qjit::kernels {

// Fields the kernels read (the generated struct defines them):
//   kIn       dev::DType  q, k, v element type (f32, f16, bf16)
//   kOut      dev::DType  o's type (f32, f16, bf16)
//   kHeadDim  int         Dh: a multiple of 8 in [8, 256]
//   kWarps    int         warps per CTA: query rows per CTA (simt)                    [config]
// NOTE: kWarps never changes results: every query row is computed by one warp, whose order
// of operations depends only on Dh and the key tile (fixed per Dh below).
template <typename Config>
struct AttentionTraits {
  static constexpr dev::DType kIn = Config::kIn;
  static constexpr dev::DType kOut = Config::kOut;
  static constexpr int kHeadDim = Config::kHeadDim;
  static constexpr int kWarps = Config::kWarps;
  static constexpr int kThreads = kWarps * 32;
  static_assert(kIn == dev::DType::kF32 || kIn == dev::DType::kF16 || kIn == dev::DType::kBF16,
                "attention: kIn must be f32, f16 or bf16");
  static_assert(kOut == dev::DType::kF32 || kOut == dev::DType::kF16 || kOut == dev::DType::kBF16,
                "attention: kOut must be f32, f16 or bf16");
  static_assert(kHeadDim % 8 == 0 && kHeadDim >= 8 && kHeadDim <= 256,
                "attention: kHeadDim must be a multiple of 8 in [8, 256]");
  static_assert(kWarps >= 1 && kWarps <= 8, "attention: kWarps must be in [1, 8] (shared memory)");
  using In = dev::storage_t<kIn>;
};

template <dev::DType kOut>
__device__ __forceinline__ void store_out(void* o, dev::i64 i, float v) {
  if constexpr (kOut == dev::DType::kF32) static_cast<float*>(o)[i] = v;
  else if constexpr (kOut == dev::DType::kF16) static_cast<dev::u16*>(o)[i] = ptx::f32_to_f16(v);
  else static_cast<dev::u16*>(o)[i] = ptx::f32_to_bf16(v);
}

__device__ __forceinline__ float warp_max_nan(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v = ptx::max_nan(v, ptx::shfl_xor(v, offset));
  return v;
}

__device__ __forceinline__ float warp_sum(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v = ptx::add_rn(v, ptx::shfl_xor(v, offset));
  return v;
}

// Grid (ceil(sq / kWarps), heads, batch), kThreads threads. Strides in elements; the head's
// columns start at h * kHeadDim of each row. scale_log2 = softmax scale * log2(e).
template <typename Config>
__global__ void __launch_bounds__(AttentionTraits<Config>::kThreads)
attention_simt(const typename AttentionTraits<Config>::In* __restrict__ q, dev::i64 q_batch_stride,
               dev::i64 q_row_stride, const typename AttentionTraits<Config>::In* __restrict__ k,
               dev::i64 k_batch_stride, dev::i64 k_row_stride,
               const typename AttentionTraits<Config>::In* __restrict__ v, dev::i64 v_batch_stride,
               dev::i64 v_row_stride, void* __restrict__ o, dev::i64 o_batch_stride, dev::i64 o_row_stride,
               int sq, int skv, float scale_log2) {
  using T = AttentionTraits<Config>;
  constexpr int kD = T::kHeadDim;
  // 32 keys per tile (one per lane) up to Dh 128; 16 above, to keep the tiles in 48 KB.
  constexpr int kTile = kD <= 128 ? 32 : 16;
  constexpr int kPerLane = (kD + 31) / 32;  // head dims each lane accumulates
  // NOTE: K rows padded to an odd length, so lane j reading key j's element d hits bank
  // (j (kD + 1) + d) mod 32: 32 distinct banks. V rows are read along d by the lanes: dense.
  __shared__ float ks[kTile][kD + 1];                  // (key, dim) of this tile
  __shared__ float vs[kTile][kD];                      // (key, dim)
  __shared__ float qs[T::kWarps][kD];                  // each warp's query row
  __shared__ float ps[T::kWarps][kTile];               // each warp's softmax weights of the tile
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int b = blockIdx.z, h = blockIdx.y;
  const int row = blockIdx.x * T::kWarps + warp;
  // NOTE: `active` is warp-uniform; inactive warps (rows past sq) still join every barrier.
  const bool active = row < sq;
  const dev::i64 col0 = static_cast<dev::i64>(h) * kD;
  if (active) {
    const typename T::In* qr = q + b * q_batch_stride + row * q_row_stride + col0;
    for (int d = lane; d < kD; d += 32) qs[warp][d] = dev::load_as_f32<T::kIn>(qr, d);
  }
  const typename T::In* kb = k + b * k_batch_stride + col0;
  const typename T::In* vb = v + b * v_batch_stride + col0;
  float m = -__int_as_float(0x7f800000), l = 0.0f;  // running max (base 2) and sum
  float acc[kPerLane];                               // o's dims lane + 32 c, unnormalized
  for (int c = 0; c < kPerLane; ++c) acc[c] = 0.0f;
  for (int t0 = 0; t0 < skv; t0 += kTile) {
    const int valid = min(kTile, skv - t0);
    __syncthreads();  // the previous tile is consumed (the first time: qs is written)
    // Keys past skv are zeros, so their (masked) weight 0 times a finite value adds nothing.
    for (int e = threadIdx.x; e < kTile * kD; e += T::kThreads) {
      const int j = e / kD, d = e % kD;
      const bool in = j < valid;
      const dev::i64 key = t0 + j;
      ks[j][d] = in ? dev::load_as_f32<T::kIn>(kb, key * k_row_stride + d) : 0.0f;
      vs[j][d] = in ? dev::load_as_f32<T::kIn>(vb, key * v_row_stride + d) : 0.0f;
    }
    __syncthreads();
    if (!active) continue;
    float s = -__int_as_float(0x7f800000);  // masked keys: weight 2^-inf = 0
    if (lane < valid) {
      float dot = 0.0f;
      for (int d = 0; d < kD; ++d) dot = ptx::fma_rn(qs[warp][d], ks[lane][d], dot);
      s = ptx::mul_rn(dot, scale_log2);
    }
    // NOTE: NaN-propagating max: a NaN logit makes the row NaN, as in the reference.
    const float m_new = ptx::max_nan(m, warp_max_nan(s));
    const float alpha = ptx::ex2_approx_ftz(ptx::add_rn(m, -m_new));  // first tile: 2^-inf = 0
    const float p = ptx::ex2_approx_ftz(ptx::add_rn(s, -m_new));
    l = ptx::fma_rn(l, alpha, warp_sum(p));
    m = m_new;
    ps[warp][lane] = p;
    __syncwarp();
    for (int c = 0; c < kPerLane; ++c) acc[c] = ptx::mul_rn(acc[c], alpha);
    for (int j = 0; j < valid; ++j) {
      const float pj = ps[warp][j];
      for (int c = 0; c < kPerLane; ++c) {
        const int d = lane + 32 * c;
        if (kD % 32 == 0 || d < kD) acc[c] = ptx::fma_rn(pj, vs[j][d], acc[c]);
      }
    }
    __syncwarp();  // ps is read before the next tile overwrites it
  }
  if (!active) return;
  const dev::i64 out_row = b * o_batch_stride + row * o_row_stride + col0;
  for (int c = 0; c < kPerLane; ++c) {
    const int d = lane + 32 * c;
    if (kD % 32 == 0 || d < kD) store_out<T::kOut>(o, out_row + d, ptx::div_rn(acc[c], l));
  }
}

}  // namespace qjit::kernels
