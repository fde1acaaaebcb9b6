#pragma once
// Shared-memory stores at a 32-bit shared-window address (what ptx::smem_u32 gives), for
// tiles that registers fill (cp.async cannot transform data on the way).

#include "qjit/types.cuh"

namespace qjit::ptx {

__device__ __forceinline__ void sts_u32(dev::u32 addr, dev::u32 v) {
  asm volatile("st.shared.u32 [%0], %1;" ::"r"(addr), "r"(v) : "memory");
}

// Two 32-bit words at an 8-byte aligned address: one 8-byte access per lane.
__device__ __forceinline__ void sts_v2_u32(dev::u32 addr, dev::u32 lo, dev::u32 hi) {
  asm volatile("st.shared.v2.u32 [%0], {%1, %2};" ::"r"(addr), "r"(lo), "r"(hi) : "memory");
}

}  // namespace qjit::ptx
