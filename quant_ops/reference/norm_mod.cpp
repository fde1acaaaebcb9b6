#include "quant_ops/reference/norm_mod.hpp"

#include <cmath>
#include <cstring>

#include "common/error.hpp"
#include "runtime/float_convert.hpp"

namespace qjit::reference {

namespace {
constexpr std::int64_t kLanes = 32;
}  // namespace

float ordered_sum(const float* v, std::int64_t n) {
  float partial[kLanes] = {};
  for (std::int64_t i = 0; i < n; ++i) partial[i % kLanes] = partial[i % kLanes] + v[i];
  float s = partial[0];
  for (std::int64_t l = 1; l < kLanes; ++l) s = s + partial[l];
  return s;
}

std::vector<float> norm_mod_f32(const ActView& x, const NormModParams& p) {
  QJIT_CHECK_GEN("quant_ops", x.dtype == DType::kF32 || x.dtype == DType::kF16 || x.dtype == DType::kBF16,
                 "norm_mod: x must be f32, f16 or bf16, got {}", dtype_name(x.dtype));
  QJIT_CHECK_GEN("quant_ops", x.rows >= 0 && x.cols >= 0 && (x.rows == 0 || x.cols == 0 || x.row_stride >= x.cols),
                 "norm_mod: bad view [{}, {}] with row stride {}", x.rows, x.cols, x.row_stride);
  QJIT_CHECK_GEN("quant_ops", p.shift != nullptr && p.scale != nullptr, "norm_mod: shift and scale are required");
  QJIT_CHECK_GEN("quant_ops", p.kind == NormKind::kLayerNorm || p.weight != nullptr,
                 "norm_mod: RMSNorm needs its weight");
  const std::int64_t d = x.cols;
  std::vector<float> y(static_cast<std::size_t>(x.rows * d));
  std::vector<float> row(static_cast<std::size_t>(d)), tmp(static_cast<std::size_t>(d));
  const float dn = static_cast<float>(d);
  for (std::int64_t r = 0; r < x.rows; ++r) {
    for (std::int64_t i = 0; i < d; ++i) row[i] = x.at(r, i);
    float mean = 0.0f, stat = 0.0f;
    if (p.kind == NormKind::kLayerNorm) {
      mean = ordered_sum(row.data(), d) / dn;
      for (std::int64_t i = 0; i < d; ++i) {
        const float dv = row[i] - mean;
        tmp[i] = dv * dv;
      }
    } else {
      for (std::int64_t i = 0; i < d; ++i) tmp[i] = row[i] * row[i];
    }
    stat = ordered_sum(tmp.data(), d) / dn;
    const float rstd = 1.0f / std::sqrt(stat + p.eps);
    for (std::int64_t i = 0; i < d; ++i) {
      const float n = p.kind == NormKind::kLayerNorm ? (row[i] - mean) * rstd : (row[i] * rstd) * p.weight[i];
      const float m = n * (1.0f + p.scale[i]);
      y[r * d + i] = m + p.shift[i];
    }
  }
  return y;
}

std::vector<std::uint8_t> norm_mod(const ActView& x, const NormModParams& p, DType out) {
  QJIT_CHECK_GEN("quant_ops", out == DType::kF32 || out == DType::kF16 || out == DType::kBF16,
                 "norm_mod: output dtype must be f32, f16 or bf16, got {}", dtype_name(out));
  const std::vector<float> y = norm_mod_f32(x, p);
  std::vector<std::uint8_t> raw(y.size() * dtype_size(out));
  if (out == DType::kF32) {
    if (!y.empty()) std::memcpy(raw.data(), y.data(), raw.size());
    return raw;
  }
  auto* bits = reinterpret_cast<std::uint16_t*>(raw.data());
  for (std::size_t i = 0; i < y.size(); ++i) bits[i] = out == DType::kF16 ? f32_to_f16(y[i]) : f32_to_bf16(y[i]);
  return raw;
}

}  // namespace qjit::reference
