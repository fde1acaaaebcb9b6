#pragma once
// What norm_modulate (runtime/ops/norm_mod.hpp) and its fused quantized variant
// (quant_ops/norm_mod.hpp) share: the checks and the kernel launch.

#include <cstdint>
#include <string>

#include "runtime/ops/norm_mod.hpp"
#include "runtime/tensor.hpp"

namespace qjit::ops {

/// x as validated rows.
struct NormModRows {
  Tensor x2d;  // [M, D], unit stride along D
  std::int64_t m = 0, d = 0, row_stride = 0;
  std::int64_t rows_per_batch = 0;  // rows sharing one shift / scale row (M / B; M for [D])
};

/// Every check of norm_modulate (errors under "norm_mod"), before any work.
NormModRows check_norm_mod(const Tensor& x, const NormModArgs& args, DType out);

/// The fused quantization the kernel applies to y rounded to `out`.
struct NormModQuant {
  DType codes = DType::kI8;  // kI8, kE4M3 or kE5M2
  bool per_token = true;     // dynamic per-token (scales [M] written) or static (scales [1] read)
};

/// Launches the kernel on x's device (sim or cuda) and waits: dst [M, D] of `out` (no quant)
/// or of the codes; scales as NormModQuant says (undefined without quant).
void launch_norm_mod(const NormModRows& rows, const NormModArgs& args, DType out, const NormModQuant* quant,
                     const Tensor& dst, const Tensor& scales);

}  // namespace qjit::ops
