#include "runtime/ops/norm_mod_reference.hpp"

#include <cmath>
#include <vector>

#include "common/error.hpp"

namespace qjit::ops {

namespace {
constexpr std::int64_t kLanes = 32;

std::vector<float> host_floats(const std::optional<Tensor>& t) {
  return t ? t->to(Device::cpu()).contiguous().to_f32_vector() : std::vector<float>{};
}
}  // namespace

float ordered_sum(const float* v, std::int64_t n) {
  float partial[kLanes] = {};
  for (std::int64_t i = 0; i < n; ++i) partial[i % kLanes] = partial[i % kLanes] + v[i];
  float s = partial[0];
  for (std::int64_t l = 1; l < kLanes; ++l) s = s + partial[l];
  return s;
}

Tensor norm_mod_reference(const Tensor& x2d, const NormModArgs& p, DType out) {
  QJIT_CHECK_GEN("norm_mod", x2d.dim() == 2 && x2d.device().is_host(), "the reference takes cpu rows [M, D], got {}",
                 x2d.describe());
  const std::int64_t m = x2d.size(0), d = x2d.size(1);
  const std::vector<float> x = x2d.contiguous().to_f32_vector();  // exact for f16 / bf16
  const std::vector<float> w = host_floats(p.weight), shift = host_floats(p.shift), scale = host_floats(p.scale);
  QJIT_CHECK_GEN("norm_mod", p.kind == NormKind::kLayerNorm || !w.empty(), "RMSNorm needs its weight");
  const std::int64_t batches = static_cast<std::int64_t>(shift.size()) / d;
  QJIT_CHECK_GEN("norm_mod", batches >= 1 && scale.size() == shift.size() && m % batches == 0,
                 "shift / scale of {} rows do not divide {} rows", batches, m);
  const std::int64_t rows_per_batch = m / batches;
  std::vector<float> y(static_cast<std::size_t>(m * d)), tmp(static_cast<std::size_t>(d));
  const float dn = static_cast<float>(d);
  for (std::int64_t r = 0; r < m; ++r) {
    const float* row = x.data() + r * d;
    const float* sh = shift.data() + (r / rows_per_batch) * d;
    const float* sc = scale.data() + (r / rows_per_batch) * d;
    float mean = 0.0f;
    if (p.kind == NormKind::kLayerNorm) {
      mean = ordered_sum(row, d) / dn;
      for (std::int64_t i = 0; i < d; ++i) {
        const float dv = row[i] - mean;
        tmp[i] = dv * dv;
      }
    } else {
      for (std::int64_t i = 0; i < d; ++i) tmp[i] = row[i] * row[i];
    }
    const float stat = ordered_sum(tmp.data(), d) / dn;
    const float rstd = 1.0f / std::sqrt(stat + p.eps);
    for (std::int64_t i = 0; i < d; ++i) {
      float n = p.kind == NormKind::kLayerNorm ? (row[i] - mean) * rstd : row[i] * rstd;
      if (!w.empty()) n = n * w[i];
      const float mod = n * (1.0f + sc[i]);
      y[r * d + i] = mod + sh[i];
    }
  }
  return Tensor::from_f32({m, d}, y, out);
}

}  // namespace qjit::ops
