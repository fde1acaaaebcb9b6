#include "quant_ops/reference/act_quant.hpp"

#include <cfenv>
#include <cstring>

#include "common/error.hpp"
#include "quant_ops/reference/quantize_value.hpp"
#include "runtime/float_convert.hpp"

namespace qjit::reference {

namespace {

std::int64_t groups_per_row(std::int64_t cols) { return (cols + kGroupSize - 1) / kGroupSize; }

void check_shape(std::int64_t rows, std::int64_t cols) {
  QJIT_CHECK_GEN("quant_ops", rows >= 0 && cols >= 0, "bad activation shape [{}, {}]: negative extent", rows, cols);
  std::int64_t n = 0;
  QJIT_CHECK_GEN("quant_ops", !__builtin_mul_overflow(rows, cols, &n), "bad activation shape [{}, {}]: too large",
                 rows, cols);
}

void check_view(const ActView& x) {
  QJIT_CHECK_GEN("quant_ops", x.dtype == DType::kF32 || x.dtype == DType::kF16 || x.dtype == DType::kBF16,
                 "activations must be f32, f16 or bf16, got {}", dtype_name(x.dtype));
  check_shape(x.rows, x.cols);
  if (x.rows == 0 || x.cols == 0) return;
  QJIT_CHECK_GEN("quant_ops", x.row_stride >= x.cols, "bad activation view [{}, {}]: row stride {} < cols", x.rows,
                 x.cols, x.row_stride);
  std::int64_t n = 0;
  QJIT_CHECK_GEN("quant_ops", !__builtin_mul_overflow(x.rows, x.row_stride, &n),
                 "bad activation view [{}, {}]: row stride {} too large", x.rows, x.cols, x.row_stride);
  QJIT_CHECK_GEN("quant_ops", x.data != nullptr, "activation view [{}, {}] has no data", x.rows, x.cols);
}

void check_act_qtype(QType qtype) {
  QJIT_CHECK_GEN("quant_ops", qtype != QType::kNone, "cannot quantize activations to qtype 'none'");
}

// NOTE: section 5 is defined under IEEE round to nearest even; a caller that changed the
// rounding mode would silently get other bytes than the devices.
void check_rounding_mode() {
  QJIT_CHECK_GEN("quant_ops", std::fegetround() == FE_TONEAREST,
                 "the reference numerics need the default rounding mode (FE_TONEAREST)");
}

// Quantizes columns [c0, c1) of every row in [r0, r1) with one group scale.
void quantize_block(const ActView& x, QType qtype, std::int64_t r0, std::int64_t r1, std::int64_t c0,
                    std::int64_t c1, const GroupScale& g, std::uint8_t* q) {
  for (std::int64_t r = r0; r < r1; ++r) {
    for (std::int64_t c = c0; c < c1; ++c) q[r * x.cols + c] = quantize_in_group(qtype, x.at(r, c), g);
  }
}

float block_amax(const ActView& x, std::int64_t r0, std::int64_t r1, std::int64_t c0, std::int64_t c1) {
  float acc = 0.0f;
  for (std::int64_t r = r0; r < r1; ++r) {
    for (std::int64_t c = c0; c < c1; ++c) acc = amax_step(acc, x.at(r, c));
  }
  return acc;
}

QuantizedActs make_result(const ActView& x, QType qtype, Granularity granularity) {
  QuantizedActs out;
  out.qtype = qtype;
  out.granularity = granularity;
  out.rows = x.rows;
  out.cols = x.cols;
  out.q.resize(static_cast<std::size_t>(x.rows * x.cols));
  return out;
}

ActView view_of(const std::vector<float>& x, std::int64_t rows, std::int64_t cols) {
  check_shape(rows, cols);
  QJIT_CHECK_GEN("quant_ops", static_cast<std::int64_t>(x.size()) == rows * cols,
                 "activation vector has {} elements, shape [{}, {}] needs {}", x.size(), rows, cols, rows * cols);
  return ActView::dense(x.data(), DType::kF32, rows, cols);
}

ActView view_of(const std::vector<std::uint16_t>& bits, DType dtype, std::int64_t rows, std::int64_t cols) {
  QJIT_CHECK_GEN("quant_ops", dtype == DType::kF16 || dtype == DType::kBF16,
                 "16-bit activations must be f16 or bf16, got {}", dtype_name(dtype));
  check_shape(rows, cols);
  QJIT_CHECK_GEN("quant_ops", static_cast<std::int64_t>(bits.size()) == rows * cols,
                 "activation vector has {} elements, shape [{}, {}] needs {}", bits.size(), rows, cols,
                 rows * cols);
  return ActView::dense(bits.data(), dtype, rows, cols);
}

}  // namespace

ActView ActView::dense(const void* data, DType dtype, std::int64_t rows, std::int64_t cols) {
  return {data, dtype, rows, cols, cols};
}

float ActView::at(std::int64_t r, std::int64_t c) const {
  const std::int64_t i = r * row_stride + c;
  switch (dtype) {
    case DType::kF32: return static_cast<const float*>(data)[i];
    case DType::kF16: return f16_to_f32(static_cast<const std::uint16_t*>(data)[i]);
    case DType::kBF16: return bf16_to_f32(static_cast<const std::uint16_t*>(data)[i]);
    default: break;
  }
  QJIT_THROW("quant_ops", "activations must be f32, f16 or bf16, got {}", dtype_name(dtype));
}

std::int64_t act_scale_count(std::int64_t rows, std::int64_t cols, Granularity g) {
  switch (g) {
    case Granularity::kPerTensor: return 1;
    case Granularity::kPerToken: return rows;
    case Granularity::kGroup128: return rows * groups_per_row(cols);
    case Granularity::kPerChannel:
    case Granularity::kBlock128: break;
  }
  QJIT_THROW("quant_ops", "granularity '{}' is for weights; activations take per_token, per_tensor or group128",
             granularity_name(g));
}

void quantize_dynamic(const ActView& x, QType qtype, Granularity granularity, void* q_out, float* scales) {
  check_view(x);
  check_act_qtype(qtype);
  act_scale_count(x.rows, x.cols, granularity);  // rejects the weight granularities
  check_rounding_mode();
  auto* q = static_cast<std::uint8_t*>(q_out);
  switch (granularity) {
    case Granularity::kPerTensor: {
      // NOTE: one NaN anywhere makes the one scale NaN and every output NaN (section 5).
      const GroupScale g = dynamic_scale(qtype, block_amax(x, 0, x.rows, 0, x.cols));
      quantize_block(x, qtype, 0, x.rows, 0, x.cols, g, q);
      scales[0] = g.scale;
      return;
    }
    case Granularity::kPerToken:
      for (std::int64_t r = 0; r < x.rows; ++r) {
        const GroupScale g = dynamic_scale(qtype, block_amax(x, r, r + 1, 0, x.cols));
        quantize_block(x, qtype, r, r + 1, 0, x.cols, g, q);
        scales[r] = g.scale;
      }
      return;
    case Granularity::kGroup128: {
      const std::int64_t groups = groups_per_row(x.cols);
      for (std::int64_t r = 0; r < x.rows; ++r) {
        for (std::int64_t k = 0; k < groups; ++k) {
          const std::int64_t c0 = k * kGroupSize;
          const std::int64_t c1 = c0 + kGroupSize < x.cols ? c0 + kGroupSize : x.cols;  // last may be partial
          const GroupScale g = dynamic_scale(qtype, block_amax(x, r, r + 1, c0, c1));
          quantize_block(x, qtype, r, r + 1, c0, c1, g, q);
          scales[r * groups + k] = g.scale;
        }
      }
      return;
    }
    case Granularity::kPerChannel:
    case Granularity::kBlock128: break;
  }
}

void quantize_static(const ActView& x, QType qtype, float scale, void* q_out) {
  check_view(x);
  check_act_qtype(qtype);
  const GroupScale g = static_scale(scale);
  check_rounding_mode();
  quantize_block(x, qtype, 0, x.rows, 0, x.cols, g, static_cast<std::uint8_t*>(q_out));
}

std::vector<std::int8_t> QuantizedActs::q_int8() const {
  QJIT_CHECK_GEN("quant_ops", qtype == QType::kInt8, "q_int8() of {} activations", qtype_name(qtype));
  std::vector<std::int8_t> out(q.size());
  if (!q.empty()) std::memcpy(out.data(), q.data(), q.size());
  return out;
}

float QuantizedActs::scale_at(std::int64_t r, std::int64_t c) const {
  switch (granularity) {
    case Granularity::kPerTensor: return scales.at(0);
    case Granularity::kPerToken: return scales.at(static_cast<std::size_t>(r));
    case Granularity::kGroup128:
      return scales.at(static_cast<std::size_t>(r * groups_per_row(cols) + c / kGroupSize));
    case Granularity::kPerChannel:
    case Granularity::kBlock128: break;
  }
  QJIT_THROW("quant_ops", "activations with granularity '{}'", granularity_name(granularity));
}

QuantizedActs quantize_dynamic(const ActView& x, QType qtype, Granularity granularity) {
  check_view(x);
  QuantizedActs out = make_result(x, qtype, granularity);
  out.scales.resize(static_cast<std::size_t>(act_scale_count(x.rows, x.cols, granularity)));
  quantize_dynamic(x, qtype, granularity, out.q.data(), out.scales.data());
  return out;
}

QuantizedActs quantize_dynamic(const std::vector<float>& x, std::int64_t rows, std::int64_t cols, QType qtype,
                               Granularity granularity) {
  return quantize_dynamic(view_of(x, rows, cols), qtype, granularity);
}

QuantizedActs quantize_dynamic(const std::vector<std::uint16_t>& bits, DType dtype, std::int64_t rows,
                               std::int64_t cols, QType qtype, Granularity granularity) {
  return quantize_dynamic(view_of(bits, dtype, rows, cols), qtype, granularity);
}

QuantizedActs quantize_static(const ActView& x, QType qtype, float scale) {
  check_view(x);
  QuantizedActs out = make_result(x, qtype, Granularity::kPerTensor);
  out.scales = {scale};
  quantize_static(x, qtype, scale, out.q.data());
  return out;
}

QuantizedActs quantize_static(const std::vector<float>& x, std::int64_t rows, std::int64_t cols, QType qtype,
                              float scale) {
  return quantize_static(view_of(x, rows, cols), qtype, scale);
}

QuantizedActs quantize_static(const std::vector<std::uint16_t>& bits, DType dtype, std::int64_t rows,
                              std::int64_t cols, QType qtype, float scale) {
  return quantize_static(view_of(bits, dtype, rows, cols), qtype, scale);
}

std::vector<float> dequantize(const QuantizedActs& a) {
  QJIT_CHECK_GEN("quant_ops", static_cast<std::int64_t>(a.q.size()) == a.rows * a.cols,
                 "quantized activations hold {} values for shape [{}, {}]", a.q.size(), a.rows, a.cols);
  std::vector<float> out(a.q.size());
  for (std::int64_t r = 0; r < a.rows; ++r) {
    for (std::int64_t c = 0; c < a.cols; ++c) {
      const std::size_t i = static_cast<std::size_t>(r * a.cols + c);
      out[i] = dequantize_value(a.qtype, a.q[i], a.scale_at(r, c));
    }
  }
  return out;
}

}  // namespace qjit::reference
