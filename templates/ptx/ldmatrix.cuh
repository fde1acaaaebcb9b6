#pragma once
// ldmatrix: a warp loads 8x8 matrices of 16-bit elements from shared memory, each lane
// receiving the fragment layout mma.sync expects. For 8-bit operands a "16-bit element" is
// two consecutive K values, so an 8x8 b16 matrix is 8 rows x 16 K bytes.
//   .x4: lanes 8i..8i+7 give the row addresses of matrix i; register i holds matrix i.

#include "qjit/types.cuh"

namespace qjit::ptx {

__device__ __forceinline__ void ldmatrix_x4(dev::u32 (&r)[4], dev::u32 smem_row_addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_row_addr));
}

__device__ __forceinline__ void ldmatrix_x2(dev::u32 (&r)[2], dev::u32 smem_row_addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0, %1}, [%2];"
               : "=r"(r[0]), "=r"(r[1])
               : "r"(smem_row_addr));
}

}  // namespace qjit::ptx
