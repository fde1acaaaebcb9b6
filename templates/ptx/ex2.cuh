#pragma once
// ex2.approx.f32: 2^x on the SFU, for the exp inside SiLU. NOTE: not correctly rounded (the
// hardware is within 2 ulp of the correctly rounded result over the full range; the sim
// returns libm's double exp2 rounded once to f32, see runtime/sim/scalar_approx.cpp), so a
// reference matches it bit for bit on sim only, and by NMSE on a GPU (DESIGN.md section 5).
// Without .ftz: subnormal inputs and results are kept.

namespace qjit::ptx {

__device__ __forceinline__ float ex2_approx(float x) {
  float d;
  asm("ex2.approx.f32 %0, %1;" : "=f"(d) : "f"(x));
  return d;
}

}  // namespace qjit::ptx
