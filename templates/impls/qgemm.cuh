#pragma once
// W8A8 GEMM on pre-quantized operands with the dequantize epilogue:
//   y[M, N] = out(act(fma(float(acc[m, n]), scale_a[m] * scale_w[n], bias[n])))
//   acc[m, n] = sum_k A[m, k] * W[n, k]      A [M, K], W [N, K], both K-contiguous
// int8: mma m16n8k32 s8 (sm_80+), exact int32. fp8 (e4m3/e5m2, any pairing): mma m16n8k32
// f32 (sm_89+) into a block accumulator that restarts at zero every 128 K and is then added
// to the main fp32 accumulator (DESIGN.md section 5, "promotion every 128 K").
// Block-fp8 (kBlockScales: group128 activation scales, block128 weight scales [ceil(N/128),
// ceil(K/128)]): at each promotion the block's sum is first multiplied by scale_a[m, g] *
// scale_w[n / 128, g] (the two scales multiplied first), and the epilogue uses s = 1, in the
// reference's order (quant_ops/reference/gemm.hpp).
// NOTE: the kernel reads the activation scales K-major, [ceil(K/128), group_scales_ld(M)]
// (DeepGEMM's layout; DESIGN.md section 5 lets kernels keep one internally): a group's scales
// of consecutive rows are adjacent, so a warp's 8 rows cost one 32-byte sector, where the
// logical [M, ceil(K/128)] layout costs a sector per row. The act_quant group128 pass writes
// this layout directly (kScalesKMajor); logical scales are transposed into it on the device
// by qgemm_block_scales_k_major below.
// Activations: pre-quantized codes (cp.async, as W), or float x quantized by the GEMM itself
// with a static scale or fused dynamic per-row scales (impls/qgemm_float_a.cuh).
// Host generator: jit/impls/qgemm.cpp; op: quant_ops/qgemm.cpp.
//
// Main loop: a kStages-deep cp.async pipeline of A and W K-tiles in dynamic shared memory,
// each tile row XOR-swizzled in 16-byte chunks so that cp.async stores and ldmatrix reads
// are free of bank conflicts; ldmatrix.x4 loads the A fragments and (W stored [N, K] being
// the "col" operand) the B fragments of two n8 tiles at once.

#include "ptx/approx.cuh"
#include "ptx/arith.cuh"
#include "ptx/cp_async.cuh"
#include "ptx/cvt.cuh"
#include "ptx/ldmatrix.cuh"
#include "ptx/mma.cuh"
#include "ptx/smem.cuh"
#include "ptx/warp.cuh"
#include "qjit/types.cuh"
#include "impls/gemm_epilogue.cuh"
#include "impls/qgemm_float_a.cuh"

namespace qjit::kernels {

// The leading dimension of K-major group128 activation scales: M rounded up to 8 floats, so
// that every group's column starts on a 32-byte sector and 8 rows fill one.
// NOTE: the same formula as act_quant.cuh's and the host's jit::impls::group_scales_ld.
__device__ __forceinline__ int group_scales_ld(int m) { return (m + 7) / 8 * 8; }

// Config fields the kernel reads (the generated struct defines them):
//   kQA, kQW          dev::DType  operand codes: both kI8, or each kE4M3 / kE5M2
//   kScaleAPerToken   bool        scale_a is [M] (else one value, per tensor)
//   kScaleWPerChannel bool        scale_w is [N] (else one value, per tensor)
//   kBlockScales      bool        fp8 only: scale_a group128, scale_w block128 (the two above
//                                 are then false and unused)
//   kHasBias, kBias   bool, DType bias [N] of f32, f16 or bf16 (kBias ignored without bias)
//   kGelu             bool        GELU-tanh after the bias
//   kOut              dev::DType  f32, f16 or bf16
//   kASource          QGemmASource  kQuantized (a holds codes), kStatic (a holds float x, scale_a
//                                 the one static scale s) or kDynamicFused (a holds float x;
//                                 per-row scales computed here, scale_a unused)
//   kX                dev::DType  float x: f32, f16 or bf16 (unused for kQuantized)
//   kTileM, kTileN, kTileK, kWarpsM, kWarpsN, kStages: the CTA tile, its warp grid and the
//                     pipeline depth.
// NOTE: the tiling fields never change results, only speed: every config runs the same
// sequence of 32-wide k-steps per output and promotes fp8 at the same 128-K boundaries.
template <typename Config>
struct QGemmTraits {
  static constexpr dev::DType kQA = Config::kQA;
  static constexpr dev::DType kQW = Config::kQW;
  static constexpr bool kInt8 = kQA == dev::DType::kI8;
  static constexpr bool kScaleAPerToken = Config::kScaleAPerToken;
  static constexpr bool kScaleWPerChannel = Config::kScaleWPerChannel;
  static constexpr bool kBlockScales = Config::kBlockScales;
  static constexpr bool kHasBias = Config::kHasBias;
  static constexpr dev::DType kBias = Config::kBias;
  static constexpr bool kGelu = Config::kGelu;
  static constexpr dev::DType kOut = Config::kOut;
  static constexpr QGemmASource kASource = Config::kASource;
  static constexpr dev::DType kX = Config::kX;
  static constexpr bool kFloatA = kASource != QGemmASource::kQuantized;
  static constexpr int kTileM = Config::kTileM, kTileN = Config::kTileN, kTileK = Config::kTileK;
  static constexpr int kWarpsM = Config::kWarpsM, kWarpsN = Config::kWarpsN, kStages = Config::kStages;

