#pragma once
// ldmatrix with .trans: a warp loads four 8x8 matrices of 16-bit elements from shared memory
// stored row-major and receives them transposed, i.e. lane l (g = l / 4, t = l % 4) holds
// elements (rows 2t, 2t + 1; column g) of each. That is an mma B fragment (K x N,
// "column-major") read from a K-major tile, e.g. flash attention's V [keys, dims] as the B
// operand of P V. Lanes 8i..8i+7 give the row addresses of matrix i; register i holds it.

#include "qjit/types.cuh"

namespace qjit::ptx {

__device__ __forceinline__ void ldmatrix_x4_trans(dev::u32 (&r)[4], dev::u32 smem_row_addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_row_addr));
}

}  // namespace qjit::ptx
