#include "quant_ops/reference/quantize_value.hpp"

#include <cmath>
#include <limits>

#include "common/error.hpp"
#include "runtime/float_convert.hpp"

namespace qjit::reference {

namespace {

// Keeps inv = qmax / a finite for all-zero (and tiny) groups.
constexpr float kMinAmax = 1e-30f;

}  // namespace

float amax_step(float acc, float x) {
  const float m = std::fabs(x);
  if (std::isnan(acc) || std::isnan(m)) return std::numeric_limits<float>::quiet_NaN();
  return m > acc ? m : acc;
}

GroupScale dynamic_scale(QType qtype, float amax) {
  const float qmax = qtype_max(qtype);
  if (!std::isfinite(amax)) return {std::numeric_limits<float>::quiet_NaN(), 0.0f, false};
  const float a = amax > kMinAmax ? amax : kMinAmax;
  return {a / qmax, qmax / a, true};
}

GroupScale static_scale(float s) {
  QJIT_CHECK_GEN("quant_ops", std::isfinite(s) && s > 0.0f,
                 "static scale must be finite and > 0, got {}", s);
  const float inv = 1.0f / s;
  QJIT_CHECK_GEN("quant_ops", std::isfinite(inv),
                 "static scale {} is too small: 1/scale overflows fp32", s);
  return {s, inv, true};
}

std::int8_t quantize_int8(float x, float inv) {
  const float y = x * inv;
  if (std::isnan(y)) return 0;
  // NOTE: nearbyint rounds in the current mode, which section 5 requires to be the default,
  // round to nearest even: 2.5 -> 2, 3.5 -> 4, -2.5 -> -2.
  float r = std::nearbyint(y);
  if (r > 127.0f) r = 127.0f;   // also +Inf
  if (r < -127.0f) r = -127.0f;  // also -Inf; -128 is never produced (symmetric range)
  return static_cast<std::int8_t>(r);
}

std::uint8_t quantize_fp8(QType qtype, float x, float inv) {
  const float y = x * inv;
  // NOTE: a NaN quantizes to the canonical fp8 NaN 0x7F whatever its sign and payload, as
  // cvt.rn.satfinite does on the GPU (and the toolkit's host conversion): every device
  // then gives the same bits.
  if (std::isnan(y)) return kCanonicalNaNFp8;
  switch (qtype) {
    case QType::kE4M3: return f32_to_e4m3(y, /*satfinite=*/true);
    case QType::kE5M2: return f32_to_e5m2(y, /*satfinite=*/true);
    default: break;
  }
  QJIT_THROW("quant_ops", "qtype '{}' is not an fp8 type", qtype_name(qtype));
}

std::uint8_t quantize_value(QType qtype, float x, float inv) {
  if (qtype == QType::kInt8) return static_cast<std::uint8_t>(quantize_int8(x, inv));
  return quantize_fp8(qtype, x, inv);
}

std::uint8_t quantize_in_group(QType qtype, float x, const GroupScale& g) {
  return g.finite ? quantize_value(qtype, x, g.inv) : std::uint8_t{0};
}

float decode_value(QType qtype, std::uint8_t byte) {
  switch (qtype) {
    case QType::kInt8: return static_cast<float>(static_cast<std::int8_t>(byte));
    case QType::kE4M3: return e4m3_to_f32(byte);
    case QType::kE5M2: return e5m2_to_f32(byte);
    case QType::kNone: break;
  }
  QJIT_THROW("quant_ops", "qtype '{}' has no stored values to decode", qtype_name(qtype));
}

float dequantize_value(QType qtype, std::uint8_t byte, float scale) {
  return decode_value(qtype, byte) * scale;
}

}  // namespace qjit::reference