  static_assert(kInt8 ? kQW == dev::DType::kI8 : dev::kIsFp8<kQA> && dev::kIsFp8<kQW>,
                "qgemm: operands are both int8 or both fp8 (e4m3/e5m2)");
  static_assert(!kBlockScales || (!kInt8 && !kScaleAPerToken && !kScaleWPerChannel),
                "qgemm: block scales (group128 x block128) are the fp8 family's, with no other granularity");
  static_assert(!kHasBias || kBias == dev::DType::kF32 || kBias == dev::DType::kF16 || kBias == dev::DType::kBF16,
                "qgemm: bias is f32, f16 or bf16");
  static_assert(kOut == dev::DType::kF32 || kOut == dev::DType::kF16 || kOut == dev::DType::kBF16,
                "qgemm: output is f32, f16 or bf16");
  static_assert(kTileK == 32 || kTileK == 64 || kTileK == 128,
                "qgemm: kTileK is 32, 64 or 128 bytes (a divisor of the 128-K fp8 promotion block)");
  static_assert(kStages >= 2 && kStages <= 5, "qgemm: kStages in [2, 5]");
  static_assert(!kFloatA || kX == dev::DType::kF32 || kX == dev::DType::kF16 || kX == dev::DType::kBF16,
                "qgemm: float activations are f32, f16 or bf16");
  static_assert(!kFloatA || !kBlockScales, "qgemm: block-fp8 takes pre-quantized group128 activations");
  static_assert(kASource != QGemmASource::kStatic || !kScaleAPerToken, "qgemm: a static scale is per tensor");
  static_assert(kASource != QGemmASource::kDynamicFused || kScaleAPerToken,
                "qgemm: fused dynamic quantization is per token");
  static_assert(kWarpsM >= 1 && kWarpsN >= 1 && kWarpsM * kWarpsN <= 16, "qgemm: 1 to 16 warps");

  static constexpr int kWarps = kWarpsM * kWarpsN;
  static constexpr int kThreads = 32 * kWarps;
  static constexpr int kWarpM = kTileM / kWarpsM;  // warp tile rows
  static constexpr int kWarpN = kTileN / kWarpsN;  // warp tile columns
  static_assert(kTileM % kWarpsM == 0 && kWarpM % 16 == 0, "qgemm: warp tile M is a multiple of 16");
  static_assert(kTileN % kWarpsN == 0 && kWarpN % 16 == 0, "qgemm: warp tile N is a multiple of 16");
  static constexpr int kFragsM = kWarpM / 16;  // m16 fragments per warp
  static constexpr int kFragsN = kWarpN / 8;   // n8 fragments per warp
  static constexpr int kKSteps = kTileK / 32;  // mma k-steps per K-tile
  // NOTE: a warp's columns lie in one 128-wide block of N (its origin is a multiple of
  // kWarpN), so each thread needs one block128 weight scale per K group.
  static_assert(!kBlockScales || 128 % kWarpN == 0, "qgemm: block scales need 128 % warp tile N == 0");
  // fp8 keeps two accumulator sets (block and main): bound them so nothing spills.
  static_assert(kFragsM * kFragsN * 4 * (kInt8 ? 1 : 2) <= 128,
                "qgemm: at most 128 accumulator registers per thread (fp8 counts two sets)");

