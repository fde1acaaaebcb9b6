#pragma once
// ex2.approx.ftz.f32: 2^x on the SFU with subnormals flushed, the exponential of the softmax
// (flash attention's exp2f under fast math). NOTE: not correctly rounded: relative error
// within 2^-22 (2 ulp) of 2^x over the full range (PTX ISA, "ex2"); anything using it is
// compared with the reference by NMSE (DESIGN.md section 5). 2^-inf = +0, and results below
// 2^-126 flush to +0: a softmax weight that small vanishes against the row's largest, 1.
// The .ftz form is the SFU's native one (without it ptxas adds the subnormal fix-ups).

namespace qjit::ptx {

__device__ __forceinline__ float ex2_approx_ftz(float x) {
  float d;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(d) : "f"(x));
  return d;
}

}  // namespace qjit::ptx
