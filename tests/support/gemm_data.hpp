#pragma once
// GEMM test data: structured random matrices, a bias and the weight-only tile configs the sim
// tests name (the qgemm_wo kernel runs the float GEMM too).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "jit/impls/qgemm_wo.hpp"
#include "runtime/tensor.hpp"

namespace qjit::test {

/// Data with some structure: a per-row magnitude, a few all-zero rows (an all-zero
/// activation row gives exactly act(bias)) and one large outlier per row.
inline std::vector<float> random_matrix(std::int64_t rows, std::int64_t cols, unsigned seed, bool zero_rows) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(rows * cols));
  for (std::int64_t r = 0; r < rows; ++r) {
    const float row_mag = 0.25f + static_cast<float>(r % 7);
    for (std::int64_t c = 0; c < cols; ++c) x[r * cols + c] = row_mag * normal(rng);
    if (cols > 0) x[r * cols + (r * 13) % cols] *= 8.0f;
    if (zero_rows && r % 5 == 3) std::fill(x.begin() + r * cols, x.begin() + (r + 1) * cols, 0.0f);
  }
  return x;
}

/// A bias [n] of `dtype`: 0.5 sin(0.7 i), rounded to dtype.
inline Tensor bias_tensor(std::int64_t n, DType dtype) {
  std::vector<float> b(static_cast<size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) b[i] = 0.5f * std::sin(0.7f * static_cast<float>(i));
  return Tensor::from_vector<float>({n}, b).to_dtype(dtype);
}

/// Weight-only (qgemm_wo) configs of four sizes: `using namespace test::wo_configs;`.
namespace wo_configs {
inline constexpr jit::impls::WeightOnlyConfig kSmall{16, 64, 64, 1, 2, 4};
inline constexpr jit::impls::WeightOnlyConfig kMedium{64, 128, 64, 1, 4, 4};
inline constexpr jit::impls::WeightOnlyConfig kLarge{128, 128, 32, 1, 4, 4};
inline constexpr jit::impls::WeightOnlyConfig kWide{128, 256, 32, 1, 8, 4};
}  // namespace wo_configs

}  // namespace qjit::test
