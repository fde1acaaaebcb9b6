#pragma once
// The qgemm activations when the GEMM quantizes them itself (DESIGN.md section 5): float x
// [M, K] (f32, f16 or bf16) is read by register-staged global loads, one K-tile ahead of the
// tile being multiplied, quantized with the exact formulas of qjit/quantize.cuh and stored
// into the same swizzled shared-memory tile the cp.async path fills (cp.async cannot
// transform data). The scale is static (inv = 1 / s) or, in the fused dynamic strategy,
// computed per row by a prologue pass over the CTA's rows (amax over all of K).
// Used by impls/qgemm.cuh; T is its QGemmTraits.

#include "impls/gemm_epilogue.cuh"
#include "ptx/arith.cuh"
#include "ptx/st_shared.cuh"
#include "ptx/warp.cuh"
#include "qjit/quantize.cuh"
#include "qjit/types.cuh"

namespace qjit::kernels {

// Where the GEMM's activations come from.
enum class QGemmASource : int {
  kQuantized = 0,     // int8 / fp8 codes and their scales, copied by cp.async
  kStatic = 1,        // float x and one calibrated scale s (scale_a[0]): q = quantize(x, 1 / s)
  kDynamicFused = 2,  // float x; per-row scales from the prologue's amax pass
};

// x as f32: element `e` (0..3 or 0..7) of a 16-byte load.
template <dev::DType X>
__device__ __forceinline__ float x_element(const dev::u32 (&v)[4], int e) {
  if constexpr (X == dev::DType::kF32) return __uint_as_float(v[e]);
  else if constexpr (X == dev::DType::kBF16) return __uint_as_float(e % 2 ? v[e / 2] & 0xffff0000u : v[e / 2] << 16);
  else return ptx::f16_to_f32(static_cast<dev::u16>(e % 2 ? v[e / 2] >> 16 : v[e / 2] & 0xffffu));
}

// Four codes of quantize<Q>(x_i * inv), packed little-endian (x0 in the low byte).
// NOTE: the exact formulas of qjit/quantize.cuh, so the codes are the reference's bits.
template <dev::DType Q>
__device__ __forceinline__ dev::u32 quantize4(float x0, float x1, float x2, float x3, float inv) {
#if QJIT_HAS_CVT_FP8
  if constexpr (dev::kIsFp8<Q>) {
    // Two at a time through the packed satfinite cvt (the one dev::f32_to_fp8 uses).
    const float y0 = ptx::mul_rn(x0, inv), y1 = ptx::mul_rn(x1, inv);
    const float y2 = ptx::mul_rn(x2, inv), y3 = ptx::mul_rn(x3, inv);
    const dev::u32 lo = Q == dev::DType::kE4M3 ? ptx::f32x2_to_e4m3x2(y0, y1) : ptx::f32x2_to_e5m2x2(y0, y1);
    const dev::u32 hi = Q == dev::DType::kE4M3 ? ptx::f32x2_to_e4m3x2(y2, y3) : ptx::f32x2_to_e5m2x2(y2, y3);
    return lo | (hi << 16);
  }
#endif
  auto byte = [&](float x) { return static_cast<dev::u32>(static_cast<dev::u8>(dev::quantize<Q>(x, inv))); };
  return byte(x0) | (byte(x1) << 8) | (byte(x2) << 16) | (byte(x3) << 24);
}

// This thread's share of the float A tile: 16-byte loads at chunk `chunk` (kXPerLoad
// elements) of rows row0 + i * kXRowsPerPass. The lanes of one row are adjacent, so each
// load instruction reads whole 32-byte sectors; the kXPerLoad codes go to one 4- or 8-byte
// shared store, and the lanes of one store phase fill all 32 banks once (a phase covers
// whole swizzled rows of one 128-byte line).
template <typename T>
struct FloatATile {
  using X = dev::storage_t<T::kX>;
  static constexpr int kPasses = T::kXPasses;

  // This thread's pass-0 row at its chunk of the next tile; pass i reads i * pass_stride
  // further. NOTE: one pointer, not one per pass: the staged loads already take 4 registers
  // per pass, and f32 x on the widest tile would spill with 8 more 64-bit pointers.
  const X* src = nullptr;
  dev::i64 pass_stride = 0;  // elements: kXRowsPerPass rows
  dev::u32 rows_ok = 0;      // bit i: pass i's row exists (< M and inside the tile)
  int chunk = 0, row0 = 0;
  int k_next = 0;  // K element of this thread's chunk in the next tile to load
  int k = 0;
  dev::u32 staged[kPasses][4];  // (kXPasses, 16 bytes): the next tile's loads
  float inv[T::kASource == QGemmASource::kDynamicFused ? kPasses : 1];  // quantization multipliers
  dev::u32 finite = ~0u;  // dynamic: bit i: pass i's row had a finite amax (else its codes are 0)

