#pragma once
// Global-memory atomics.

#include "qjit/types.cuh"

namespace qjit::ptx {

// *p = max(*p, v) as unsigned 32-bit integers, without returning the old value (red: the
// memory system does the combine, no round trip to the thread).
__device__ __forceinline__ void red_max_u32(dev::u32* p, dev::u32 v) {
  asm volatile("{ .reg .u64 a; cvta.to.global.u64 a, %0; red.relaxed.gpu.global.max.u32 [a], %1; }"
               ::"l"(p), "r"(v) : "memory");
}

}  // namespace qjit::ptx
