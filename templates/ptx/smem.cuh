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

// Two 32-bit words from shared address `addr` (8-byte aligned): one 8-byte access per lane.
__device__ __forceinline__ void lds_v2_u32(dev::u32 (&r)[2], dev::u32 addr) {
  asm volatile("ld.shared.v2.u32 {%0, %1}, [%2];" : "=r"(r[0]), "=r"(r[1]) : "r"(addr));
}

}  // namespace qjit::ptx
