#pragma once
// The formulas of DESIGN.md section 5 for one group and one value: amax, the dynamic and
// static scales, quantizing and dequantizing a value. Plain fp32 IEEE arithmetic in the
// default rounding mode (round to nearest even); the project compiles with
// -ffp-contract=off so no multiply is fused into an fma. Activation quantization
// (act_quant.hpp) and weight quantization are built from these.

#include <cstdint>

#include "common/qtype.hpp"

namespace qjit::reference {

// The fp8 code every device writes for a NaN (e4m3 and e5m2 alike).
inline constexpr std::uint8_t kCanonicalNaNFp8 = 0x7f;

/// One step of a NaN-propagating max of magnitudes: max(acc, |x|), NaN if either is NaN.
/// (std::max and fmaxf drop NaN, which would hide a NaN token behind a finite scale.)
/// Start from 0.0f.
float amax_step(float acc, float x);

/// The scale of one group and the multiplier that quantizes it.
struct GroupScale {
  float scale = 0.0f;   // dequantization scale: x ~ decode(q) * scale
  float inv = 0.0f;     // quantization multiplier: q = quantize_value(x * inv)
  bool finite = false;  // false: amax was NaN or Inf, scale is NaN and every q is 0
};

/// Dynamic scale from a group's amax: NaN or Inf gives {NaN, 0, false}; else
/// a = max(amax, 1e-30f), inv = qmax / a, scale = a / qmax (one IEEE division each).
GroupScale dynamic_scale(QType qtype, float amax);
/// Static scale s (calibrated): {s, 1.0f / s, true}. Throws qjit::Error unless s is finite
/// and > 0 and 1/s is finite (a subnormal s would make inv Inf and 0 * inv NaN).
GroupScale static_scale(float s);

/// int8 value of x * inv: round half to even, clamp to [-127, 127]; NaN gives 0 and ±Inf
/// ±127, as cvt.rni.sat.s8.f32 followed by the clamp to -127 does on the device.
std::int8_t quantize_int8(float x, float inv);
/// fp8 encoding of x * inv (qtype kE4M3 or kE5M2): RNE with satfinite, so beyond ±qmax and
/// ±Inf give ±qmax and NaN stays NaN.
std::uint8_t quantize_fp8(QType qtype, float x, float inv);
/// The stored byte of x * inv for any quantized qtype (int8 as its two's complement byte).
std::uint8_t quantize_value(QType qtype, float x, float inv);
/// The stored byte of x in a group: 0 when the group's amax was NaN or Inf.
std::uint8_t quantize_in_group(QType qtype, float x, const GroupScale& g);

/// The value a stored byte encodes (int8: the integer; fp8: the decoded float).
float decode_value(QType qtype, std::uint8_t byte);
/// decode_value(byte) * scale, one fp32 multiply (NaN scale gives NaN).
float dequantize_value(QType qtype, std::uint8_t byte, float scale);

}  // namespace qjit::reference
