#pragma once
// Scaled-dot-product attention without masks, flash-attention style: o = softmax(q k^T *
// scale) v per (batch b, head h), with q [B, Sq, H*Dh], k and v [B, Skv, H*Dh] (head h =
// columns [h*Dh, (h+1)*Dh), the last dimension contiguous), o [B, Sq, H*Dh] of kOut.
// One CTA per (block of queries, head, batch); the keys are walked in tiles staged through
// shared memory, with the online softmax (running max m and sum l, the accumulator rescaled
// by 2^(m_old - m_new) when the max grows) and fp32 accumulation. Logits are taken in base 2:
// the host passes scale * log2(e), so p = ex2.approx(s - m).
//   attention_mma:  tensor cores (kTensorCores: f16 / bf16 inputs, Dh a multiple of 16 up to
//                   128), as FlashAttention-2 does: a warp owns 16 query rows, their Q
//                   fragments in registers; per 64-key tile S = Q K^T by mma.sync m16n8k16
//                   (fp32), the online softmax on the S fragments (row max and sum over the
//                   4 lanes of a quad), P rounded to the input type as the A operand of
//                   O += P V (mma.sync, fp32). K and V tiles are staged by cp.async, row-major
//                   with rows padded by 16 bytes so the fragment loads hit 32 distinct banks;
//                   K's B fragments are 32-bit shared loads, V's come from ldmatrix.trans.
//   attention_simt: CUDA cores, any input dtype (f32 inputs and the head dims the mma path
//                   does not take). A warp owns one query row; lane j scores key j of a
//                   32-key tile, then every lane adds p_j v_j into the head dims it owns
//                   (d = lane, lane + 32, ...).
// A program holds both kernels; only the one kTensorCores selects has a body.
// NOTE: not bit-identical to the reference (runtime/ops/attention_reference.hpp): ex2.approx,
// fma or tensor-core sums, P rounded to 16 bits (mma), and the tiled (online) order of the
// sums; the tests bound the difference by NMSE.
// Host generator: jit/impls/attention.cpp.

#include "ptx/arith.cuh"
#include "ptx/cp_async.cuh"
#include "ptx/cvt.cuh"
#include "ptx/approx.cuh"
#include "ptx/ldmatrix_trans.cuh"
#include "ptx/mma.cuh"
#include "ptx/smem.cuh"
#include "ptx/warp.cuh"
#include "qjit/quantize.cuh"
#include "qjit/types.cuh"

