#pragma once
// Shared-memory addressing: the 32-bit shared-window address of a generic pointer, which
// cp.async, ldmatrix and st.shared take.

#include "qjit/types.cuh"

namespace qjit::ptx {

__device__ __forceinline__ dev::u32 smem_u32(const void* p) {
  dev::u32 r;
  asm("{ .reg .u64 a; cvta.to.shared.u64 a, %1; cvt.u32.u64 %0, a; }" : "=r"(r) : "l"(p));
  return r;
}

}  // namespace qjit::ptx
