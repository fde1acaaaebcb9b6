// The fp8 and block-fp8 main loops: fp32 sums within each 128-wide K block, promoted to the
// fp32 accumulator block by block (DeepGEMM's order).

#include <algorithm>
#include <array>
#include <cstdint>

#include "quant_ops/reference/gemm_accumulate.hpp"
#include "quant_ops/reference/quantize_value.hpp"

namespace qjit::reference::detail {

namespace {

// Every code of an operand decoded once: [rows, K] fp32, exact.
std::vector<float> decode_operand(const QuantOperand& o) {
  std::array<float, 256> table{};
  for (int b = 0; b < 256; ++b) table[b] = decode_value(o.qtype, static_cast<std::uint8_t>(b));
  std::vector<float> out(o.q.size());
  for (std::size_t i = 0; i < o.q.size(); ++i) out[i] = table[o.q[i]];
  return out;
}

// Σ a[k] * w[k] for k in [k0, k1), sequentially from +0. NOTE: each product of two fp8
// values is exact in fp32 (at most 8 significant bits, exponents within range), so the only
// roundings are the additions, one per k.
float block_sum(const float* a, const float* w, std::int64_t k0, std::int64_t k1) {
  float sum = 0.0f;
  for (std::int64_t k = k0; k < k1; ++k) {
    const float product = a[k] * w[k];
    sum = sum + product;
  }
  return sum;
}

struct Decoded {
  std::vector<float> a;  // [M, K]
  std::vector<float> w;  // [N, K]
};

Decoded decode(const GemmProblem& p) { return {decode_operand(p.act), decode_operand(p.weight)}; }

}  // namespace

std::vector<float> fp8_accumulate(const GemmProblem& p) {
  const Decoded d = decode(p);
  std::vector<float> acc(static_cast<std::size_t>(p.m * p.n));
  for (std::int64_t m = 0; m < p.m; ++m) {
    for (std::int64_t n = 0; n < p.n; ++n) {
      const float* a = d.a.data() + m * p.k;
      const float* w = d.w.data() + n * p.k;
      float total = 0.0f;
      for (std::int64_t k0 = 0; k0 < p.k; k0 += kKBlock) {
        const float block = block_sum(a, w, k0, std::min(p.k, k0 + kKBlock));
        total = total + block;  // NOTE: the promotion: one fp32 addition per 128-K block
      }
      acc[static_cast<std::size_t>(m * p.n + n)] = total;
    }
  }
  return acc;
}

std::vector<float> block_fp8_accumulate(const GemmProblem& p) {
  const Decoded d = decode(p);
  std::vector<float> acc(static_cast<std::size_t>(p.m * p.n));
  for (std::int64_t m = 0; m < p.m; ++m) {
    for (std::int64_t n = 0; n < p.n; ++n) {
      const float* a = d.a.data() + m * p.k;
      const float* w = d.w.data() + n * p.k;
      float total = 0.0f;
      for (std::int64_t k0 = 0; k0 < p.k; k0 += kKBlock) {
        const float partial = block_sum(a, w, k0, std::min(p.k, k0 + kKBlock));
        // NOTE: the two scales are multiplied first, then the partial: two roundings, no fma.
        const float s = operand_scale(p.act, p.k, m, k0) * operand_scale(p.weight, p.k, n, k0);
        const float scaled = partial * s;
        total = total + scaled;
      }
      acc[static_cast<std::size_t>(m * p.n + n)] = total;
    }
  }
  return acc;
}

}  // namespace qjit::reference::detail
