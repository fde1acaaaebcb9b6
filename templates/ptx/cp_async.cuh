#pragma once
// Asynchronous global -> shared copies (sm_80+). A copy lands only once a wait_group covers
// the group it was committed in; the barrier after the wait makes it visible to other warps.

#include "qjit/types.cuh"

namespace qjit::ptx {

// Copies 16 bytes from global `src` to shared address `dst`, reading only `src_bytes` of
// them (0 or 16) and zero-filling the rest. NOTE: with src_bytes == 0 nothing is read, but
// `src` must still be a valid, 16-byte aligned global address.
__device__ __forceinline__ void cp_async_16(dev::u32 dst, const void* src, dev::u32 src_bytes) {
  // .cg: cache in L2 only; the tiles are read once per CTA and reused from shared memory.
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(dst), "l"(src), "r"(src_bytes) : "memory");
}

__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;" ::: "memory"); }

// Waits until at most kPending of this thread's committed groups are still in flight.
template <int kPending>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;" ::"n"(kPending) : "memory");
}

}  // namespace qjit::ptx