  // Shared-memory tile rows are kTileK bytes of kChunks 16-byte chunks; 128 bytes (all 32
  // banks) hold kRowsPerLine rows. Chunk c of row r lives at chunk c ^ swizzle(r).
  static constexpr int kChunks = kTileK / 16;
  static constexpr int kRowsPerLine = 8 / kChunks;
  // cp.async: thread t copies chunk t % kChunks of rows t / kChunks + i * kRowsPerPass.
  static constexpr int kRowsPerPass = kThreads / kChunks;
  // NOTE: a multiple of 8 rows (one swizzle period), so a thread's swizzle is the same in
  // every pass; ldmatrix row groups start at multiples of 8 for the same reason.
  static_assert(kRowsPerPass % 8 == 0, "qgemm: threads / (kTileK / 16) must be a multiple of 8");
  static constexpr int kPassesA = (kTileM + kRowsPerPass - 1) / kRowsPerPass;
  static constexpr int kPassesW = (kTileN + kRowsPerPass - 1) / kRowsPerPass;
  static constexpr int kStageBytesA = kTileM * kTileK;
  static constexpr int kStageBytesW = kTileN * kTileK;
  // Float x: 16-byte loads of kXPerLoad elements, kXChunks per tile row (kTileK elements),
  // thread t loading chunk t % kXChunks of rows t / kXChunks + i * kXRowsPerPass.
  static constexpr int kXPerLoad = 16 / dev::kSizeOf<kFloatA ? kX : dev::DType::kF32>;
  static constexpr int kXChunks = kTileK / kXPerLoad;
  static constexpr int kXRowsPerPass = kThreads / kXChunks;
  static constexpr int kXPasses = (kTileM + kXRowsPerPass - 1) / kXRowsPerPass;
  static_assert(kXChunks <= 32 && kThreads % kXChunks == 0, "qgemm: a float x tile row is read by one warp at most");
  // The fused dynamic strategy keeps each tile row's scale for the epilogue after the stages.
  static constexpr int kRowScaleBytes = kASource == QGemmASource::kDynamicFused ? 4 * kTileM : 0;
  static constexpr int kSmemBytes = kStages * (kStageBytesA + kStageBytesW) + kRowScaleBytes;

