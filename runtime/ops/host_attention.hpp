#pragma once
// Attention on the cpu device's compiled kernel (templates/host/attention.h,
// jit/impls/host_attention.hpp): bf16 q, k, v with the head dim a multiple of 16 up to 256;
// the keys packed per call in the kernel's panels, q and v read in place (last dim contiguous).

#include <cstdint>

#include "runtime/tensor.hpp"

namespace qjit {

/// Whether the cpu kernel takes these operands (checked by attention() before).
bool host_attention_supports(const Tensor& q, std::int64_t heads);
Tensor host_attention(const Tensor& q, const Tensor& k, const Tensor& v, std::int64_t heads, float scale, DType out);

}  // namespace qjit
