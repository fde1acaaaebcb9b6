#pragma once
// Elementwise glue of Wan2.1's block, all in fp32, inputs f32/f16/bf16 (contiguous), the
// result rounded to kOut. Numerics (runtime/ops/elementwise_reference.hpp defines the order):
//   kSilu          out = a / (1 + ex2(a * -log2(e)))              (.rn ops; ex2.approx)
//   kGatedResidual out = a + (b * c[bcast(i)])                     (.rn mul, then .rn add)
//   kAdd           out = a + b[bcast(i)]                           (.rn add)
// with bcast(i) = (i / block) * block_stride + i % inner, the broadcast operand's element of
// output element i (gate [B, D]: inner D, block S * D, block_stride D; a suffix b of a's
// shape: inner = block = b's size, block_stride 0). kGatedResidual and kAdd are
// bit-identical to the reference on every device; kSilu on sim (whose ex2.approx is libm's
// exp2 rounded once), by NMSE on a GPU (ex2.approx within 2 ulp).
// Host generator: jit/impls/elementwise.cpp.

#include "ptx/arith.cuh"
#include "ptx/cvt.cuh"
#include "ptx/approx.cuh"
#include "qjit/quantize.cuh"
#include "qjit/types.cuh"

namespace qjit::kernels {

// The host's jit::impls::ElementwiseOp mirrors this by name.
enum class ElementwiseOp : int { kSilu = 0, kGatedResidual, kAdd };

namespace elementwise_detail {

constexpr bool is_float(dev::DType t) {
  return t == dev::DType::kF32 || t == dev::DType::kF16 || t == dev::DType::kBF16;
}

// -log2(e) rounded to fp32: exp(-x) = 2^(x * -log2(e)).
constexpr float kNegLog2e = -1.4426950408889634f;

template <dev::DType kOut>
__device__ __forceinline__ dev::storage_t<kOut> to_out(float v) {
  if constexpr (kOut == dev::DType::kF32) return v;
  else if constexpr (kOut == dev::DType::kF16) return ptx::f32_to_f16(v);
  else return ptx::f32_to_bf16(v);
}

}  // namespace elementwise_detail

// Fields the kernel reads (the generated struct defines them):
//   kOp       ElementwiseOp
//   kA        dev::DType  a's type (f32, f16, bf16)
//   kB        dev::DType  b's type (f32, f16, bf16); ignored by kSilu
//   kC        dev::DType  c's type (f32, f16, bf16); read by kGatedResidual only
//   kOut      dev::DType  the output's type (f32, f16, bf16)
//   kThreads  int         threads per block, one element per thread, grid-strided  [config]
// NOTE: kThreads never changes results: every element is computed alone.
template <typename Config>
struct ElementwiseTraits {
  static constexpr ElementwiseOp kOp = Config::kOp;
  static constexpr dev::DType kA = Config::kA;
  static constexpr dev::DType kB = Config::kB;
  static constexpr dev::DType kC = Config::kC;
  static constexpr dev::DType kOut = Config::kOut;
  static constexpr int kThreads = Config::kThreads;
  static_assert(elementwise_detail::is_float(kA) && elementwise_detail::is_float(kB) &&
                    elementwise_detail::is_float(kC),
                "elementwise: inputs must be f32, f16 or bf16");
  static_assert(elementwise_detail::is_float(kOut), "elementwise: kOut must be f32, f16 or bf16");
  static_assert(kOp == ElementwiseOp::kSilu || kOp == ElementwiseOp::kGatedResidual || kOp == ElementwiseOp::kAdd,
                "elementwise: unknown kOp");
  static_assert(kThreads % 32 == 0 && kThreads >= 32 && kThreads <= 1024,
                "elementwise: kThreads must be a multiple of 32 in [32, 1024]");
};

// a, b, c, out: contiguous, n elements (a, b (kGatedResidual), out); the broadcast operand
// (b for kAdd, c for kGatedResidual) is read at bcast(i); unused pointers may be anything.
template <typename Config>
__global__ void __launch_bounds__(Config::kThreads)
elementwise(const void* __restrict__ a, const void* __restrict__ b, const void* __restrict__ c, void* __restrict__ out,
            dev::i64 n, dev::i64 inner, dev::i64 block, dev::i64 block_stride) {
  using T = ElementwiseTraits<Config>;
  const auto* pa = static_cast<const dev::storage_t<T::kA>*>(a);
  const auto* pb = static_cast<const dev::storage_t<T::kB>*>(b);
  const auto* pc = static_cast<const dev::storage_t<T::kC>*>(c);
  auto* po = static_cast<dev::storage_t<T::kOut>*>(out);
  const dev::i64 step = static_cast<dev::i64>(gridDim.x) * T::kThreads;
  for (dev::i64 i = static_cast<dev::i64>(blockIdx.x) * T::kThreads + threadIdx.x; i < n; i += step) {
    const float x = dev::load_as_f32<T::kA>(pa, i);
    float y;
    if constexpr (T::kOp == ElementwiseOp::kSilu) {
      const float e = ptx::ex2_approx(ptx::mul_rn(x, elementwise_detail::kNegLog2e));  // exp(-x)
      y = ptx::div_rn(x, ptx::add_rn(1.0f, e));
    } else {
      const dev::i64 j = (i / block) * block_stride + i % inner;
      if constexpr (T::kOp == ElementwiseOp::kGatedResidual) {
        y = ptx::add_rn(x, ptx::mul_rn(dev::load_as_f32<T::kB>(pb, i), dev::load_as_f32<T::kC>(pc, j)));
      } else {
        y = ptx::add_rn(x, dev::load_as_f32<T::kB>(pb, j));
      }
    }
    po[i] = elementwise_detail::to_out<T::kOut>(y);
  }
}

}  // namespace qjit::kernels
