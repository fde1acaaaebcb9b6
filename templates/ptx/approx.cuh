#pragma once
// Approximate transcendental functions of the hardware (SFU). NOTE: results are not
// correctly rounded and differ between GPU generations; anything using them is compared with
// the reference by NMSE on a GPU (DESIGN.md section 5). The sim gives each a defined result
// (runtime/sim/scalar_approx.cpp), which a reference may reproduce bit for bit on sim only.

namespace qjit::ptx {

// tanh.approx.f32 (sm_75+): maximum relative error about 2^-11 (PTX ISA, "tanh").
__device__ __forceinline__ float tanh_approx(float x) {
  float d;
  asm("tanh.approx.f32 %0, %1;" : "=f"(d) : "f"(x));
  return d;
}

// ex2.approx.f32: 2^x, within 2 ulp of the correctly rounded result over the full range (PTX
// ISA, "ex2"); subnormal inputs and results are kept. The exp inside SiLU. The sim returns
// libm's double exp2 rounded once to f32.
__device__ __forceinline__ float ex2_approx(float x) {
  float d;
  asm("ex2.approx.f32 %0, %1;" : "=f"(d) : "f"(x));
  return d;
}

// ex2.approx.ftz.f32: 2^x with subnormals flushed, the SFU's native form (without .ftz ptxas
// adds the subnormal fix-ups): the softmax's exponential (flash attention's exp2f under fast
// math). 2^-inf = +0, and results below 2^-126 flush to +0: a softmax weight that small
// vanishes against the row's largest, 1.
__device__ __forceinline__ float ex2_approx_ftz(float x) {
  float d;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(d) : "f"(x));
  return d;
}

}  // namespace qjit::ptx
