#include "runtime/ops/elementwise_reference.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace qjit::ops {

float exp2_f32(float t) { return static_cast<float>(std::exp2(static_cast<double>(t))); }

float silu_value(float x) {
  const float t = x * kNegLog2e;
  const float e = exp2_f32(t);  // exp(-x)
  const float d = 1.0f + e;
  return x / d;
}

float gated_residual_value(float x, float y, float gate) {
  const float product = y * gate;
  return x + product;
}

Broadcast gate_broadcast(const Tensor& x, const Tensor& gate) {
  const std::int64_t d = std::max<std::int64_t>(x.size(2), 1);
  Broadcast b;
  b.inner = d;
  b.block = std::max<std::int64_t>(x.size(1) * x.size(2), 1);
  b.block_stride = gate.dim() == 1 ? 0 : d;  // [D]: one gate for every batch element
  return b;
}

Broadcast suffix_broadcast(const Tensor& b) {
  Broadcast r;
  r.inner = r.block = std::max<std::int64_t>(b.numel(), 1);
  r.block_stride = 0;
  return r;
}

Tensor silu_reference(const Tensor& x, DType out) {
  std::vector<float> v = x.to_f32_vector();  // row-major, widened exactly
  for (float& e : v) e = silu_value(e);
  return Tensor::from_f32(x.shape(), v, out);  // RNE to bf16 / f16, f32 as is
}

Tensor gated_residual_reference(const Tensor& x, const Tensor& y, const Tensor& gate, DType out) {
  std::vector<float> v = x.to_f32_vector();
  const std::vector<float> yv = y.to_f32_vector(), g = gate.to_f32_vector();
  const Broadcast bc = gate_broadcast(x, gate);
  for (std::size_t i = 0; i < v.size(); ++i) {
    const std::int64_t j = bc.index(static_cast<std::int64_t>(i));
    v[i] = gated_residual_value(v[i], yv[i], g[static_cast<std::size_t>(j)]);
  }
  return Tensor::from_f32(x.shape(), v, out);
}

Tensor add_reference(const Tensor& a, const Tensor& b, DType out) {
  std::vector<float> v = a.to_f32_vector();
  const std::vector<float> bv = b.to_f32_vector();
  const Broadcast bc = suffix_broadcast(b);
  for (std::size_t i = 0; i < v.size(); ++i) {
    v[i] = v[i] + bv[static_cast<std::size_t>(bc.index(static_cast<std::int64_t>(i)))];
  }
  return Tensor::from_f32(a.shape(), v, out);
}

}  // namespace qjit::ops
