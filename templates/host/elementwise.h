#pragma once
// Host kernel of the elementwise glue for the cpu device (the CUDA one:
// templates/impls/elementwise.cuh; the order of operations: runtime/ops/elementwise_reference.hpp):
//   kSilu          out = a / (1 + exp2(a * -log2(e)))   (exp2 in double, rounded once, as the reference)
//   kGatedResidual out = a + (b * c[bcast(i)])
//   kAdd           out = a + b[bcast(i)]
// each operation rounded once in f32 (the program is compiled with -ffp-contract=off and no
// reassociation), the result rounded once to kOut: bit-identical to the reference on every
// ISA up to NaN payloads (a NaN result is a NaN, but which operand's sign and payload it
// carries follows the operand order LLVM picks for a commutative add, and a signalling bf16
// NaN is not quieted on load: the contract of the GPU kernels too, which write their own NaN).
// bcast(i) = (i / block) * block_stride + i % inner, taken in runs where it is contiguous
// so that the loops vectorize. A grid block takes kChunk elements.
//
// Config (QjitConfig): kIsa, kOp, kA, kB, kC, kOut (f32 / f16 / bf16), kChunk.

#include "host/types.h"

extern "C" double exp2(double);

namespace qjit::host {

// Same enumerators, same order as jit::impls::ElementwiseOp.
enum class ElementwiseOp : int { kSilu = 0, kGatedResidual, kAdd };

// Parameters of the entry (jit/impls/elementwise.hpp: ElementwiseParams, shared with CUDA).
struct ElementwiseArgs {
  const void* a;
  const void* b;
  const void* c;
  void* out;
  i64 n, inner, block, block_stride;
};

namespace detail {

// -log2(e) rounded to f32, as the reference's kNegLog2e.
inline constexpr float kNegLog2e = -1.4426950408889634f;

template <class Cfg>
void elementwise_run(const ElementwiseArgs& p, i64 i, i64 len, i64 j) {
  for (i64 t = 0; t < len; ++t) {
    const float x = load_as_f32<Cfg::kA>(p.a, i + t);
    float y;
    if constexpr (Cfg::kOp == ElementwiseOp::kGatedResidual) {
      const float product = load_as_f32<Cfg::kB>(p.b, i + t) * load_as_f32<Cfg::kC>(p.c, j + t);
      y = x + product;
    } else {
      y = x + load_as_f32<Cfg::kB>(p.b, j + t);
    }
    store_from_f32<Cfg::kOut>(p.out, i + t, y);
  }
}

}  // namespace detail

template <class Cfg>
void elementwise(const ElementwiseArgs& p, unsigned bx, unsigned, unsigned) {
  static_assert(Cfg::kChunk >= 64, "a grid block takes at least 64 elements");
  const i64 begin = static_cast<i64>(bx) * Cfg::kChunk;
  const i64 end = min_of<i64>(p.n, begin + Cfg::kChunk);
  if constexpr (Cfg::kOp == ElementwiseOp::kSilu) {
    for (i64 i = begin; i < end; ++i) {
      const float x = load_as_f32<Cfg::kA>(p.a, i);
      const float e = static_cast<float>(exp2(static_cast<double>(x * detail::kNegLog2e)));  // exp(-x)
      const float d = 1.0f + e;
      store_from_f32<Cfg::kOut>(p.out, i, x / d);
    }
  } else {
    for (i64 i = begin; i < end;) {
      const i64 r = i % p.inner, q = i % p.block;
      const i64 len = min_of<i64>(end - i, min_of<i64>(p.inner - r, p.block - q));
      detail::elementwise_run<Cfg>(p, i, len, (i / p.block) * p.block_stride + r);
      i += len;
    }
  }
}

}  // namespace qjit::host
