#include "runtime/ops/gemm_reference.hpp"

#include <cmath>
#include <vector>

namespace qjit::ops {

float gelu_tanh_reference(float y) {
  constexpr float kSqrt2OverPi = 0.7978845608028654f;  // sqrt(2 / pi) rounded to fp32
  constexpr float kGeluCubic = 0.044715f;
  const float cube = (y * y) * y;
  const float u = kSqrt2OverPi * (y + kGeluCubic * cube);
  const float t = std::tanh(u);
  return (0.5f * y) * (1.0f + t);
}

Tensor gemm_reference(const Tensor& x, const Tensor& w, const std::optional<Tensor>& bias, bool gelu_tanh, DType out) {
  const std::int64_t m = x.size(0), k = x.size(1), n = w.size(0);
  // to_f32_vector widens exactly (row-major, whatever the strides).
  const std::vector<float> xf = x.to_f32_vector(), wf = w.to_f32_vector();
  const std::vector<float> bf = bias ? bias->to_f32_vector() : std::vector<float>(static_cast<std::size_t>(n), 0.0f);
  std::vector<float> y(static_cast<std::size_t>(m * n));
  for (std::int64_t r = 0; r < m; ++r) {
    const float* a = xf.data() + r * k;
    for (std::int64_t c = 0; c < n; ++c) {
      const float* b = wf.data() + c * k;
      float sum = 0.0f;
      for (std::int64_t i = 0; i < k; ++i) {
        const float product = a[i] * b[i];
        sum = sum + product;
      }
      // NOTE: acc + bias is the reference epilogue's fmaf(acc, 1, bias): the same one rounding.
      float v = sum + bf[static_cast<std::size_t>(c)];
      if (gelu_tanh) v = gelu_tanh_reference(v);
      y[static_cast<std::size_t>(r * n + c)] = v;
    }
  }
  return Tensor::from_f32({m, n}, y, out);  // RNE to bf16 / f16 (overflow to Inf), f32 as is
}

}  // namespace qjit::ops
