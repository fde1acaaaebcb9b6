#pragma once
// Weight-only GEMM: bf16/f16 activations times int8/fp8 weights dequantized in the main loop,
// or times unquantized weights of the activation dtype (kQW == kAct: the float GEMM).
//   y[M, N] = out(act(acc[m, n] + bias[n]))
//   acc[m, n] = sum_k x[m, k] * w[n, k]          x [M, K] bf16/f16, q [N, K] codes, K-contiguous
//   w[n, k]   = round_to_act(decode(q[n, k]) * scale_w(n, k))   (fp32 multiply, RNE to bf16/f16)
// exactly the dequantized weight of the reference (quant_ops/reference/gemm.hpp, kWeightOnly),
// fed to mma.sync m16n8k16 bf16/f16 with fp32 accumulation (sm_80+ for every weight qtype).
// Host generator: jit/impls/qgemm_wo.cpp; op: quant_ops/qgemm_weight_only.cpp.
//
// Main loop: a kStages-deep cp.async pipeline of x and q K-tiles in dynamic shared memory,
// XOR-swizzled in 16-byte chunks. Each k16 step permutes K inside the step, the same way for
// both operands (a sum does not care which k goes to which mma slot): lane (g, t) multiplies
// the K values 4t..4t+3 of the step, in the mma slots of K 2t, 2t+1 (a[0], b[0]) and
// 8+2t, 9+2t (a[2], b[1]). Then
//  - q: ldmatrix.x4 on the byte tile (8 rows x 16 bytes per matrix) gives lane (g, t) the
//    bytes 4t..4t+3 of row g: one register is the whole B fragment of one n8 tile, which the
//    lane decodes, scales and packs into b[0] (bytes 0, 1) and b[1] (bytes 2, 3);
//  - x: one 8-byte ld.shared per lane and row gives x[g][4t..4t+3]: a[0] and a[2] (a[1], a[3]
//    for row g + 8).
// NOTE: the mma sums K in an order of its own; results are compared with the reference (a
// sequential fp32 sum) by NMSE.
//
// Unquantized weights (kQW == kAct, kScaleW == kWoScaleNone): w [N, K] bf16/f16 is fed to the
// mma as it is, no decode and no scale. Both operands then take the standard m16n8k16 layout
// (no K permutation): one ldmatrix.x4 gives a whole A fragment (x) or the B fragments of two
// n8 tiles (w), half the shared-memory load instructions of 8-byte ld.shared per fragment
// (the permutation only pays for 1-byte codes, which ldmatrix hands out 4 K at a time). Both
// tiles use the ldmatrix swizzle (the 8 rows of one matrix in 8 different 4-bank groups), so
// the loads are free of bank conflicts. Measured on the sim (N 256, K 512, the heuristic's
// config): 13528 / 23608 warp instructions for M 16 / 64, against 15192 / 27488 with the
// K permutation and 8-byte ld.shared for both operands (also conflict-free). It shares the
// pipeline, the tiling and the epilogue with the quantized path, hence the same template
// rather than a sibling.

#include "impls/gemm_epilogue.cuh"
#include "ptx/arith.cuh"
#include "ptx/bits.cuh"
#include "ptx/cp_async.cuh"
#include "ptx/cvt.cuh"
#include "ptx/ldmatrix.cuh"
#include "ptx/mma.cuh"
#include "ptx/smem.cuh"
#include "ptx/warp.cuh"
#include "qjit/types.cuh"

