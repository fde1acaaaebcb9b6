#pragma once
// Tensors into and out of reference::reference_gemm: the cpu path shared by the GEMM ops
// (qgemm, qgemm_weight_only). The reference problem does not own its data; the cpu copies
// it points into are kept alive by a ReferenceHold for as long as the problem runs.

#include <optional>
#include <span>
#include <vector>

#include "quant_ops/reference/gemm.hpp"
#include "runtime/tensor.hpp"

namespace qjit {

/// The cpu copies (contiguous) a reference::GemmProblem points into.
class ReferenceHold {
 public:
  /// t on the cpu, contiguous, held until the hold goes away.
  Tensor keep(const Tensor& t);

 private:
  // NOTE: a Tensor is a handle on shared storage: moving handles when the vector grows
  // leaves the data (what the problem points at) where it is.
  std::vector<Tensor> tensors_;
};

/// A contiguous cpu tensor's bytes.
std::span<const std::uint8_t> tensor_bytes(const Tensor& t);

/// A quantized operand of codes (a contiguous cpu tensor) with its f32 scales in their
/// logical layout (copied to the cpu into `hold`).
reference::QuantOperand reference_operand(const Tensor& codes, QType qtype, Granularity granularity,
                                          const Tensor& scales, ReferenceHold& hold);

/// The epilogue of an optional bias (copied to the cpu into `hold`), an activation and the
/// output dtype.
reference::GemmEpilogue reference_epilogue(const std::optional<Tensor>& bias, reference::Activation activation,
                                           DType out_dtype, ReferenceHold& hold);

/// The reference's output as a cpu tensor [M, N] of its dtype (f32 values, or the f16 / bf16
/// bits as stored).
Tensor reference_output(const reference::GemmOutput& r);

}  // namespace qjit
