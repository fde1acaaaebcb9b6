#pragma once
// Internal to the tensor implementation: element conversion and strided iteration on host
// memory, shared by tensor.cpp, tensor_copy.cpp and tensor_print.cpp.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/dtype.hpp"

namespace qjit::tensor_detail {

// One element at `p` as f32 (exact for every dtype but int32 beyond 2^24).
float load_f32(const std::byte* p, DType dtype);
// Stores `value` at `p` rounded to the float dtype `dtype` (RNE; fp8 overflow per satfinite).
void store_f32(std::byte* p, DType dtype, float value, bool satfinite);

// Calls fn(element_offset) for every element of a strided view in row-major order, where
// element_offset = offset + sum(index[i] * strides[i]).
template <typename Fn>
void for_each_offset(const std::vector<std::int64_t>& shape, const std::vector<std::int64_t>& strides,
                     std::int64_t offset, Fn&& fn) {
  for (std::int64_t s : shape) {
    if (s == 0) return;
  }
  const std::size_t nd = shape.size();
  if (nd == 0) {
    fn(offset);
    return;
  }
  // An odometer over all dims but the last; the last runs as a plain loop.
  std::vector<std::int64_t> index(nd, 0);
  std::int64_t base = offset;
  const std::int64_t inner = shape[nd - 1];
  const std::int64_t inner_stride = strides[nd - 1];
  while (true) {
    for (std::int64_t i = 0; i < inner; ++i) fn(base + i * inner_stride);
    std::size_t d = nd - 1;
    while (true) {
      if (d == 0) return;
      --d;
      if (++index[d] < shape[d]) {
        base += strides[d];
        break;
      }
      base -= (shape[d] - 1) * strides[d];
      index[d] = 0;
    }
  }
}

}  // namespace qjit::tensor_detail