  using Acc = typename dev::Storage<kInt8 ? dev::DType::kI32 : dev::DType::kF32>::type;
};

// One CTA computes a kTileM x kTileN tile of y: grid (ceil(M / kTileM), ceil(N / kTileN)).
// Dynamic shared memory: QGemmTraits<Config>::kSmemBytes.
// NOTE: __launch_bounds__(threads, 1): with the thread count alone, ptxas of NVRTC 13 caps
// some 256-thread instantiations at 128 registers and spills; one CTA per SM lets it use
// what the block size allows.
// NOTE: the host guarantees N % 16 == 0, K % 16 == 0, 16-byte aligned rows (a_ld, w_ld in
// elements, rows 16-byte multiples), and for int8 127^2 * K <= INT32_MAX. Any M >= 1.
template <typename Config>
__global__ void __launch_bounds__(QGemmTraits<Config>::kThreads, 1)
qgemm(const void* __restrict__ a_in, dev::i64 a_ld, const dev::u8* __restrict__ w, dev::i64 w_ld,
      const float* __restrict__ scale_a, const float* __restrict__ scale_w, const void* __restrict__ bias,
      void* __restrict__ y, dev::i64 y_ld, int m, int n, int k) {
  using T = QGemmTraits<Config>;
  using Acc = typename T::Acc;
#if !QJIT_HAS_FP8_MMA
  static_assert(T::kInt8, "qgemm: fp8 mma needs sm_89 or newer");
#endif
  extern __shared__ __align__(128) dev::u8 qgemm_smem[];
  const dev::u32 smem_a = ptx::smem_u32(qgemm_smem);                   // kStages x (kTileM, kTileK)
  const dev::u32 smem_w = smem_a + T::kStages * T::kStageBytesA;      // kStages x (kTileN, kTileK)
  // (kTileM): fused dynamic scales of the tile's rows
  float* const row_scale = reinterpret_cast<float*>(qgemm_smem + T::kStages * (T::kStageBytesA + T::kStageBytesW));
  const dev::u8* const a = static_cast<const dev::u8*>(a_in);  // kQuantized: the codes

  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  const int m0 = blockIdx.x * T::kTileM, n0 = blockIdx.y * T::kTileN;
  const int warp_m = (warp % T::kWarpsM) * T::kWarpM;  // warp tile origin inside the CTA tile
  const int warp_n = (warp / T::kWarpsM) * T::kWarpN;

  // ---- cp.async producer: thread t copies chunk t % kChunks of rows t / kChunks + i kRowsPerPass
  const int load_chunk = tid % T::kChunks, load_row = tid / T::kChunks;
  const dev::u32 load_dst = swizzled<T>(load_row, load_chunk);  // + i * kRowsPerPass * kTileK
  // Source pointers, one per pass, advanced by kTileK per loaded tile (loop-carried, so the
  // compiler keeps them in registers instead of recomputing row * ld every tile). Rows past M
  // or N are zero-filled (src-size 0) and never stored; their pointer walks row 0, a valid
  // address for the copy that reads nothing.
  const dev::u8* a_src[T::kPassesA];  // (kPassesA): this thread's A rows, at its chunk
  const dev::u8* w_src[T::kPassesW];  // (kPassesW): this thread's W rows, at its chunk
  dev::u32 a_rows_ok = 0, w_rows_ok = 0;  // bit i: pass i's row exists
#pragma unroll
  for (int i = 0; i < T::kPassesA; ++i) {
    const int r = load_row + i * T::kRowsPerPass;
    const bool ok = r < T::kTileM && m0 + r < m;
    a_rows_ok |= ok ? 1u << i : 0u;
    a_src[i] = a + (ok ? m0 + r : 0) * a_ld + load_chunk * 16;
  }
#pragma unroll
  for (int i = 0; i < T::kPassesW; ++i) {
    const int r = load_row + i * T::kRowsPerPass;
    const bool ok = r < T::kTileN && n0 + r < n;
    w_rows_ok |= ok ? 1u << i : 0u;
    w_src[i] = w + (ok ? n0 + r : 0) * w_ld + load_chunk * 16;
  }
  const int k_tiles = (k + T::kTileK - 1) / T::kTileK;

  // Loads the next K-tile (tiles are loaded in order, once each) into `stage`.
  int k_next = load_chunk * 16;  // K offset of this thread's chunk in the next tile
  auto load_next_tile = [&](int stage) {
    // NOTE: K % 16 == 0, so a chunk is wholly inside K or wholly past it: zero-filled, read
    // from the matrix start.
    const bool k_ok = k_next < k;
    const dev::u32 a_dst = smem_a + stage * T::kStageBytesA + load_dst;
    const dev::u32 w_dst = smem_w + stage * T::kStageBytesW + load_dst;
#pragma unroll
    for (int i = 0; i < (T::kFloatA ? 0 : T::kPassesA); ++i) {
      if (T::kTileM % T::kRowsPerPass != 0 && load_row + i * T::kRowsPerPass >= T::kTileM) break;
      ptx::cp_async_16(a_dst + i * T::kRowsPerPass * T::kTileK, k_ok ? a_src[i] : a,
                       k_ok && (a_rows_ok >> i & 1u) ? 16u : 0u);
      a_src[i] += T::kTileK;
    }
#pragma unroll
    for (int i = 0; i < T::kPassesW; ++i) {
      if (T::kTileN % T::kRowsPerPass != 0 && load_row + i * T::kRowsPerPass >= T::kTileN) break;
      ptx::cp_async_16(w_dst + i * T::kRowsPerPass * T::kTileK, k_ok ? w_src[i] : w,
                       k_ok && (w_rows_ok >> i & 1u) ? 16u : 0u);
      w_src[i] += T::kTileK;
    }
    k_next += T::kTileK;
  };

  // ---- ldmatrix consumer: this lane's row address inside the warp tile -------------------
  // A (x4): matrices (rows 0-7, K 0-15), (rows 8-15, K 0-15), (rows 0-7, K 16-31), (rows 8-15,
  // K 16-31) of an m16 x k32 fragment: lane l gives row l % 8 + 8 ((l / 8) % 2), chunk l / 16.
  const int a_frag_row = warp_m + lane % 8 + 8 * ((lane / 8) % 2), a_frag_chunk = lane / 16;
  // W (x4): (n 0-7, K 0-15), (n 0-7, K 16-31), (n 8-15, K 0-15), (n 8-15, K 16-31): the b[0],
  // b[1] of two n8 fragments. Lane l gives row l % 8 + 8 (l / 16), chunk (l / 8) % 2.
  const int w_frag_row = warp_n + lane % 8 + 8 * (lane / 16), w_frag_chunk = (lane / 8) % 2;

  Acc acc[T::kFragsM][T::kFragsN][4];  // (kFragsM, kFragsN, 4): the main accumulator
  float blk[T::kFragsM][T::kFragsN][4];  // fp8 only: the current 128-K block's sum
#pragma unroll
  for (int i = 0; i < T::kFragsM; ++i)
#pragma unroll
    for (int j = 0; j < T::kFragsN; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[i][j][e] = Acc(0), blk[i][j][e] = 0.0f;

  // ---- block-fp8: this lane's scales of the next K group to promote ----------------------
  // Rows g, g + 8 of each m16 fragment (as the epilogue), and the warp's 128-block of N.
  // NOTE: loaded one group ahead (right after the previous promotion used them) so their
  // latency hides behind a group's mma work; rows past M and blocks past N read nothing.
  // K-major scale_a: lanes 4r .. 4r + 3 read row r of an 8-row run, one sector per run.
  const int k_groups = (k + 127) / 128;
  const dev::i64 sa_ld = group_scales_ld(m);
  float bsa[T::kBlockScales ? T::kFragsM : 1][2];  // (kFragsM, 2): scale_a[row, group]
  float bsw = 0.0f;                                // scale_w[(n0 + warp_n) / 128, group]
  auto load_block_scales = [&](int group) {
    if constexpr (T::kBlockScales) {
      const bool ok = group < k_groups;
#pragma unroll
      for (int i = 0; i < T::kFragsM; ++i)
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          const int row = m0 + warp_m + 16 * i + lane / 4 + 8 * h;
          bsa[i][h] = ok && row < m ? scale_a[group * sa_ld + row] : 0.0f;
        }
      const int col = n0 + warp_n;
      bsw = ok && col < n ? scale_w[static_cast<dev::i64>(col / 128) * k_groups + group] : 0.0f;
    }
  };
  load_block_scales(0);
  int group = 0;  // the K group being summed into blk

  // ---- the pipeline: kStages - 1 tiles in flight ahead of the one being multiplied -----
#pragma unroll
  for (int s = 0; s < T::kStages - 1; ++s) {
    if (s < k_tiles) load_next_tile(s);
    ptx::cp_async_commit();  // NOTE: always commit, so group counting stays uniform
  }
  // Float x: W's first tiles are in flight; the dynamic row scales (a pass over the tile's
  // rows), then tile 0 quantized into stage 0 and tile 1 staged in registers.
  FloatATile<T> xa;
  float static_inv = 0.0f;
  if constexpr (T::kFloatA) {
    xa.init(a_in, a_ld, m0, m, k, tid);
    if constexpr (T::kASource == QGemmASource::kDynamicFused) xa.dynamic_scales(row_scale);
    else static_inv = dev::static_inverse(scale_a[0]);
    xa.load();
    if (k_tiles > 0) xa.store(smem_a, static_inv);
    xa.load();
  }
  int read_stage = 0, write_stage = T::kStages - 1;
  for (int tile = 0; tile < k_tiles; ++tile) {
    ptx::cp_async_wait<T::kStages - 2>();  // this thread's copies of `tile` have landed
    ptx::bar_sync();                       // ... everyone's; and `write_stage` is read out
    if (tile + T::kStages - 1 < k_tiles) load_next_tile(write_stage);
    ptx::cp_async_commit();
    if constexpr (T::kFloatA) {
      // NOTE: tile + 1's stage was last read in iteration tile + 1 - kStages < tile, which
      // every warp left before the barrier above; the next barrier publishes the store. The
      // loads of tile + 2 then have this whole iteration's mma work to land.
      if (tile + 1 < k_tiles) {
        const int next_stage = read_stage == T::kStages - 1 ? 0 : read_stage + 1;
        xa.store(smem_a + next_stage * T::kStageBytesA, static_inv);
        if (tile + 2 < k_tiles) xa.load();
      }
    }

    const dev::u32 a_stage = smem_a + read_stage * T::kStageBytesA;
    const dev::u32 w_stage = smem_w + read_stage * T::kStageBytesW;
#pragma unroll
    for (int ks = 0; ks < T::kKSteps; ++ks) {
      // NOTE: a k-step wholly past K is skipped rather than multiplied by zeros, so every
      // config (whatever kTileK) runs exactly the k-steps 0 .. ceil(K / 32) - 1.
      if (tile * T::kTileK + ks * 32 >= k) break;
      dev::u32 af[T::kFragsM][4];
#pragma unroll
      for (int i = 0; i < T::kFragsM; ++i) {
        ptx::ldmatrix_x4(af[i], a_stage + swizzled<T>(a_frag_row + 16 * i, 2 * ks + a_frag_chunk));
      }
      // NOTE: B fragments are loaded one pair of n8 tiles at a time and used at once, which
      // keeps fewer registers live (sm_90 runs fp8 mma.sync through wider registers).
#pragma unroll
      for (int j = 0; j < T::kFragsN; j += 2) {
        dev::u32 r[4];
        ptx::ldmatrix_x4(r, w_stage + swizzled<T>(w_frag_row + 8 * j, 2 * ks + w_frag_chunk));
        const dev::u32 b0[2] = {r[0], r[1]}, b1[2] = {r[2], r[3]};
#pragma unroll
        for (int i = 0; i < T::kFragsM; ++i) {
          if constexpr (T::kInt8) {
            ptx::mma_m16n8k32_s8(acc[i][j], af[i], b0);
            ptx::mma_m16n8k32_s8(acc[i][j + 1], af[i], b1);
          } else {
#if QJIT_HAS_FP8_MMA
            ptx::mma_m16n8k32_fp8<T::kQA, T::kQW>(blk[i][j], af[i], b0);
            ptx::mma_m16n8k32_fp8<T::kQA, T::kQW>(blk[i][j + 1], af[i], b1);
#endif
          }
        }
      }
    }
    if constexpr (!T::kInt8) {
      // Promotion: the block's sum joins the main accumulator at every 128-K boundary and
      // at the end of K.
      if (((tile + 1) * T::kTileK) % 128 == 0 || tile == k_tiles - 1) {
#pragma unroll
        for (int i = 0; i < T::kFragsM; ++i)
#pragma unroll
          for (int j = 0; j < T::kFragsN; ++j)
#pragma unroll
            for (int e = 0; e < 4; ++e) {
              if constexpr (T::kBlockScales) {
                // NOTE: s = scale_a * scale_w first, then partial * s, then the add: three
                // roundings in the reference's order (no fma).
                const float s = ptx::mul_rn(bsa[i][e / 2], bsw);
                acc[i][j][e] = ptx::add_rn(acc[i][j][e], ptx::mul_rn(blk[i][j][e], s));
              } else {
                acc[i][j][e] = ptx::add_rn(acc[i][j][e], blk[i][j][e]);
              }
              blk[i][j][e] = 0.0f;
            }
        load_block_scales(++group);
      }
    }
    read_stage = read_stage == T::kStages - 1 ? 0 : read_stage + 1;
    write_stage = write_stage == T::kStages - 1 ? 0 : write_stage + 1;
  }
  ptx::cp_async_wait<0>();  // only empty groups remain; leave nothing in flight
  if constexpr (T::kASource == QGemmASource::kDynamicFused) ptx::bar_sync();  // row_scale is written

  // ---- epilogue: this lane holds rows g, g + 8 and columns 2t, 2t + 1 of each fragment ----
  const int g = lane / 4, t2 = (lane % 4) * 2;
  float sa[T::kFragsM][2];  // scale_a of this lane's rows (0 for rows past M: never stored)
#pragma unroll
  for (int i = 0; i < T::kFragsM; ++i)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int row = m0 + warp_m + 16 * i + g + 8 * h;
      if constexpr (T::kASource == QGemmASource::kDynamicFused) sa[i][h] = row_scale[row - m0];
      else sa[i][h] = T::kBlockScales ? 1.0f : row < m ? scale_a[T::kScaleAPerToken ? row : 0] : 0.0f;
    }
#pragma unroll
  for (int j = 0; j < T::kFragsN; ++j) {
    const int col = n0 + warp_n + 8 * j + t2;
    if (col >= n) continue;  // NOTE: N % 16 == 0 and col is even: col + 1 < N too
    // Block-fp8 applied its scales at each promotion: s = 1 * 1 here, as the reference.
    const float sw0 = T::kBlockScales ? 1.0f : scale_w[T::kScaleWPerChannel ? col : 0];
    const float sw1 = T::kBlockScales ? 1.0f : scale_w[T::kScaleWPerChannel ? col + 1 : 0];
    float b0 = 0.0f, b1 = 0.0f;
    if constexpr (T::kHasBias) b0 = bias_at<T::kBias>(bias, col), b1 = bias_at<T::kBias>(bias, col + 1);
#pragma unroll
    for (int i = 0; i < T::kFragsM; ++i)
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int row = m0 + warp_m + 16 * i + g + 8 * h;
        if (row >= m) continue;
        // float(acc): cvt.rn.f32.s32 for int8 (exact below 2^24, RNE above), as the reference.
        float v0 = ptx::fma_rn(static_cast<float>(acc[i][j][2 * h]), ptx::mul_rn(sa[i][h], sw0), b0);
        float v1 = ptx::fma_rn(static_cast<float>(acc[i][j][2 * h + 1]), ptx::mul_rn(sa[i][h], sw1), b1);
        if constexpr (T::kGelu) v0 = gelu_tanh(v0), v1 = gelu_tanh(v1);
        store_pair<T::kOut>(y, row * y_ld + col, v0, v1);
      }
  }
}

