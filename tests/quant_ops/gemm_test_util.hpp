#pragma once
// Helpers shared by the reference GEMM tests: hand-built quantized operands and problems.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <utility>
#include <vector>

#include "quant_ops/reference/gemm.hpp"
#include "quant_ops/reference/quantize_value.hpp"

namespace qjit::reference::test {

inline constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
inline constexpr QType kFp8Types[] = {QType::kE4M3, QType::kE5M2};

// An owning quantized operand for hand-built problems.
struct Operand {
  Operand(QType qt, Granularity g = Granularity::kPerTensor, std::vector<std::uint8_t> codes = {},
          std::vector<float> s = {})
      : qtype(qt), granularity(g), q(std::move(codes)), scales(std::move(s)) {}

  QType qtype;
  Granularity granularity;
  std::vector<std::uint8_t> q;
  std::vector<float> scales;

  QuantOperand view() const { return {qtype, granularity, q, scales}; }
};

// The codes of values that the qtype represents exactly (int8: integers).
inline std::vector<std::uint8_t> codes(QType q, const std::vector<float>& values) {
  std::vector<std::uint8_t> out;
  for (float v : values) {
    out.push_back(quantize_value(q, v, 1.0f));
    EXPECT_EQ(decode_value(q, out.back()), v) << qtype_name(q) << " cannot hold " << v;
  }
  return out;
}

inline GemmEpilogue out_f32() {
  GemmEpilogue e;
  e.out_dtype = DType::kF32;
  return e;
}

inline GemmProblem problem(std::int64_t m, std::int64_t n, std::int64_t k, const Operand& a, const Operand& w,
                           const GemmEpilogue& e = out_f32()) {
  GemmProblem p;
  p.m = m;
  p.n = n;
  p.k = k;
  p.act = a.view();
  p.weight = w.view();
  p.epilogue = e;
  return p;
}

inline std::vector<float> gaussian(std::size_t count, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> out(count);
  for (float& v : out) v = dist(rng);
  return out;
}

// Random codes of finite fp8 values (no NaN codes), for order and layout tests.
inline std::vector<std::uint8_t> random_fp8_codes(QType q, std::size_t count, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::uint8_t> out(count);
  for (auto& c : out) {
    do c = static_cast<std::uint8_t>(rng()); while (!std::isfinite(decode_value(q, c)));
  }
  return out;
}

}  // namespace qjit::reference::test