namespace qjit::kernels {

// Weight scale granularities (kScaleW).
inline constexpr int kWoScalePerTensor = 0;   // scale_w [1]
inline constexpr int kWoScalePerChannel = 1;  // scale_w [N]
inline constexpr int kWoScaleBlock128 = 2;    // scale_w [ceil(N/128), ceil(K/128)] row-major
inline constexpr int kWoScaleNone = 3;        // unquantized weights (kQW == kAct): no scale_w

// Config fields the kernel reads (the generated struct defines them):
//   kAct              dev::DType  activations (and mma operands): kBF16 or kF16
//   kQW               dev::DType  weight codes: kI8, kE4M3 or kE5M2; or kAct (unquantized)
//   kScaleW           int         kWoScalePerTensor | kWoScalePerChannel | kWoScaleBlock128;
//                                 kWoScaleNone for unquantized weights
//   kHasBias, kBias   bool, DType bias [N] of f32, f16 or bf16 (kBias ignored without bias)
//   kGelu             bool        GELU-tanh after the bias
//   kOut              dev::DType  f32, f16 or bf16
//   kTileM, kTileN, kTileK, kWarpsM, kWarpsN, kStages: the CTA tile (kTileK in elements), its
//                     warp grid and the pipeline depth.
// NOTE: the tiling fields never change results, only speed: every config runs the same k16
// mma steps per output, in the same order.
template <typename Config>
struct QGemmWoTraits {
  static constexpr dev::DType kAct = Config::kAct;
  static constexpr dev::DType kQW = Config::kQW;
  static constexpr int kScaleW = Config::kScaleW;
  static constexpr bool kHasBias = Config::kHasBias;
  static constexpr dev::DType kBias = Config::kBias;
  static constexpr bool kGelu = Config::kGelu;
  static constexpr dev::DType kOut = Config::kOut;
  static constexpr int kTileM = Config::kTileM, kTileN = Config::kTileN, kTileK = Config::kTileK;
  static constexpr int kWarpsM = Config::kWarpsM, kWarpsN = Config::kWarpsN, kStages = Config::kStages;

  static_assert(kAct == dev::DType::kBF16 || kAct == dev::DType::kF16, "qgemm_wo: activations are bf16 or f16");
  static constexpr bool kFloatW = kQW == kAct;  // unquantized weights in the activation dtype
  static constexpr int kWBytes = kFloatW ? 2 : 1;  // bytes per weight element
  static_assert(kFloatW || kQW == dev::DType::kI8 || dev::kIsFp8<kQW>,
                "qgemm_wo: weights are int8, fp8_e4m3, fp8_e5m2 or the activation dtype");
  static_assert(kFloatW ? kScaleW == kWoScaleNone
                        : kScaleW == kWoScalePerTensor || kScaleW == kWoScalePerChannel || kScaleW == kWoScaleBlock128,
                "qgemm_wo: kScaleW is per_tensor, per_channel or block128 for codes, none for unquantized weights");
  static_assert(!kHasBias || kBias == dev::DType::kF32 || kBias == dev::DType::kF16 || kBias == dev::DType::kBF16,
                "qgemm_wo: bias is f32, f16 or bf16");
  static_assert(kOut == dev::DType::kF32 || kOut == dev::DType::kF16 || kOut == dev::DType::kBF16,
                "qgemm_wo: output is f32, f16 or bf16");
  static_assert(kTileK == 32 || kTileK == 64 || kTileK == 128,
                "qgemm_wo: kTileK is 32, 64 or 128 (a divisor of the 128-K scale block)");
  static_assert(kStages >= 2 && kStages <= 5, "qgemm_wo: kStages in [2, 5]");
  static_assert(kWarpsM >= 1 && kWarpsN >= 1 && kWarpsM * kWarpsN <= 16, "qgemm_wo: 1 to 16 warps");

  static constexpr int kWarps = kWarpsM * kWarpsN;
  static constexpr int kThreads = 32 * kWarps;
  static constexpr int kWarpM = kTileM / kWarpsM;  // warp tile rows
  static constexpr int kWarpN = kTileN / kWarpsN;  // warp tile columns
  static_assert(kTileM % kWarpsM == 0 && kWarpM % 16 == 0, "qgemm_wo: warp tile M is a multiple of 16");
  // NOTE: one ldmatrix.x4 loads the q fragments of four n8 tiles.
  static_assert(kTileN % kWarpsN == 0 && kWarpN % 32 == 0, "qgemm_wo: warp tile N is a multiple of 32");
  static constexpr int kFragsM = kWarpM / 16;  // m16 fragments per warp
  static constexpr int kFragsN = kWarpN / 8;   // n8 fragments per warp
  static constexpr int kKSteps = kTileK / 16;  // mma k16 steps per K-tile
  static_assert(kFragsM * kFragsN * 4 <= 128, "qgemm_wo: at most 128 accumulator registers per thread");

