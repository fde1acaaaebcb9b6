#pragma once
// Device helpers shared by the GEMM families (qgemm.cuh, qgemm_wo.cuh): the XOR swizzle of
// shared-memory tiles and the epilogue pieces (GELU-tanh, bias load, paired output store).

#include "ptx/approx.cuh"
#include "ptx/arith.cuh"
#include "ptx/cvt.cuh"
#include "qjit/types.cuh"

namespace qjit::kernels {

// Byte offset of 16-byte chunk `chunk` of row `row` in a swizzled tile. NOTE: the 8 rows of
// an ldmatrix matrix (same chunk) and the 8 chunks one 8-lane cp.async phase writes land in
// 8 different 4-bank groups.
template <typename T>
__device__ __forceinline__ dev::u32 swizzled(int row, int chunk) {
  return static_cast<dev::u32>(row * T::kTileK + ((chunk ^ ((row / T::kRowsPerLine) % T::kChunks)) << 4));
}

// GELU with the tanh approximation, in the reference's order of operations
// (quant_ops/reference/epilogue.hpp): u = c * (y + 0.044715 * ((y * y) * y)),
// gelu = (0.5 * y) * (1 + tanh(u)). NOTE: tanh.approx.f32 (relative error about 2^-11)
// replaces the correctly rounded tanh, so results are compared by NMSE, never bit for bit.
__device__ __forceinline__ float gelu_tanh(float y) {
  const float y3 = ptx::mul_rn(ptx::mul_rn(y, y), y);
  const float u = ptx::mul_rn(0.7978845608028654f, ptx::add_rn(y, ptx::mul_rn(0.044715f, y3)));
  return ptx::mul_rn(ptx::mul_rn(0.5f, y), ptx::add_rn(1.0f, ptx::tanh_approx(u)));
}

template <dev::DType T>
__device__ __forceinline__ float bias_at(const void* bias, int n) {
  if constexpr (T == dev::DType::kF32) return static_cast<const float*>(bias)[n];
  else if constexpr (T == dev::DType::kF16) return ptx::f16_to_f32(static_cast<const dev::u16*>(bias)[n]);
  else return ptx::bf16_to_f32(static_cast<const dev::u16*>(bias)[n]);
}

// Stores the pair (v0, v1) at columns n, n + 1 of row `row` (n even: one 4- or 8-byte store).
template <dev::DType T>
__device__ __forceinline__ void store_pair(void* y, dev::i64 offset, float v0, float v1) {
  if constexpr (T == dev::DType::kF32) {
    dev::Vec<float, 2> v{{v0, v1}};
    *reinterpret_cast<dev::Vec<float, 2>*>(static_cast<float*>(y) + offset) = v;
  } else {
    const dev::u32 lo = T == dev::DType::kF16 ? ptx::f32_to_f16(v0) : ptx::f32_to_bf16(v0);
    const dev::u32 hi = T == dev::DType::kF16 ? ptx::f32_to_f16(v1) : ptx::f32_to_bf16(v1);
    *reinterpret_cast<dev::u32*>(static_cast<dev::u16*>(y) + offset) = lo | (hi << 16);
  }
}

}  // namespace qjit::kernels
