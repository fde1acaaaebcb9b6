#pragma once
// Gaussian test tensors: N(0, sigma^2) values from a seeded mt19937, rounded to `dtype`; what
// the cpu device's GEMM and linear tests feed.

#include <cstdint>
#include <random>
#include <vector>

#include "runtime/tensor.hpp"

namespace qjit::test {

inline Tensor randn(std::vector<std::int64_t> shape, DType dtype, unsigned seed, float sigma = 1.0f) {
  std::int64_t n = 1;
  for (auto s : shape) n *= s;
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, sigma);
  std::vector<float> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = normal(rng);
  return Tensor::from_vector<float>(std::move(shape), v, dtype);
}

}  // namespace qjit::test