  // x tile: rows of kRowBytesX bytes, kChunksX 16-byte chunks. Chunk c of row r lives at
  // chunk c ^ (2 (r / kRowsPerLineX)) % kChunksX: the four rows one 16-lane phase of the
  // 8-byte fragment loads reads (32 bytes each: two chunks) land in four different pairs of
  // 4-bank groups, and one 8-lane cp.async phase (8 chunks of one 128-byte line) in eight.
  static constexpr int kRowBytesX = 2 * kTileK;
  static constexpr int kChunksX = kRowBytesX / 16;
  static constexpr int kRowsPerLineX = kChunksX >= 8 ? 1 : 8 / kChunksX;
  static constexpr int kRowsPerPassX = kThreads / kChunksX;
  // NOTE: multiples of 8 rows (a whole number of swizzle periods, 4 or 8 rows), so a
  // thread's swizzle is the same in every pass.
  static_assert(kRowsPerPassX % 8 == 0, "qgemm_wo: threads / (kTileK / 8) must be a multiple of 8");
  static constexpr int kPassesX = (kTileM + kRowsPerPassX - 1) / kRowsPerPassX;

  // q tile: rows of kTileK bytes, swizzled as qgemm's tiles (swizzled<QTile>).
  struct QTile {
    static constexpr int kTileK = QGemmWoTraits::kTileK;  // row bytes
    static constexpr int kChunks = kTileK / 16;
    static constexpr int kRowsPerLine = 8 / kChunks;
  };
  // Unquantized weights: x and w tiles both of rows of 2 kTileK bytes read by ldmatrix
  // (swizzled<LdmTile>): chunk c of row r at c ^ (r / kRowsPerLine) % kChunks.
  // NOTE: kChunks is capped at 8, so the XOR touches the low 3 chunk bits only and the
  // pattern repeats every 8 rows (a pass of kRowsPerPassX rows keeps a thread's swizzle) even
  // for 256-byte rows (kTileK 128); 8 rows at one chunk still differ in those 3 bits.
  struct LdmTile {
    static constexpr int kTileK = 2 * QGemmWoTraits::kTileK;  // row bytes
    static constexpr int kChunks = kTileK / 16 < 8 ? kTileK / 16 : 8;
    static constexpr int kRowsPerLine = kTileK / 16 < 8 ? 8 / (kTileK / 16) : 1;
  };
  static constexpr int kRowBytesW = kWBytes * kTileK;
  static constexpr int kChunksW = kRowBytesW / 16;
  static constexpr int kRowsPerPassW = kThreads / kChunksW;
  static_assert(kRowsPerPassW % 8 == 0, "qgemm_wo: threads / (weight row bytes / 16) must be a multiple of 8");
  static constexpr int kPassesW = (kTileN + kRowsPerPassW - 1) / kRowsPerPassW;

