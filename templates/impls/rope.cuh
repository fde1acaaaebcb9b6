#pragma once
// 3-D rotary position embedding as Wan2.1 applies it (wan/modules/model.py, rope_apply):
// x [B, S, heads * Dh] (f32/f16/bf16, contiguous), each head's c = Dh/2 pairs (x[2j], x[2j+1])
// rotated by the angle of the token's frame, row or column position, whichever axis group the
// pair j belongs to; tokens s >= F*H*W (padding) are copied, rounded to kOut.
// Numerics (bit-identical to runtime/ops/rope_reference.cpp): cos/sin come from the host's
// table; per pair, with every operation an explicitly rounded .rn one (no fma):
//   re = (a * cos) - (b * sin);  im = (a * sin) + (b * cos);  then rounded to kOut.
// Host generator: jit/impls/rope.cpp.

#include "ptx/arith.cuh"
#include "ptx/cvt.cuh"
#include "qjit/quantize.cuh"
#include "qjit/types.cuh"

namespace qjit::kernels {

// Fields the kernel reads (the generated struct defines them):
//   kIn       dev::DType  x's element type (f32, f16, bf16)
//   kOut      dev::DType  the output's element type (f32, f16, bf16)
//   kThreads  int         threads per block, one thread per pair, grid-strided   [config]
// NOTE: kThreads never changes results: every pair is computed alone.
template <typename Config>
struct RopeTraits {
  static constexpr dev::DType kIn = Config::kIn;
  static constexpr dev::DType kOut = Config::kOut;
  static constexpr int kThreads = Config::kThreads;
  static_assert(kIn == dev::DType::kF32 || kIn == dev::DType::kF16 || kIn == dev::DType::kBF16,
                "rope: kIn must be f32, f16 or bf16");
  static_assert(kOut == dev::DType::kF32 || kOut == dev::DType::kF16 || kOut == dev::DType::kBF16,
                "rope: kOut must be f32, f16 or bf16");
  static_assert(kThreads % 32 == 0 && kThreads >= 32 && kThreads <= 1024,
                "rope: kThreads must be a multiple of 32 in [32, 1024]");
  using In = dev::storage_t<kIn>;
  using Out = dev::storage_t<kOut>;
};

namespace rope_detail {

template <dev::DType kOut>
__device__ __forceinline__ dev::storage_t<kOut> to_out(float v) {
  if constexpr (kOut == dev::DType::kF32) return v;
  else if constexpr (kOut == dev::DType::kF16) return ptx::f32_to_f16(v);
  else return ptx::f32_to_bf16(v);
}

}  // namespace rope_detail

// x, out: contiguous [B, S, heads, half, 2]; pairs = B * S * heads * half, seq = S,
// grid_tokens = F * H * W <= S, grid_h = H, grid_w = W. The cos/sin table as the host lays it
// out (runtime/ops/rope_reference.hpp): cos at [0, sin_offset), sin at [sin_offset,
// 2 * sin_offset); within each, the frame group's [F][n_f], the height group's [H][n_h] from
// off_h, the width group's [W][half - n_f - n_h] from off_w.
template <typename Config>
__global__ void __launch_bounds__(Config::kThreads)
rope_3d(const typename RopeTraits<Config>::In* __restrict__ x, typename RopeTraits<Config>::Out* __restrict__ out,
        const float* __restrict__ table, dev::i64 sin_offset, dev::i64 off_h, dev::i64 off_w, dev::i64 pairs,
        dev::i64 seq, dev::i64 grid_tokens, int grid_h, int grid_w, int heads, int half, int n_f, int n_h) {
  using T = RopeTraits<Config>;
  const dev::i64 head_pairs = static_cast<dev::i64>(heads) * half;  // pairs per token
  const dev::i64 step = static_cast<dev::i64>(gridDim.x) * T::kThreads;
  // NOTE: x is contiguous [B, S, heads, half, 2]: pair p is elements 2p, 2p + 1.
  for (dev::i64 p = static_cast<dev::i64>(blockIdx.x) * T::kThreads + threadIdx.x; p < pairs; p += step) {
    const float a = dev::load_as_f32<T::kIn>(x, 2 * p), b = dev::load_as_f32<T::kIn>(x, 2 * p + 1);
    const dev::i64 s = (p / head_pairs) % seq;
    float re = a, im = b;
    if (s < grid_tokens) {
      const int j = static_cast<int>(p % half);
      const dev::i64 hw = static_cast<dev::i64>(grid_h) * grid_w;
      dev::i64 k;  // the table entry of (axis position, pair within the group)
      if (j < n_f) k = (s / hw) * n_f + j;
      else if (j < n_f + n_h) k = off_h + ((s / grid_w) % grid_h) * n_h + (j - n_f);
      else k = off_w + (s % grid_w) * (half - n_f - n_h) + (j - n_f - n_h);
      const float c = table[k], sn = table[sin_offset + k];
      re = ptx::add_rn(ptx::mul_rn(a, c), -ptx::mul_rn(b, sn));
      im = ptx::add_rn(ptx::mul_rn(a, sn), ptx::mul_rn(b, c));
    }
    out[2 * p] = rope_detail::to_out<T::kOut>(re);
    out[2 * p + 1] = rope_detail::to_out<T::kOut>(im);
  }
}

}  // namespace qjit::kernels
