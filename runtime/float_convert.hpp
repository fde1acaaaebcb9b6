#pragma once
// Exact host conversions between f32 and the 16- and 8-bit float formats, all with IEEE
// round-to-nearest-even. The widening directions are exact. These are the reference
// conversions every device kernel is tested against (DESIGN.md section 5).

#include <cstdint>

namespace qjit {

// f16 (IEEE binary16) and bf16: RNE; overflow goes to Inf; NaN stays NaN (quiet).
std::uint16_t f32_to_f16(float x);
float f16_to_f32(std::uint16_t h);
std::uint16_t f32_to_bf16(float x);
float bf16_to_f32(std::uint16_t h);

// fp8 e4m3 ("fn": max 448, no Inf, NaN = 0x7f/0xff) and e5m2 (max 57344, has Inf).
// satfinite: values beyond the largest finite (and ±Inf) clamp to ±max; NaN stays NaN.
// Without satfinite: e4m3 overflow (and ±Inf) gives NaN; e5m2 overflow gives ±Inf.
// Rounding: RNE on the f32 value, including into subnormals; magnitude overflow is decided
// after rounding, as cvt.rn[.satfinite] does.
std::uint8_t f32_to_e4m3(float x, bool satfinite);
std::uint8_t f32_to_e5m2(float x, bool satfinite);
float e4m3_to_f32(std::uint8_t v);
float e5m2_to_f32(std::uint8_t v);

}  // namespace qjit
