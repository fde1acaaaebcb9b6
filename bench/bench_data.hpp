#pragma once
// Seeded operands for the GEMM benchmarks, built on the host (the caller moves them to its
// device): quantized codes that stay finite and small, and uniform floats.

#include <cstdint>
#include <random>
#include <vector>

#include "runtime/tensor.hpp"

namespace qjit::bench {

inline std::int64_t numel_of(const std::vector<std::int64_t>& shape) {
  std::int64_t n = 1;
  for (auto s : shape) n *= s;
  return n;
}

/// Random int8 or fp8 codes: int8 in [-127, 127]; fp8 with |value| < 2 in e4m3 (no NaN code,
/// 0x7f / 0xff), so sums stay small.
inline Tensor host_codes(std::vector<std::int64_t> shape, DType dtype, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::uint8_t> b(static_cast<std::size_t>(numel_of(shape)));
  for (auto& v : b) {
    v = static_cast<std::uint8_t>(rng());
    if (dtype != DType::kI8) v &= 0xbf;
    else if (v == 0x80) v = 0x81;
  }
  return Tensor::from_raw(std::move(shape), dtype, b.data());
}

/// Uniform floats in [lo, hi), rounded to dtype.
inline Tensor host_floats(std::vector<std::int64_t> shape, DType dtype, float lo, float hi, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(static_cast<std::size_t>(numel_of(shape)));
  for (auto& x : v) x = dist(rng);
  return Tensor::from_vector<float>(std::move(shape), v).to_dtype(dtype);
}

}  // namespace qjit::bench