// Block-fp8 only: logical group128 scales src [M, groups] (row-major, dense) -> K-major dst
// [groups, group_scales_ld(M)] (the padding past M is not written; qgemm never reads it).
// A 32 x 32 tile per CTA of 256 threads, grid (ceil(M / 32), ceil(groups / 32)): rows are
// read along the groups and written along M through shared memory, whose rows are padded to
// 33 words so that both the row-wise stores and the column-wise loads are free of bank
// conflicts. NOTE: exact (a copy); an empty body for the other specs of the family.
inline constexpr int kBlockScalesTile = 32, kBlockScalesThreads = 256;
template <typename Config>
__global__ void __launch_bounds__(kBlockScalesThreads)
qgemm_block_scales_k_major(const float* __restrict__ src, float* __restrict__ dst, int m, int groups) {
  if constexpr (Config::kBlockScales) {
    constexpr int kTile = kBlockScalesTile, kRowsPerPass = kBlockScalesThreads / kTile;
    __shared__ float tile[kTile][kTile + 1];  // (rows, groups) of the CTA's tile
    const int tx = threadIdx.x % kTile, ty = threadIdx.x / kTile;
    const int r0 = blockIdx.x * kTile, g0 = blockIdx.y * kTile;
#pragma unroll
    for (int i = ty; i < kTile; i += kRowsPerPass) {
      if (r0 + i < m && g0 + tx < groups) tile[i][tx] = src[static_cast<dev::i64>(r0 + i) * groups + g0 + tx];
    }
    ptx::bar_sync();
    const dev::i64 ld = group_scales_ld(m);
#pragma unroll
    for (int i = ty; i < kTile; i += kRowsPerPass) {
      if (g0 + i < groups && r0 + tx < m) dst[(g0 + i) * ld + r0 + tx] = tile[tx][i];
    }
  }
}

}  // namespace qjit::kernels
