#pragma once
// 3-D rotary position embedding, as Wan2.1 applies it to q and k (wan/modules/model.py,
// rope_params / rope_apply): each head's Dh/2 complex pairs (x[2j], x[2j+1]) are split into a
// frame, a height and a width group of c - 2*(c/3), c/3 and c/3 pairs (c = Dh/2), and a pair
// of a token at grid position (f, h, w) is rotated by the angle of its group's coordinate.
// cpu:ref runs the reference (rope_reference.hpp, whose header defines the exact order of
// operations), cpu its compiled kernel (host_glue.hpp); sim and cuda launch the JIT-compiled rope kernel (templates/impls/rope.cuh)
// with the reference's cos/sin table: every device gives bit-identical results.
// NOTE: Wan rotates in float64 and returns f32; here the angles and cos/sin are float64 (as
// Wan) rounded once to f32, and the rotation is fp32 with each operation rounded, a
// difference below 2^-22 relative per element, far under bf16's rounding.

#include <cstdint>
#include <optional>

#include "runtime/kernels.hpp"
#include "runtime/tensor.hpp"

namespace qjit {

/// The token grid of a video latent after patchify: frames x height x width tokens, in that
/// (row-major) order along the sequence.
struct RopeGrid {
  std::int64_t frames = 1, height = 1, width = 1;
};

/// x [B, S, heads*Dh] (f32, f16 or bf16; Dh even): every head's pairs rotated by 3-D RoPE for
/// `grid` (the same grid for every batch element; S >= frames*height*width, the extra
/// (padding) tokens are copied unchanged, rounded to `out`). Angles as Wan's
/// rope_params(1024, 2 * pairs_in_group, theta). Returns a new contiguous tensor of `out`
/// (x's dtype by default) on x's device; a non-contiguous x is copied first. Throws
/// qjit::Error before any work naming the problem (rank, dtype, heads not dividing the
/// width, odd Dh, grid sizes, S < frames*height*width, theta). `memo`: the call site's
/// resolved kernel (runtime/kernels.hpp), optional.
Tensor rope_3d(const Tensor& x, std::int64_t heads, const RopeGrid& grid, std::optional<DType> out = std::nullopt,
               double theta = 10000.0, KernelMemo* memo = nullptr);

}  // namespace qjit
