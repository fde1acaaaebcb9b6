#pragma once
// Approximate transcendental functions of the hardware (SFU). NOTE: results are not
// correctly rounded and differ between GPU generations; anything using them is compared with
// the reference by NMSE, never bit for bit (DESIGN.md section 5).

namespace qjit::ptx {

// tanh.approx.f32 (sm_75+): maximum relative error about 2^-11 (PTX ISA, "tanh").
__device__ __forceinline__ float tanh_approx(float x) {
  float d;
  asm("tanh.approx.f32 %0, %1;" : "=f"(d) : "f"(x));
  return d;
}

}  // namespace qjit::ptx
