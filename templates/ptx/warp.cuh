#pragma once
// Warp-collective wrappers.

namespace qjit::ptx {

__device__ __forceinline__ float shfl_xor(float v, int lane_mask, unsigned member_mask = 0xffffffffu) {
  float d;
  asm volatile("shfl.sync.bfly.b32 %0, %1, %2, 0x1f, %3;"
               : "=f"(d)
               : "f"(v), "r"(lane_mask), "r"(member_mask));
  return d;
}

__device__ __forceinline__ void bar_sync() { asm volatile("bar.sync 0;" ::: "memory"); }

}  // namespace qjit::ptx