  static constexpr int kStageBytesX = kTileM * kRowBytesX;
  static constexpr int kStageBytesW = kTileN * kRowBytesW;
  static constexpr int kSmemBytes = kStages * (kStageBytesX + kStageBytesW);
};

template <typename T>
__device__ __forceinline__ dev::u32 x_swizzled(int row, int chunk) {
  if constexpr (T::kFloatW) return swizzled<typename T::LdmTile>(row, chunk);
  return static_cast<dev::u32>(row * T::kRowBytesX +
                               ((chunk ^ ((2 * (row / T::kRowsPerLineX)) % T::kChunksX)) << 4));
}

// The byte offset of 16-byte chunk `chunk` of weight row `row` in a stage.
template <typename T>
__device__ __forceinline__ dev::u32 w_swizzled(int row, int chunk) {
  if constexpr (T::kFloatW) return swizzled<typename T::LdmTile>(row, chunk);
  else return swizzled<typename T::QTile>(row, chunk);
}

// The exact value of an e4m3 code in bits 0-7 of `byte`, without fp8 cvt (sm_80): the code's
// 7 magnitude bits placed at f32 bits 20-26 give the value times 2^-120 (subnormal codes as
// f32 subnormals), which one exact multiply by 2^120 corrects. S.1111.111 is NaN.
__device__ __forceinline__ float e4m3_to_f32_soft(dev::u32 byte) {
  const dev::u32 mag = byte & 0x7fu;
  const float v = ptx::mul_rn(__uint_as_float(((byte & 0x80u) << 24) | (mag << 20)), __uint_as_float(0x7b800000u));
  return mag == 0x7fu ? __uint_as_float(0x7fffffffu) : v;
}

// Decodes the four codes of `q` (byte i = the code of K 4t + i) to their exact f32 values.
template <dev::DType kQW>
__device__ __forceinline__ void decode4(dev::u32 q, float (&f)[4]) {
  if constexpr (kQW == dev::DType::kI8) {
    // Biased to unsigned (q + 128), each byte becomes the low mantissa byte of 2^23: the
    // float 2^23 + q + 128, from which an exact subtraction leaves q.
    const dev::u32 u = q ^ 0x80808080u;
    f[0] = ptx::add_rn(__uint_as_float(ptx::prmt<0x7540>(u, 0x4b000000u)), -8388736.0f);
    f[1] = ptx::add_rn(__uint_as_float(ptx::prmt<0x7541>(u, 0x4b000000u)), -8388736.0f);
    f[2] = ptx::add_rn(__uint_as_float(ptx::prmt<0x7542>(u, 0x4b000000u)), -8388736.0f);
    f[3] = ptx::add_rn(__uint_as_float(ptx::prmt<0x7543>(u, 0x4b000000u)), -8388736.0f);
  } else if constexpr (kQW == dev::DType::kE5M2) {
    // An e5m2 code is the upper byte of the f16 of the same value (Inf and NaN included).
    const dev::u32 h01 = ptx::prmt<0x1404>(q, 0u), h23 = ptx::prmt<0x3424>(q, 0u);
    f[0] = ptx::f16_to_f32(static_cast<dev::u16>(h01)), f[1] = ptx::f16_to_f32(static_cast<dev::u16>(h01 >> 16));
    f[2] = ptx::f16_to_f32(static_cast<dev::u16>(h23)), f[3] = ptx::f16_to_f32(static_cast<dev::u16>(h23 >> 16));
  } else {
#if QJIT_HAS_CVT_FP8
    // sm_89+: cvt.rn.f16x2.e4m3x2 widens two codes exactly (NaN included).
    const dev::u32 h01 = ptx::e4m3x2_to_f16x2(static_cast<dev::u16>(q));
    const dev::u32 h23 = ptx::e4m3x2_to_f16x2(static_cast<dev::u16>(q >> 16));
    f[0] = ptx::f16_to_f32(static_cast<dev::u16>(h01)), f[1] = ptx::f16_to_f32(static_cast<dev::u16>(h01 >> 16));
    f[2] = ptx::f16_to_f32(static_cast<dev::u16>(h23)), f[3] = ptx::f16_to_f32(static_cast<dev::u16>(h23 >> 16));
#else
    f[0] = e4m3_to_f32_soft(q), f[1] = e4m3_to_f32_soft(q >> 8);
    f[2] = e4m3_to_f32_soft(q >> 16), f[3] = e4m3_to_f32_soft(q >> 24);
#endif
  }
}

// The B fragment of one n8 tile from the lane's four codes and its column's scale:
// b[0] = (w(4t), w(4t+1)), b[1] = (w(4t+2), w(4t+3)), w = round_to_act(decode(q) * s).
template <typename T>
__device__ __forceinline__ void dequantize_fragment(dev::u32 q, float s, dev::u32 (&b)[2]) {
  float f[4];
  decode4<T::kQW>(q, f);
#pragma unroll
  for (int e = 0; e < 4; ++e) f[e] = ptx::mul_rn(f[e], s);
  if constexpr (T::kAct == dev::DType::kBF16) {
    b[0] = ptx::f32x2_to_bf16x2(f[0], f[1]), b[1] = ptx::f32x2_to_bf16x2(f[2], f[3]);
  } else {
    b[0] = ptx::f32x2_to_f16x2(f[0], f[1]), b[1] = ptx::f32x2_to_f16x2(f[2], f[3]);
  }
}

// One CTA computes a kTileM x kTileN tile of y: grid (ceil(M / kTileM), ceil(N / kTileN)).
// Dynamic shared memory: QGemmWoTraits<Config>::kSmemBytes.
// NOTE: the host guarantees N % 16 == 0, K % 16 == 0, 16-byte aligned rows (x_ld a multiple
// of 8 elements, w_ld of 16 bytes). Any M >= 1. x_ld and w_ld count elements (x: 2 bytes,
// q: 1 byte, unquantized w: 2 bytes). scale_w is unused (may be null) for unquantized w.
template <typename Config>
__global__ void __launch_bounds__(QGemmWoTraits<Config>::kThreads, 1)
qgemm_wo(const dev::u16* __restrict__ x, dev::i64 x_ld, const dev::u8* __restrict__ w, dev::i64 w_ld,
         const float* __restrict__ scale_w, const void* __restrict__ bias, void* __restrict__ y, dev::i64 y_ld,
         int m, int n, int k) {
  using T = QGemmWoTraits<Config>;
  extern __shared__ __align__(128) dev::u8 qgemm_wo_smem[];
  const dev::u32 smem_x = ptx::smem_u32(qgemm_wo_smem);               // kStages x (kTileM, 2 kTileK bytes)
  const dev::u32 smem_w = smem_x + T::kStages * T::kStageBytesX;     // kStages x (kTileN, kRowBytesW)

  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  const int m0 = blockIdx.x * T::kTileM, n0 = blockIdx.y * T::kTileN;
  const int warp_m = (warp % T::kWarpsM) * T::kWarpM;  // warp tile origin inside the CTA tile
  const int warp_n = (warp / T::kWarpsM) * T::kWarpN;
  const int g = lane / 4, t = lane % 4;

  // ---- cp.async producers: thread t copies one chunk of rows t / chunks + i rows-per-pass --
  const dev::u8* xb = reinterpret_cast<const dev::u8*>(x);
  const int x_chunk = tid % T::kChunksX, x_row = tid / T::kChunksX;
  const int w_chunk = tid % T::kChunksW, w_row = tid / T::kChunksW;
  const dev::u32 x_dst = x_swizzled<T>(x_row, x_chunk);          // + i * kRowsPerPassX * kRowBytesX
  const dev::u32 w_dst = w_swizzled<T>(w_row, w_chunk);          // + i * kRowsPerPassW * kRowBytesW
  // Source pointers, one per pass, advanced by one K-tile per load (loop-carried). Rows past
  // M or N are zero-filled (src-size 0) and never stored; their pointer walks row 0.
  const dev::u8* x_src[T::kPassesX];  // (kPassesX): this thread's x rows, at its chunk
  const dev::u8* w_src[T::kPassesW];  // (kPassesW): this thread's w rows, at its chunk
  dev::u32 x_rows_ok = 0, w_rows_ok = 0;  // bit i: pass i's row exists
#pragma unroll
  for (int i = 0; i < T::kPassesX; ++i) {
    const int r = x_row + i * T::kRowsPerPassX;
    const bool ok = r < T::kTileM && m0 + r < m;
    x_rows_ok |= ok ? 1u << i : 0u;
    x_src[i] = xb + (ok ? m0 + r : 0) * (2 * x_ld) + x_chunk * 16;
  }
#pragma unroll
  for (int i = 0; i < T::kPassesW; ++i) {
    const int r = w_row + i * T::kRowsPerPassW;
    const bool ok = r < T::kTileN && n0 + r < n;
    w_rows_ok |= ok ? 1u << i : 0u;
    w_src[i] = w + (ok ? n0 + r : 0) * (T::kWBytes * w_ld) + w_chunk * 16;
  }
  const int k_tiles = (k + T::kTileK - 1) / T::kTileK;

  // Loads the next K-tile (tiles are loaded in order, once each) into `stage`.
  // K of this thread's chunks in the next tile
  int x_k_next = x_chunk * 8, w_k_next = w_chunk * (16 / T::kWBytes);
  auto load_next_tile = [&](int stage) {
    // NOTE: K % 16 == 0, so a chunk (8 x elements, 16 codes or 8 float weights) is wholly
    // inside K or wholly past it: zero-filled, read from the matrix start.
    const bool x_k_ok = x_k_next < k, w_k_ok = w_k_next < k;
    const dev::u32 xd = smem_x + stage * T::kStageBytesX + x_dst;
    const dev::u32 wd = smem_w + stage * T::kStageBytesW + w_dst;
#pragma unroll
    for (int i = 0; i < T::kPassesX; ++i) {
      if (T::kTileM % T::kRowsPerPassX != 0 && x_row + i * T::kRowsPerPassX >= T::kTileM) break;
      ptx::cp_async_16(xd + i * T::kRowsPerPassX * T::kRowBytesX, x_k_ok ? x_src[i] : xb,
                       x_k_ok && (x_rows_ok >> i & 1u) ? 16u : 0u);
      x_src[i] += T::kRowBytesX;
    }
#pragma unroll
    for (int i = 0; i < T::kPassesW; ++i) {
      if (T::kTileN % T::kRowsPerPassW != 0 && w_row + i * T::kRowsPerPassW >= T::kTileN) break;
      ptx::cp_async_16(wd + i * T::kRowsPerPassW * T::kRowBytesW, w_k_ok ? w_src[i] : w,
                       w_k_ok && (w_rows_ok >> i & 1u) ? 16u : 0u);
      w_src[i] += T::kRowBytesW;
    }
    x_k_next += T::kTileK, w_k_next += T::kTileK;
  };

  // ---- fragment addresses -------------------------------------------------------------
  // x: lane (g, t) reads 8 bytes (K 4t..4t+3 of the k16 step) of rows g and g + 8 of each
  // m16 fragment: chunk 2 ks + t / 2, byte 8 (t % 2) inside it.
  const int a_row = warp_m + g, a_chunk = t / 2;
  const dev::u32 a_byte = 8 * (t % 2);
  // q (x4): matrix i = rows 8 i..8 i + 7 of four n8 tiles, chunk ks. Lane l gives row l % 8 + 8 (l / 8).
  const int w_frag_row = warp_n + lane % 8 + 8 * (lane / 8);
  // Unquantized w, standard layout. x (x4): matrices (rows 0-7, K 0-7), (8-15, 0-7),
  // (0-7, 8-15), (8-15, 8-15) of the m16 fragment = a[0..3]: lane l gives row l % 16, chunk
  // 2 ks + l / 16. w (x4): (n8 tile j, K 0-7), (j, 8-15), (j + 1, 0-7), (j + 1, 8-15) =
  // b[0], b[1] of tiles j and j + 1: lane l gives row 8 j + l % 8 + 8 (l / 16), chunk
  // 2 ks + (l / 8) % 2.
  const int a_ldm_row = warp_m + lane % 16, a_ldm_chunk = lane / 16;
  const int b_ldm_row = warp_n + lane % 8 + 8 * (lane / 16), b_ldm_chunk = (lane / 8) % 2;

  // ---- weight scales of this lane's columns n0 + warp_n + 8 j + g ------------------------
  int col[T::kFragsN];  // (kFragsN): this lane's B column per n8 tile
#pragma unroll
  for (int j = 0; j < T::kFragsN; ++j) col[j] = n0 + warp_n + 8 * j + g;
  const int k_blocks = (k + 127) / 128;
  // The scales of 128-K block `kb` (per_tensor and per_channel: the same for every block).
  // Columns past N get 0: their q rows are zero-filled and never stored.
  auto load_scales = [&](float (&s)[T::kFragsN], int kb) {
#pragma unroll
    for (int j = 0; j < T::kFragsN; ++j) {
      if constexpr (T::kFloatW) s[j] = 1.0f;  // unused
      else if constexpr (T::kScaleW == kWoScalePerTensor) s[j] = scale_w[0];
      else if constexpr (T::kScaleW == kWoScalePerChannel) s[j] = col[j] < n ? scale_w[col[j]] : 0.0f;
      else s[j] = col[j] < n ? scale_w[(col[j] / 128) * k_blocks + kb] : 0.0f;
    }
  };
  float sc[T::kFragsN];       // (kFragsN): the scales of the current K-tile
  float sc_next[T::kFragsN];  // block128: the next 128-K block's, loaded one block ahead
  load_scales(sc, 0);
  if constexpr (T::kScaleW == kWoScaleBlock128) {
    if (k_blocks > 1) load_scales(sc_next, 1);
  }

  float acc[T::kFragsM][T::kFragsN][4];  // (kFragsM, kFragsN, 4)
#pragma unroll
  for (int i = 0; i < T::kFragsM; ++i)
#pragma unroll
    for (int j = 0; j < T::kFragsN; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.0f;

  // ---- the pipeline: kStages - 1 tiles in flight ahead of the one being multiplied -----
#pragma unroll
  for (int s = 0; s < T::kStages - 1; ++s) {
    if (s < k_tiles) load_next_tile(s);
    ptx::cp_async_commit();  // NOTE: always commit, so group counting stays uniform
  }
  int read_stage = 0, write_stage = T::kStages - 1;
  for (int tile = 0; tile < k_tiles; ++tile) {
    if constexpr (T::kScaleW == kWoScaleBlock128) {
      // A new 128-K block: its scales were loaded a block ago; fetch the next block's.
      const int kb = tile * T::kTileK / 128;
      if (tile > 0 && (tile * T::kTileK) % 128 == 0) {
#pragma unroll
        for (int j = 0; j < T::kFragsN; ++j) sc[j] = sc_next[j];
        if (kb + 1 < k_blocks) load_scales(sc_next, kb + 1);
      }
    }
    ptx::cp_async_wait<T::kStages - 2>();  // this thread's copies of `tile` have landed
    ptx::bar_sync();                       // ... everyone's; and `write_stage` is read out
    if (tile + T::kStages - 1 < k_tiles) load_next_tile(write_stage);
    ptx::cp_async_commit();

    const dev::u32 x_stage = smem_x + read_stage * T::kStageBytesX;
    const dev::u32 w_stage = smem_w + read_stage * T::kStageBytesW;
#pragma unroll
    for (int ks = 0; ks < T::kKSteps; ++ks) {
      // NOTE: a k16 step wholly past K is skipped rather than multiplied by zeros, so every
      // config (whatever kTileK) runs exactly the k16 steps 0 .. K / 16 - 1.
      if (tile * T::kTileK + ks * 16 >= k) break;
      dev::u32 af[T::kFragsM][4];  // (kFragsM, 4): a[0..3] of each m16 fragment
      if constexpr (T::kFloatW) {
#pragma unroll
        for (int i = 0; i < T::kFragsM; ++i)
          ptx::ldmatrix_x4(af[i], x_stage + x_swizzled<T>(a_ldm_row + 16 * i, 2 * ks + a_ldm_chunk));
#pragma unroll
        for (int j = 0; j < T::kFragsN; j += 2) {
          dev::u32 b[4];  // b[0], b[1] of n8 tile j, then of tile j + 1
          ptx::ldmatrix_x4(b, w_stage + w_swizzled<T>(b_ldm_row + 8 * j, 2 * ks + b_ldm_chunk));
          const dev::u32 b0[2] = {b[0], b[1]}, b1[2] = {b[2], b[3]};
#pragma unroll
          for (int i = 0; i < T::kFragsM; ++i) {
            ptx::mma_m16n8k16_f32<T::kAct>(acc[i][j], af[i], b0);
            ptx::mma_m16n8k16_f32<T::kAct>(acc[i][j + 1], af[i], b1);
          }
        }
      } else {
#pragma unroll
        for (int i = 0; i < T::kFragsM; ++i) {
          dev::u32 lo[2], hi[2];
          ptx::lds_v2_u32(lo, x_stage + x_swizzled<T>(a_row + 16 * i, 2 * ks + a_chunk) + a_byte);
          ptx::lds_v2_u32(hi, x_stage + x_swizzled<T>(a_row + 16 * i + 8, 2 * ks + a_chunk) + a_byte);
          af[i][0] = lo[0], af[i][1] = hi[0], af[i][2] = lo[1], af[i][3] = hi[1];
        }
        // NOTE: q fragments are loaded four n8 tiles at a time and dequantized just before
        // use, which keeps few registers live.
#pragma unroll
        for (int j = 0; j < T::kFragsN; j += 4) {
          dev::u32 q[4];
          ptx::ldmatrix_x4(q, w_stage + w_swizzled<T>(w_frag_row + 8 * j, ks));
#pragma unroll
          for (int jj = 0; jj < 4; ++jj) {
            dev::u32 b[2];
            dequantize_fragment<T>(q[jj], sc[j + jj], b);
#pragma unroll
            for (int i = 0; i < T::kFragsM; ++i) ptx::mma_m16n8k16_f32<T::kAct>(acc[i][j + jj], af[i], b);
          }
        }
      }
    }
    read_stage = read_stage == T::kStages - 1 ? 0 : read_stage + 1;
    write_stage = write_stage == T::kStages - 1 ? 0 : write_stage + 1;
  }
  ptx::cp_async_wait<0>();  // only empty groups remain; leave nothing in flight

  // ---- epilogue: this lane holds rows g, g + 8 and columns 2t, 2t + 1 of each fragment ----
  const int t2 = 2 * t;
#pragma unroll
  for (int j = 0; j < T::kFragsN; ++j) {
    const int c = n0 + warp_n + 8 * j + t2;
    if (c >= n) continue;  // NOTE: N % 16 == 0 and c is even: c + 1 < N too
    float b0 = 0.0f, b1 = 0.0f;
    if constexpr (T::kHasBias) b0 = bias_at<T::kBias>(bias, c), b1 = bias_at<T::kBias>(bias, c + 1);
#pragma unroll
    for (int i = 0; i < T::kFragsM; ++i)
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int row = m0 + warp_m + 16 * i + g + 8 * h;
        if (row >= m) continue;
        // The reference's fmaf(acc, 1, bias): one rounding of acc + bias (+0 without bias).
        float v0 = ptx::add_rn(acc[i][j][2 * h], b0);
        float v1 = ptx::add_rn(acc[i][j][2 * h + 1], b1);
        if constexpr (T::kGelu) v0 = gelu_tanh(v0), v1 = gelu_tanh(v1);
        store_pair<T::kOut>(y, row * y_ld + c, v0, v1);
      }
  }
}

}  // namespace qjit::kernels
