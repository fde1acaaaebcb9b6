#pragma once
// The reference GEMM of every family (DESIGN.md section 5): y[M, N] = epilogue(Σ_k a[m,k] w[n,k])
// with activations [M, K] and weights [N, K], both K-contiguous. Plain C++ whose every
// operation is one IEEE fp32 rounding (the project compiles with -ffp-contract=off), in the
// summation order each family fixes below. Every device's GEMM is tested against this, and
// `qjit linear` runs it on the `cpu` device.
//
// Families (picked from the operands' qtypes and granularities by gemm_family()):
// - kInt8 (W8A8 int8): acc = Σ_k qa·qw exactly in int32; epilogue with
//   s = scale_a[m or 0] * scale_w[n or 0]. Bit-identical on every device without GELU.
// - kFp8 (W8A8 fp8, any e4m3/e5m2 pair): the products of the decoded values (exact in fp32)
//   are summed in fp32 sequentially k = k0..k0+127 within each 128-wide K block, starting
//   from +0; each block's sum is then added to the fp32 accumulator (starting from +0), block
//   after block (promotion every 128 K, as DeepGEMM does). Epilogue s as for int8.
// - kBlockFp8 (block128 weights, group128 activations, fp8): each block g's partial sum (as
//   kFp8) is multiplied by (scale_a[m, g] * scale_w[n / 128, g]) — the two scales multiplied
//   first, then the partial — and added to the accumulator; epilogue with s = 1.
// - kWeightOnly (act none, f16/bf16 activations, int8 or fp8 weights of any weight
//   granularity): w = round_to_act_dtype(decode(q) * scale) (the fp32 dequantized weight
//   rounded to the activation dtype, as the GPU kernel feeds the f16/bf16 mma with it); the
//   products x·w (exact in fp32) are summed in fp32 plainly sequentially k = 0..K-1 from +0;
//   epilogue with s = 1. NOTE: the tensor-core kernels sum in another order, so this family
//   is compared with devices by NMSE, never bit for bit.
// Epilogue (epilogue.hpp): y = fmaf(float(acc), s, bias[n]); optional GELU-tanh; rounding to
// the output dtype. A zero activation row gives exactly act(bias); a NaN scale gives NaN
// outputs (its group's q are 0, and 0 * NaN is NaN).

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "common/qtype.hpp"
#include "quant_ops/reference/act_quant.hpp"
#include "quant_ops/reference/epilogue.hpp"
#include "quant_ops/reference/weight_quant.hpp"

namespace qjit::reference {

/// The K extent of one fp8 promotion block and of one group128 / block128 scale.
inline constexpr std::int64_t kKBlock = 128;
/// Largest K for which 127 * 127 * K fits in int32: the int8 family rejects larger K.
inline constexpr std::int64_t kMaxInt8K = 2147483647 / (127 * 127);  // 133144

/// A quantized operand [rows, K] with its scales in the logical layout of DESIGN.md
/// section 5. Not owning.
struct QuantOperand {
  QType qtype = QType::kNone;
  Granularity granularity = Granularity::kPerTensor;
  std::span<const std::uint8_t> q;  // [rows, K] row-major: int8 two's complement bytes or fp8 codes
  std::span<const float> scales;    // per_token/per_channel [rows], per_tensor [1],
                                    // group128 [rows, ceil(K/128)], block128 [ceil(rows/128), ceil(K/128)]

  static QuantOperand of(const QuantizedActs& a);
  static QuantOperand of(const QuantizedWeights& w);
  static QuantOperand of(QuantizedActs&&) = delete;  // would point into a temporary
  static QuantOperand of(QuantizedWeights&&) = delete;
};

/// One GEMM problem. Not owning: every pointer and span must outlive reference_gemm().
struct GemmProblem {
  std::int64_t m = 0;  // rows of activations and output (tokens)
  std::int64_t n = 0;  // rows of weights, columns of output (channels)
  std::int64_t k = 0;  // reduction extent
  QuantOperand act;    // quantized activations; qtype kNone: weight-only, see act_float
  ActView act_float;   // weight-only: activations [M, K], f16 or bf16 (ignored otherwise)
  QuantOperand weight;
  GemmEpilogue epilogue;
};

/// A W8A8 problem (int8, fp8 or block-fp8) on quantized activations and weights, which must
/// outlive it (the problem points into them; temporaries are rejected at compile time).
GemmProblem make_gemm_problem(const QuantizedActs& a, const QuantizedWeights& w, const GemmEpilogue& e = {});
/// A weight-only problem on f16 / bf16 activations x [M, K].
GemmProblem make_gemm_problem(const ActView& x, const QuantizedWeights& w, const GemmEpilogue& e = {});
GemmProblem make_gemm_problem(QuantizedActs&&, const QuantizedWeights&, const GemmEpilogue& = {}) = delete;
GemmProblem make_gemm_problem(const QuantizedActs&, QuantizedWeights&&, const GemmEpilogue& = {}) = delete;
GemmProblem make_gemm_problem(QuantizedActs&&, QuantizedWeights&&, const GemmEpilogue& = {}) = delete;
GemmProblem make_gemm_problem(const ActView&, QuantizedWeights&&, const GemmEpilogue& = {}) = delete;

enum class GemmFamily { kInt8, kFp8, kBlockFp8, kWeightOnly };

/// Names: int8, fp8, block_fp8, weight_only.
std::string_view gemm_family_name(GemmFamily f);
/// The family that computes p, from its qtypes and granularities. Throws qjit::Error naming
/// the combination when none does (int8 x fp8, block scales outside fp8, group128
/// activations with non-block weights, ...).
GemmFamily gemm_family(const GemmProblem& p);

/// The output of a GEMM, owning.
struct GemmOutput {
  DType dtype = DType::kBF16;       // the epilogue's out_dtype
  std::int64_t rows = 0;            // M
  std::int64_t cols = 0;            // N
  std::vector<float> values;        // [M, N] row-major, each exactly representable in dtype
  std::vector<std::uint16_t> bits;  // f16 / bf16: the stored bit patterns [M, N]; f32: empty
};

/// The reference result of p. Validates everything first (family, shapes, sizes of q and
/// scales, epilogue dtypes, int8 K <= kMaxInt8K) and throws qjit::Error naming what is wrong.
GemmOutput reference_gemm(const GemmProblem& p);

/// The ideal result without any quantization: y = x · w^T + bias in float64, then GELU-tanh
/// in float64 when e asks for it (e's out_dtype is ignored). x [M, K] and w [N, K] are float
/// views (f32, f16 or bf16). For NMSE measurements.
std::vector<double> ideal_gemm(const ActView& x, const WeightView& w, const GemmEpilogue& e);

/// Normalized mean squared error Σ (got - want)^2 / Σ want^2 over all elements, in float64.
/// NaN and Inf: a position where both are NaN, or both the same infinity, matches and is
/// skipped; a NaN or an infinity on one side only gives +Inf (so any bound fails). A zero
/// denominator gives 0 when the numerator is 0, else +Inf. Throws qjit::Error when the sizes
/// differ.
double nmse(const std::vector<float>& got, const std::vector<double>& want);

}  // namespace qjit::reference
