#pragma once
// The glue ops on the cpu device's compiled kernels (templates/host/elementwise.h, norm_mod.h,
// rope.h; jit/impls/host_glue.hpp): the same operands and the same bits as the reference
// (runtime/ops/*_reference.hpp; a NaN is a NaN, its payload not kept, as on the GPU), on
// the runtime's thread pool. The ops (elementwise.hpp, norm_mod.hpp, rope.hpp) validate and
// call these where runs_compiled_host_kernels (runtime/host_driver.hpp); else the reference.

#include <cstdint>

#include "jit/impls/elementwise.hpp"
#include "runtime/kernels.hpp"
#include "runtime/ops/elementwise_reference.hpp"
#include "runtime/ops/norm_mod.hpp"
#include "runtime/ops/norm_mod_launch.hpp"
#include "runtime/ops/rope.hpp"
#include "runtime/tensor.hpp"

namespace qjit {

/// op on cpu tensors a, b, c (b, c unused by SiLU; the broadcast operand read at bc.index(i)),
/// a new contiguous tensor of a's shape and `out`.
Tensor host_elementwise(jit::impls::ElementwiseOp op, const Tensor& a, const Tensor& b, const Tensor& c,
                        const ops::Broadcast& bc, DType out, KernelMemo* memo);

/// norm_modulate's rows r (checked by check_norm_mod) on the cpu: y [M, D] of `out`.
Tensor host_norm_mod(const ops::NormModRows& r, const NormModArgs& args, DType out);

/// rope_3d of a checked cpu x [B, S, heads * Dh].
Tensor host_rope_3d(const Tensor& x, std::int64_t heads, const RopeGrid& grid, DType out, double theta,
                    KernelMemo* memo);

}  // namespace qjit
