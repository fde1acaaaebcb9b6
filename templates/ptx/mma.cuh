#pragma once
// Warp-level tensor-core mma.sync, m16n8k32 with 8-bit inputs (and m16n8k16 with f16/bf16
// inputs, below), A row-major (M x K), B column-major (K x N, i.e. stored N x K as the
// weights are), C/D 16x8.
// Fragments (PTX ISA, "Matrix Fragments for mma.m16n8k32"), per lane, groupID g = lane / 4,
// t = lane % 4:
//   a[4]: a[0] rows g, K bytes 4t..4t+3; a[1] row g+8; a[2] row g, K 16+4t..; a[3] row g+8, K 16+4t..
//   b[2]: b[0] column g, K 4t..4t+3;   b[1] column g, K 16+4t..
//   d[4]: d[0], d[1] row g, columns 2t, 2t+1; d[2], d[3] row g+8, the same columns.

#include "qjit/types.cuh"

namespace qjit::ptx {

// int8 x int8 -> int32, exact (wraps on overflow, which the host rules out by bounding K).
// sm_80+.
__device__ __forceinline__ void mma_m16n8k32_s8(dev::i32 (&d)[4], const dev::u32 (&a)[4], const dev::u32 (&b)[2]) {
  asm("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
               "{%0, %1, %2, %3};"
               : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

// bf16 x bf16 or f16 x f16 -> f32, m16n8k16 (sm_80+). kT: kBF16 or kF16. Fragments (PTX ISA,
// "Matrix Fragments for mma.m16n8k16 with floating point type"), two 16-bit elements per
// register, the lower K index in the lower half:
//   a[4]: a[0] row g, K 2t, 2t+1; a[1] row g+8; a[2] row g, K 8+2t, 9+2t; a[3] row g+8, K 8+2t..
//   b[2]: b[0] column g, K 2t, 2t+1; b[1] column g, K 8+2t, 9+2t
//   d[4]: as for m16n8k32.
template <dev::DType kT>
__device__ __forceinline__ void mma_m16n8k16_f32(float (&d)[4], const dev::u32 (&a)[4], const dev::u32 (&b)[2]) {
  static_assert(kT == dev::DType::kBF16 || kT == dev::DType::kF16, "mma_m16n8k16_f32 takes bf16 or f16 operands");
#define QJIT_MMA_16(T)                                                                                          \
  asm("mma.sync.aligned.m16n8k16.row.col.f32." T "." T ".f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, " \
      "{%0, %1, %2, %3};"                                                                                       \
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])                                                          \
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]))
  if constexpr (kT == dev::DType::kBF16) QJIT_MMA_16("bf16");
  else QJIT_MMA_16("f16");
#undef QJIT_MMA_16
}

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
#define QJIT_HAS_FP8_MMA 1
// fp8 x fp8 -> fp32 accumulate into d (sm_89+). kA / kB: e4m3 or e5m2, any pairing.
template <dev::DType kA, dev::DType kB>
__device__ __forceinline__ void mma_m16n8k32_fp8(float (&d)[4], const dev::u32 (&a)[4], const dev::u32 (&b)[2]) {
  static_assert(dev::kIsFp8<kA> && dev::kIsFp8<kB>, "mma_m16n8k32_fp8 takes e4m3 or e5m2 operands");
#define QJIT_MMA_FP8(TA, TB)                                                                                  \
  asm("mma.sync.aligned.m16n8k32.row.col.f32." TA "." TB ".f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, " \
               "{%8, %9}, {%0, %1, %2, %3};"                                                                 \
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])                                              \
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]))
  if constexpr (kA == dev::DType::kE4M3 && kB == dev::DType::kE4M3) QJIT_MMA_FP8("e4m3", "e4m3");
  else if constexpr (kA == dev::DType::kE4M3) QJIT_MMA_FP8("e4m3", "e5m2");
  else if constexpr (kB == dev::DType::kE4M3) QJIT_MMA_FP8("e5m2", "e4m3");
  else QJIT_MMA_FP8("e5m2", "e5m2");
#undef QJIT_MMA_FP8
}
#else
#define QJIT_HAS_FP8_MMA 0
#endif

}  // namespace qjit::ptx
