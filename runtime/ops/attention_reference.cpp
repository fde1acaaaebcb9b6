#include "runtime/ops/attention_reference.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace qjit::ops {

Tensor attention_reference(const Tensor& q, const Tensor& k, const Tensor& v, std::int64_t heads, float scale,
                           DType out) {
  const std::int64_t batch = q.size(0), sq = q.size(1), skv = k.size(1), width = q.size(2);
  const std::int64_t dh = width / heads;
  // to_f32_vector widens exactly (row-major, whatever the strides).
  const std::vector<float> qf = q.to_f32_vector(), kf = k.to_f32_vector(), vf = v.to_f32_vector();
  std::vector<float> o(static_cast<std::size_t>(batch * sq * width));
  std::vector<float> p(static_cast<std::size_t>(skv));
  std::vector<float> acc(static_cast<std::size_t>(dh));
  for (std::int64_t b = 0; b < batch; ++b) {
    for (std::int64_t h = 0; h < heads; ++h) {
      const std::int64_t col0 = h * dh;
      for (std::int64_t i = 0; i < sq; ++i) {
        const float* qi = qf.data() + (b * sq + i) * width + col0;
        float m = -INFINITY;
        for (std::int64_t j = 0; j < skv; ++j) {
          const float* kj = kf.data() + (b * skv + j) * width + col0;
          float dot = 0.0f;
          for (std::int64_t d = 0; d < dh; ++d) {
            const float product = qi[d] * kj[d];
            dot = dot + product;
          }
          const float s = dot * scale;
          p[static_cast<std::size_t>(j)] = s;
          m = std::isnan(s) || std::isnan(m) ? NAN : (s > m ? s : m);
        }
        float l = 0.0f;
        for (std::int64_t j = 0; j < skv; ++j) {
          float& pj = p[static_cast<std::size_t>(j)];
          pj = std::exp(pj - m);
          l = l + pj;
        }
        std::fill(acc.begin(), acc.end(), 0.0f);
        for (std::int64_t j = 0; j < skv; ++j) {
          const float* vj = vf.data() + (b * skv + j) * width + col0;
          const float pj = p[static_cast<std::size_t>(j)];
          for (std::int64_t d = 0; d < dh; ++d) {
            const float product = pj * vj[d];
            acc[static_cast<std::size_t>(d)] = acc[static_cast<std::size_t>(d)] + product;
          }
        }
        float* oi = o.data() + (b * sq + i) * width + col0;
        for (std::int64_t d = 0; d < dh; ++d) oi[d] = acc[static_cast<std::size_t>(d)] / l;
      }
    }
  }
  return Tensor::from_f32({batch, sq, width}, o, out);  // RNE to bf16 / f16, f32 as is
}

}  // namespace qjit::ops