namespace qjit::kernels {

// Fields the kernels read (the generated struct defines them):
//   kIn       dev::DType  q, k, v element type (f32, f16, bf16)
//   kOut      dev::DType  o's type (f32, f16, bf16)
//   kHeadDim  int         Dh: a multiple of 8 in [8, 256]
//   kTensorCores bool     attention_mma (f16 / bf16, Dh % 16 == 0, Dh <= 128), else simt
//   kWarps    int         warps per CTA: query rows per CTA are kWarps (simt), 16 kWarps (mma) [config]
// NOTE: kWarps never changes results: every query row is computed by one warp, whose order
// of operations depends only on Dh and the key tile (fixed per path and Dh below).
template <typename Config>
struct AttentionTraits {
  static constexpr dev::DType kIn = Config::kIn;
  static constexpr dev::DType kOut = Config::kOut;
  static constexpr int kHeadDim = Config::kHeadDim;
  static constexpr bool kTensorCores = Config::kTensorCores;
  static constexpr int kWarps = Config::kWarps;
  static constexpr int kThreads = kWarps * 32;
  static_assert(kIn == dev::DType::kF32 || kIn == dev::DType::kF16 || kIn == dev::DType::kBF16,
                "attention: kIn must be f32, f16 or bf16");
  static_assert(kOut == dev::DType::kF32 || kOut == dev::DType::kF16 || kOut == dev::DType::kBF16,
                "attention: kOut must be f32, f16 or bf16");
  static_assert(kHeadDim % 8 == 0 && kHeadDim >= 8 && kHeadDim <= 256,
                "attention: kHeadDim must be a multiple of 8 in [8, 256]");
  static_assert(kWarps >= 1 && kWarps <= 8, "attention: kWarps must be in [1, 8] (shared memory)");
  static_assert(!kTensorCores || ((kIn == dev::DType::kF16 || kIn == dev::DType::kBF16) && kHeadDim % 16 == 0 &&
                                  kHeadDim <= 128),
                "attention: the tensor-core path takes f16 / bf16 inputs and Dh a multiple of 16 up to 128");
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

// The kernels' arguments (strides in elements; the head's columns start at h * kHeadDim of
// each row; scale_log2 = softmax scale * log2(e)).
template <typename In>
struct AttentionParams {
  const In* q;
  dev::i64 q_batch_stride, q_row_stride;
  const In* k;
  dev::i64 k_batch_stride, k_row_stride;
  const In* v;
  dev::i64 v_batch_stride, v_row_stride;
  void* o;
  dev::i64 o_batch_stride, o_row_stride;
  int sq, skv;
  float scale_log2;
};

__device__ __forceinline__ float neg_inf() { return __int_as_float(0xff800000u); }

// ---- CUDA cores: a warp per query row ---------------------------------------------------

template <typename T>
__device__ __forceinline__ void attention_simt_body(const AttentionParams<typename T::In>& a) {
  constexpr int kD = T::kHeadDim;
  // 32 keys per tile (one per lane) up to Dh 128; 16 above, to keep the tiles in 48 KB.
  constexpr int kTile = kD <= 128 ? 32 : 16;
  constexpr int kPerLane = (kD + 31) / 32;  // head dims each lane accumulates
  // NOTE: K rows padded to an odd length, so lane j reading key j's element d hits bank
  // (j (kD + 1) + d) mod 32: 32 distinct banks. V rows are read along d by the lanes: dense.
  __shared__ float ks[kTile][kD + 1];     // (key, dim) of this tile
  __shared__ float vs[kTile][kD];         // (key, dim)
  __shared__ float qs[T::kWarps][kD];     // each warp's query row
  __shared__ float ps[T::kWarps][kTile];  // each warp's softmax weights of the tile
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int b = blockIdx.z, h = blockIdx.y;
  const int row = blockIdx.x * T::kWarps + warp;
  // NOTE: `active` is warp-uniform; inactive warps (rows past sq) still join every barrier.
  const bool active = row < a.sq;
  const dev::i64 col0 = static_cast<dev::i64>(h) * kD;
  if (active) {
    const typename T::In* qr = a.q + b * a.q_batch_stride + row * a.q_row_stride + col0;
    for (int d = lane; d < kD; d += 32) qs[warp][d] = dev::load_as_f32<T::kIn>(qr, d);
  }
  const typename T::In* kb = a.k + b * a.k_batch_stride + col0;
  const typename T::In* vb = a.v + b * a.v_batch_stride + col0;
  float m = neg_inf(), l = 0.0f;  // running max (base 2) and sum
  float acc[kPerLane];          // o's dims lane + 32 c, unnormalized
  for (int c = 0; c < kPerLane; ++c) acc[c] = 0.0f;
  for (int t0 = 0; t0 < a.skv; t0 += kTile) {
    const int valid = min(kTile, a.skv - t0);
    __syncthreads();  // the previous tile is consumed (the first time: qs is written)
    // Keys past skv are zeros, so their (masked) weight 0 times a finite value adds nothing.
    for (int e = threadIdx.x; e < kTile * kD; e += T::kThreads) {
      const int j = e / kD, d = e % kD;
      const bool in = j < valid;
      const dev::i64 key = t0 + j;
      ks[j][d] = in ? dev::load_as_f32<T::kIn>(kb, key * a.k_row_stride + d) : 0.0f;
      vs[j][d] = in ? dev::load_as_f32<T::kIn>(vb, key * a.v_row_stride + d) : 0.0f;
    }
    __syncthreads();
    if (!active) continue;
    float s = neg_inf();  // masked keys: weight 2^-inf = 0
    if (lane < valid) {
      float dot = 0.0f;
      for (int d = 0; d < kD; ++d) dot = ptx::fma_rn(qs[warp][d], ks[lane][d], dot);
      s = ptx::mul_rn(dot, a.scale_log2);
    }
    // NOTE: NaN-propagating max: a NaN logit makes the row NaN, as in the reference.
    const float m_new = ptx::max_nan(m, warp_max_nan(s));
    const float alpha = ptx::ex2_approx_ftz(ptx::add_rn(m, -m_new));  // first tile: 2^-inf = 0
    const float p = ptx::ex2_approx_ftz(ptx::add_rn(s, -m_new));
    l = ptx::fma_rn(l, alpha, warp_sum(p));
    m = m_new;
    if (lane < kTile) ps[warp][lane] = p;  // lanes past a 16-key tile (Dh > 128) hold no key
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
  const dev::i64 out_row = b * a.o_batch_stride + row * a.o_row_stride + col0;
  for (int c = 0; c < kPerLane; ++c) {
    const int d = lane + 32 * c;
    if (kD % 32 == 0 || d < kD) store_out<T::kOut>(a.o, out_row + d, ptx::div_rn(acc[c], l));
  }
}

// ---- tensor cores: a warp per 16 query rows (FlashAttention-2) ---------------------------

// Two fp32 -> one register of two kIn values, `lo` in the lower half (an mma A register).
template <dev::DType kIn>
__device__ __forceinline__ dev::u32 pack2(float lo, float hi) {
  if constexpr (kIn == dev::DType::kF16) return ptx::f32x2_to_f16x2(lo, hi);
  else return ptx::f32x2_to_bf16x2(lo, hi);
}

template <dev::DType kOut>
__device__ __forceinline__ void store_out2(void* o, dev::i64 i, float lo, float hi) {
  if constexpr (kOut == dev::DType::kF32) {
    static_cast<float*>(o)[i] = lo;
    static_cast<float*>(o)[i + 1] = hi;
  } else {
    // NOTE: i is even and o 16-byte aligned: one 4-byte store of the pair.
    *reinterpret_cast<dev::u32*>(static_cast<dev::u16*>(o) + i) = pack2<kOut>(lo, hi);
  }
}

// Fragment roles (ptx/mma.cuh; g = lane / 4, t = lane % 4): a warp's S tile row g / g + 8 is
// its query rows r0 + g / r0 + g + 8; S's columns are keys, O's columns head dims.
template <typename T>
__device__ __forceinline__ void attention_mma_body(const AttentionParams<typename T::In>& a) {
  constexpr int kD = T::kHeadDim;
  constexpr int kTile = 64;                 // keys per tile
  constexpr int kKSteps = kD / 16;          // k16 steps of Q K^T
  constexpr int kDBlocks = kD / 8;          // n8 blocks of O
  constexpr int kSBlocks = kTile / 8;       // n8 blocks of S
  constexpr int kStride = kD + 8;           // K / V row (a key) in 16-bit elements, +16 bytes
  constexpr int kChunks = kD / 8;           // 16-byte chunks per K / V row
  static_assert(kD % 16 == 0 && kD <= 128, "attention_mma: Dh must be a multiple of 16 up to 128");
  // NOTE: a row of kStride elements is 4 mod 8 words long, so the 8 rows g of a fragment
  // load start 4 (2 c + 1) g words apart: with t the 32 lanes hit 32 banks; the 8 rows of an
  // ldmatrix matrix (16 bytes each) likewise cover the 32 banks once.
  static_assert((kStride / 2) % 8 == 4, "attention_mma: the padding must keep fragment loads conflict-free");
  __shared__ alignas(16) dev::u16 ks[kTile * kStride];  // (key, dim)
  __shared__ alignas(16) dev::u16 vs[kTile * kStride];  // (key, dim)
  const dev::u32* ks_w = reinterpret_cast<const dev::u32*>(ks);
  const dev::u32 vs_addr = ptx::smem_u32(vs);
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, g = lane / 4, t = lane % 4;
  const int b = blockIdx.z, h = blockIdx.y;
  const int r0 = (blockIdx.x * T::kWarps + warp) * 16;
  const dev::i64 col0 = static_cast<dev::i64>(h) * kD;
  using In = typename T::In;

  // Q fragments for all of Dh, rows past sq zero.                          // (16, kD)
  dev::u32 qf[kKSteps][4];
  for (int half = 0; half < 2; ++half) {
    const int r = r0 + g + 8 * half;
    const In* qr = a.q + b * a.q_batch_stride + static_cast<dev::i64>(r) * a.q_row_stride + col0;
    for (int ks_i = 0; ks_i < kKSteps; ++ks_i) {
      const bool in = r < a.sq;
      qf[ks_i][half] = in ? *reinterpret_cast<const dev::u32*>(qr + ks_i * 16 + 2 * t) : 0u;
      qf[ks_i][half + 2] = in ? *reinterpret_cast<const dev::u32*>(qr + ks_i * 16 + 8 + 2 * t) : 0u;
    }
  }
  float o[kDBlocks][4];  // O fragments, unnormalized                       // (16, kD)
  for (int n = 0; n < kDBlocks; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
  float m[2] = {neg_inf(), neg_inf()};  // running max (base 2) of rows g, g + 8
  float l[2] = {0.0f, 0.0f};        // this lane's part of the running sums (its 2 t, 2 t + 1 columns)
  const In* kb = a.k + b * a.k_batch_stride + col0;
  const In* vb = a.v + b * a.v_batch_stride + col0;
  for (int t0 = 0; t0 < a.skv; t0 += kTile) {
    const int valid = min(kTile, a.skv - t0);
    __syncthreads();  // the previous tile is consumed
    // Stage the K and V tiles, 16 bytes per cp.async; keys past skv are zero-filled (the
    // source then is read not at all, but must be a valid address: the tile's first key).
    for (int e = threadIdx.x; e < kTile * kChunks; e += T::kThreads) {
      const int j = e / kChunks, c = e % kChunks;
      const bool in = j < valid;
      const dev::i64 key = t0 + (in ? j : 0);
      const dev::u32 bytes = in ? 16u : 0u;
      ptx::cp_async_16(ptx::smem_u32(ks + j * kStride + c * 8), kb + key * a.k_row_stride + c * 8, bytes);
      ptx::cp_async_16(ptx::smem_u32(vs + j * kStride + c * 8), vb + key * a.v_row_stride + c * 8, bytes);
    }
    ptx::cp_async_commit();
    ptx::cp_async_wait<0>();
    __syncthreads();
    // S = Q K^T over the n8 blocks that hold a key (warp-uniform), scaled to base 2.  // (16, kTile)
    float s[kSBlocks][4];
    for (int n = 0; n < kSBlocks; ++n) {
      s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.0f;
      if (n * 8 >= valid) continue;
      const int key_word = (n * 8 + g) * (kStride / 2);
      for (int ks_i = 0; ks_i < kKSteps; ++ks_i) {
        const dev::u32 bf[2] = {ks_w[key_word + ks_i * 8 + t], ks_w[key_word + ks_i * 8 + 4 + t]};
        ptx::mma_m16n8k16_f32<T::kIn>(s[n], qf[ks_i], bf);
      }
    }
    float mx[2] = {neg_inf(), neg_inf()};
    for (int n = 0; n < kSBlocks; ++n) {
      for (int i = 0; i < 4; ++i) {
        const int key = n * 8 + 2 * t + (i & 1);
        s[n][i] = key < valid ? ptx::mul_rn(s[n][i], a.scale_log2) : neg_inf();  // masked: weight 0
        mx[i / 2] = ptx::max_nan(mx[i / 2], s[n][i]);
      }
    }
    float alpha[2];
    for (int r = 0; r < 2; ++r) {
      // The row's max over the quad's 4 lanes, which hold its columns.
      mx[r] = ptx::max_nan(mx[r], ptx::shfl_xor(mx[r], 1));
      mx[r] = ptx::max_nan(mx[r], ptx::shfl_xor(mx[r], 2));
      const float m_new = ptx::max_nan(m[r], mx[r]);
      alpha[r] = ptx::ex2_approx_ftz(ptx::add_rn(m[r], -m_new));  // first tile: 2^-inf = 0
      m[r] = m_new;
      l[r] = ptx::mul_rn(l[r], alpha[r]);
    }
    for (int n = 0; n < kSBlocks; ++n) {
      for (int i = 0; i < 4; ++i) {
        s[n][i] = ptx::ex2_approx_ftz(ptx::add_rn(s[n][i], -m[i / 2]));  // p, in place
        l[i / 2] = ptx::add_rn(l[i / 2], s[n][i]);
      }
    }
    for (int n = 0; n < kDBlocks; ++n) {
      o[n][0] = ptx::mul_rn(o[n][0], alpha[0]), o[n][1] = ptx::mul_rn(o[n][1], alpha[0]);
      o[n][2] = ptx::mul_rn(o[n][2], alpha[1]), o[n][3] = ptx::mul_rn(o[n][3], alpha[1]);
    }
    // O += P V: P's S fragments are the A fragments of k16 step kk (n8 blocks 2 kk, 2 kk + 1).
    for (int kk = 0; kk < kTile / 16; ++kk) {
      if (kk * 16 >= valid) break;
      const dev::u32 pa[4] = {pack2<T::kIn>(s[2 * kk][0], s[2 * kk][1]), pack2<T::kIn>(s[2 * kk][2], s[2 * kk][3]),
                              pack2<T::kIn>(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                              pack2<T::kIn>(s[2 * kk + 1][2], s[2 * kk + 1][3])};
      // V's B fragments of two n8 blocks per ldmatrix.x4.trans: matrix i = lane / 8 is keys
      // 16 kk + 8 (i % 2) .. + 7 (its rows) by dims 8 (n + i / 2) .. + 7.
      const int key = kk * 16 + ((lane / 8) % 2) * 8 + lane % 8;
      for (int n = 0; n < kDBlocks; n += 2) {
        const int dim = (n + lane / 16) * 8;
        dev::u32 r[4];
        ptx::ldmatrix_x4_trans(r, vs_addr + static_cast<dev::u32>((key * kStride + dim) * 2));
        const dev::u32 b0[2] = {r[0], r[1]}, b1[2] = {r[2], r[3]};
        ptx::mma_m16n8k16_f32<T::kIn>(o[n], pa, b0);
        ptx::mma_m16n8k16_f32<T::kIn>(o[n + 1], pa, b1);
      }
    }
  }
  for (int r = 0; r < 2; ++r) {
    l[r] = ptx::add_rn(l[r], ptx::shfl_xor(l[r], 1));
    l[r] = ptx::add_rn(l[r], ptx::shfl_xor(l[r], 2));
  }
  for (int half = 0; half < 2; ++half) {
    const int r = r0 + g + 8 * half;
    if (r >= a.sq) continue;
    const dev::i64 out_row = b * a.o_batch_stride + static_cast<dev::i64>(r) * a.o_row_stride + col0;
    for (int n = 0; n < kDBlocks; ++n) {
      store_out2<T::kOut>(a.o, out_row + n * 8 + 2 * t, ptx::div_rn(o[n][2 * half], l[half]),
                          ptx::div_rn(o[n][2 * half + 1], l[half]));
    }
  }
}

// ---- entry points ------------------------------------------------------------------------

#define QJIT_ATTENTION_PARAMS                                                                               \
  const typename AttentionTraits<Config>::In *__restrict__ q, dev::i64 q_batch_stride, dev::i64 q_row_stride, \
      const typename AttentionTraits<Config>::In *__restrict__ k, dev::i64 k_batch_stride,                   \
      dev::i64 k_row_stride, const typename AttentionTraits<Config>::In *__restrict__ v,                      \
      dev::i64 v_batch_stride, dev::i64 v_row_stride, void *__restrict__ o, dev::i64 o_batch_stride,          \
      dev::i64 o_row_stride, int sq, int skv, float scale_log2
#define QJIT_ATTENTION_ARGS                                                                                   \
  {q, q_batch_stride, q_row_stride, k, k_batch_stride, k_row_stride, v, v_batch_stride, v_row_stride, o,     \
   o_batch_stride, o_row_stride, sq, skv, scale_log2}

// Grid (ceil(sq / kWarps), heads, batch), kWarps * 32 threads.
template <typename Config>
__global__ void __launch_bounds__(AttentionTraits<Config>::kThreads) attention_simt(QJIT_ATTENTION_PARAMS) {
  using T = AttentionTraits<Config>;
  if constexpr (!T::kTensorCores) attention_simt_body<T>(AttentionParams<typename T::In> QJIT_ATTENTION_ARGS);
}

// Grid (ceil(sq / (16 kWarps)), heads, batch), kWarps * 32 threads. q, k, v: 16-byte aligned
// at every row (the op copies a view that is not); o: 16-byte aligned, row length even.
template <typename Config>
__global__ void __launch_bounds__(AttentionTraits<Config>::kThreads) attention_mma(QJIT_ATTENTION_PARAMS) {
  using T = AttentionTraits<Config>;
  if constexpr (T::kTensorCores) attention_mma_body<T>(AttentionParams<typename T::In> QJIT_ATTENTION_ARGS);
}

#undef QJIT_ATTENTION_PARAMS
#undef QJIT_ATTENTION_ARGS

}  // namespace qjit::kernels
