#pragma once
// Bit and byte manipulation.

#include "qjit/types.cuh"

namespace qjit::ptx {

// prmt.b32: byte i of the result is byte (sel >> 4i) & 7 of the 8 bytes {b, a} (a = bytes
// 0-3, b = bytes 4-7).
template <dev::u32 kSel>
__device__ __forceinline__ dev::u32 prmt(dev::u32 a, dev::u32 b) {
  dev::u32 d;
  asm("prmt.b32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "n"(kSel));
  return d;
}

}  // namespace qjit::ptx