  __device__ __forceinline__ void init(const void* x, dev::i64 x_ld, int m0, int m, int k_, int tid) {
    chunk = tid % T::kXChunks, row0 = tid / T::kXChunks, k = k_;
    k_next = chunk * T::kXPerLoad;
#pragma unroll
    for (int i = 0; i < kPasses; ++i) {
      const int r = row0 + i * T::kXRowsPerPass;
      rows_ok |= r < T::kTileM && m0 + r < m ? 1u << i : 0u;
    }
    // NOTE: rows past M are never dereferenced (rows_ok), so their addresses may lie past x.
    src = static_cast<const X*>(x) + static_cast<dev::i64>(m0 + row0) * x_ld + k_next;
    pass_stride = static_cast<dev::i64>(T::kXRowsPerPass) * x_ld;
  }

  // Issues the loads of the next K-tile into `staged` (zeros past M and K).
  __device__ __forceinline__ void load() {
    const bool k_ok = k_next < k;  // NOTE: K % 16 == 0: a load is wholly inside K or past it
#pragma unroll
    for (int i = 0; i < kPasses; ++i) {
      if (k_ok && (rows_ok >> i & 1u)) {
        const auto v = *reinterpret_cast<const dev::Vec<dev::u32, 4>*>(src + i * pass_stride);
#pragma unroll
        for (int w = 0; w < 4; ++w) staged[i][w] = v.v[w];
      } else {
#pragma unroll
        for (int w = 0; w < 4; ++w) staged[i][w] = 0u;
      }
    }
    src += T::kTileK;
    k_next += T::kTileK;
  }

  // Quantizes `staged` into the swizzled A tile at shared address `stage`.
  __device__ __forceinline__ void store(dev::u32 stage, float static_inv) const {
    const int byte = chunk * T::kXPerLoad;  // this thread's first code in the tile row
#pragma unroll
    for (int i = 0; i < kPasses; ++i) {
      const int r = row0 + i * T::kXRowsPerPass;
      if (T::kTileM % T::kXRowsPerPass != 0 && r >= T::kTileM) break;
      const float iv = T::kASource == QGemmASource::kDynamicFused ? inv[i] : static_inv;
      // NOTE: a row whose amax is NaN or Inf gets zero codes (its scale is NaN): quantize(0) = 0.
      const bool keep = T::kASource != QGemmASource::kDynamicFused || (finite >> i & 1u);
      dev::u32 q[2];
#pragma unroll
      for (int h = 0; h < T::kXPerLoad / 4; ++h) {
        float v[4];
#pragma unroll
        for (int e = 0; e < 4; ++e) v[e] = keep ? x_element<T::kX>(staged[i], 4 * h + e) : 0.0f;
        q[h] = quantize4<T::kQA>(v[0], v[1], v[2], v[3], iv);
      }
      const dev::u32 dst = stage + swizzled<T>(r, byte / 16) + byte % 16;
      if constexpr (T::kXPerLoad == 8) ptx::sts_v2_u32(dst, q[0], q[1]);
      else ptx::sts_u32(dst, q[0]);
    }
  }

  // Dynamic per-row scales: the NaN-propagating amax of each of this thread's rows over all
  // of K (the lanes of a row reduce with shuffles), then dynamic_scale; the scale of each
  // tile row goes to row_scale (shared, kTileM floats) for the epilogue.
  // NOTE: the same rows and chunks as load(), before any load(): src still points at K = 0.
  __device__ __forceinline__ void dynamic_scales(float* row_scale) {
    float amax[kPasses];
#pragma unroll
    for (int i = 0; i < kPasses; ++i) amax[i] = 0.0f;
    for (int kk = k_next; kk < k; kk += T::kTileK) {
      const int off = kk - k_next;
#pragma unroll
      for (int i = 0; i < kPasses; ++i) {
        if (!(rows_ok >> i & 1u)) continue;
        const auto v = *reinterpret_cast<const dev::Vec<dev::u32, 4>*>(src + i * pass_stride + off);
        dev::u32 w[4] = {v.v[0], v.v[1], v.v[2], v.v[3]};
#pragma unroll
        for (int e = 0; e < T::kXPerLoad; ++e) amax[i] = ptx::max_nan(amax[i], ptx::abs_f32(x_element<T::kX>(w, e)));
      }
    }
#pragma unroll
    for (int i = 0; i < kPasses; ++i) {
      // NOTE: every lane shuffles (rows past the tile hold 0): the lanes of a row are the
      // kXChunks adjacent lanes sharing tid / kXChunks.
#pragma unroll
      for (int o = T::kXChunks / 2; o > 0; o /= 2) amax[i] = ptx::max_nan(amax[i], ptx::shfl_xor(amax[i], o));
      const dev::GroupScale g = dev::dynamic_scale<T::kQA>(amax[i]);
      if constexpr (T::kASource == QGemmASource::kDynamicFused) inv[i] = g.inv;
      finite &= g.finite ? ~0u : ~(1u << i);
      const int r = row0 + i * T::kXRowsPerPass;
      if (chunk == 0 && r < T::kTileM) row_scale[r] = g.scale;
    }
  }
};

}  // namespace qjit::kernels
