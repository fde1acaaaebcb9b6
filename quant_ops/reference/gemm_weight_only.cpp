// The weight-only main loop: f16/bf16 activations times weights dequantized to the
// activation dtype, summed sequentially in fp32.

#include <cstdint>

#include "quant_ops/reference/gemm_accumulate.hpp"
#include "quant_ops/reference/quantize_value.hpp"

namespace qjit::reference::detail {

std::vector<float> weight_only_accumulate(const GemmProblem& p) {
  const ActView& x = p.act_float;
  std::vector<float> xf(static_cast<std::size_t>(p.m * p.k));
  for (std::int64_t m = 0; m < p.m; ++m) {
    for (std::int64_t k = 0; k < p.k; ++k) xf[static_cast<std::size_t>(m * p.k + k)] = x.at(m, k);
  }
  // decode(q) * scale in fp32 (one rounding), then rounded to the activation dtype: the
  // value the GPU kernel feeds its f16/bf16 mma with.
  std::vector<float> wf(static_cast<std::size_t>(p.n * p.k));
  for (std::int64_t n = 0; n < p.n; ++n) {
    for (std::int64_t k = 0; k < p.k; ++k) {
      const std::size_t i = static_cast<std::size_t>(n * p.k + k);
      const float deq = dequantize_value(p.weight.qtype, p.weight.q[i], operand_scale(p.weight, p.k, n, k));
      wf[i] = round_to_dtype(deq, x.dtype);
    }
  }
  std::vector<float> acc(static_cast<std::size_t>(p.m * p.n));
  for (std::int64_t m = 0; m < p.m; ++m) {
    for (std::int64_t n = 0; n < p.n; ++n) {
      const float* a = xf.data() + m * p.k;
      const float* w = wf.data() + n * p.k;
      // NOTE: a product of two f16 or two bf16 values is exact in fp32 (at most 22
      // significant bits, exponents within range); only the additions round.
      float sum = 0.0f;
      for (std::int64_t k = 0; k < p.k; ++k) {
        const float product = a[k] * w[k];
        sum = sum + product;
      }
      acc[static_cast<std::size_t>(m * p.n + n)] = sum;
    }
  }
  return acc;
}

}  // namespace qjit::reference::detail
