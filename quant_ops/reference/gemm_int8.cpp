// The int8 W8A8 main loop: an exact integer dot product per output.

#include <cstdint>
#include <limits>

#include "common/error.hpp"
#include "quant_ops/reference/gemm_accumulate.hpp"

namespace qjit::reference::detail {

std::vector<float> int8_accumulate(const GemmProblem& p) {
  std::vector<float> acc(static_cast<std::size_t>(p.m * p.n));
  const std::uint8_t* a = p.act.q.data();
  const std::uint8_t* w = p.weight.q.data();
  for (std::int64_t m = 0; m < p.m; ++m) {
    for (std::int64_t n = 0; n < p.n; ++n) {
      // Summed in int64 so that the range check below sees the exact value; the order of an
      // exact sum does not matter.
      std::int64_t sum = 0;
      for (std::int64_t k = 0; k < p.k; ++k) {
        sum += std::int64_t{static_cast<std::int8_t>(a[m * p.k + k])} * static_cast<std::int8_t>(w[n * p.k + k]);
      }
      // NOTE: with K <= kMaxInt8K only a -128 code (which no quantizer writes) can get here.
      QJIT_CHECK_GEN("quant_ops",
                     sum >= std::numeric_limits<std::int32_t>::min() && sum <= std::numeric_limits<std::int32_t>::max(),
                     "int8 GEMM output ({}, {}) = {} overflows the int32 accumulator (are there -128 codes?)", m, n,
                     sum);
      // int32 -> fp32 rounds to nearest even beyond 2^24, as cvt.rn.f32.s32 does.
      acc[static_cast<std::size_t>(m * p.n + n)] = static_cast<float>(static_cast<std::int32_t>(sum));
    }
  }
  return acc;
}

}  // namespace qjit::reference::detail
