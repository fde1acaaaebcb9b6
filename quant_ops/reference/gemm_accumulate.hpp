#pragma once
// Internal to the reference GEMM: the main loop of each family, from a validated problem to
// the fp32 accumulators [M, N] that enter the epilogue. The summation orders are the ones
// gemm.hpp documents.

#include <vector>

#include "quant_ops/reference/gemm.hpp"

namespace qjit::reference::detail {

/// float(Σ_k qa·qw) with the int32 sum exact (int8 family).
std::vector<float> int8_accumulate(const GemmProblem& p);
/// Products summed per 128-K block, blocks added in order (fp8 family).
std::vector<float> fp8_accumulate(const GemmProblem& p);
/// As fp8_accumulate, each block's sum scaled by scale_a[m, g] * scale_w[n / 128, g].
std::vector<float> block_fp8_accumulate(const GemmProblem& p);
/// x times the dequantized weight rounded to x's dtype, summed sequentially.
std::vector<float> weight_only_accumulate(const GemmProblem& p);

/// The scale of operand o (K = cols) that applies to its element (row, col).
float operand_scale(const QuantOperand& o, std::int64_t cols, std::int64_t row, std::int64_t col);

}  // namespace qjit::reference::detail
