#include "quant_ops/reference/weight_quant.hpp"

#include <algorithm>
#include <cfenv>
#include <cstring>

#include "common/error.hpp"
#include "quant_ops/reference/quantize_value.hpp"

namespace qjit::reference {

namespace {

std::int64_t blocks_of(std::int64_t extent) { return (extent + kBlockSize - 1) / kBlockSize; }

void check_shape(std::int64_t n, std::int64_t k) {
  QJIT_CHECK_GEN("quant_ops", n >= 0 && k >= 0, "bad weight shape [{}, {}]: negative extent", n, k);
  std::int64_t count = 0;
  QJIT_CHECK_GEN("quant_ops", !__builtin_mul_overflow(n, k, &count), "bad weight shape [{}, {}]: too large", n, k);
}

void check_view(const WeightView& w) {
  QJIT_CHECK_GEN("quant_ops", w.dtype == DType::kF32 || w.dtype == DType::kF16 || w.dtype == DType::kBF16,
                 "weights must be f32, f16 or bf16, got {}", dtype_name(w.dtype));
  check_shape(w.rows, w.cols);
  if (w.rows == 0 || w.cols == 0) return;
  QJIT_CHECK_GEN("quant_ops", w.row_stride >= w.cols, "bad weight view [{}, {}]: row stride {} < cols", w.rows,
                 w.cols, w.row_stride);
  std::int64_t count = 0;
  QJIT_CHECK_GEN("quant_ops", !__builtin_mul_overflow(w.rows, w.row_stride, &count),
                 "bad weight view [{}, {}]: row stride {} too large", w.rows, w.cols, w.row_stride);
  QJIT_CHECK_GEN("quant_ops", w.data != nullptr, "weight view [{}, {}] has no data", w.rows, w.cols);
}

// A rectangle of the weights that shares one scale: rows [n0, n1), columns [k0, k1).
struct Region {
  std::int64_t n0, n1, k0, k1;
};

// NOTE: the max is order-independent (NaN wins wherever it is), so any traversal of the
// region gives the same amax as a device's tree reduction.
float region_amax(const WeightView& w, const Region& r) {
  float acc = 0.0f;
  for (std::int64_t n = r.n0; n < r.n1; ++n) {
    for (std::int64_t k = r.k0; k < r.k1; ++k) acc = amax_step(acc, w.at(n, k));
  }
  return acc;
}

// Quantizes one region with its own dynamic scale into q (dense [N, K]); returns the scale.
float quantize_region(const WeightView& w, QType qtype, const Region& r, std::uint8_t* q) {
  const GroupScale g = dynamic_scale(qtype, region_amax(w, r));
  for (std::int64_t n = r.n0; n < r.n1; ++n) {
    for (std::int64_t k = r.k0; k < r.k1; ++k) q[n * w.cols + k] = quantize_in_group(qtype, w.at(n, k), g);
  }
  return g.scale;
}

}  // namespace

std::int64_t weight_scale_count(std::int64_t n, std::int64_t k, Granularity g) {
  switch (g) {
    case Granularity::kPerTensor: return 1;
    case Granularity::kPerChannel: return n;
    case Granularity::kBlock128: return blocks_of(n) * blocks_of(k);
    case Granularity::kPerToken:
    case Granularity::kGroup128: break;
  }
  QJIT_THROW("quant_ops",
             "granularity '{}' is for activations; weights take per_channel, per_tensor or block128",
             granularity_name(g));
}

QuantizedWeights quantize_weights(const WeightView& w, QType qtype, Granularity granularity) {
  check_view(w);
  QJIT_CHECK_GEN("quant_ops", qtype != QType::kNone, "cannot quantize weights to qtype 'none'");
  QuantizedWeights out;
  out.qtype = qtype;
  out.granularity = granularity;
  out.rows = w.rows;
  out.cols = w.cols;
  out.scales.resize(static_cast<std::size_t>(weight_scale_count(w.rows, w.cols, granularity)));
  out.q.resize(static_cast<std::size_t>(w.rows * w.cols));
  // NOTE: section 5 is defined under round to nearest even (see act_quant.cpp).
  QJIT_CHECK_GEN("quant_ops", std::fegetround() == FE_TONEAREST,
                 "the reference numerics need the default rounding mode (FE_TONEAREST)");
  std::uint8_t* q = out.q.data();
  switch (granularity) {
    case Granularity::kPerTensor:
      // NOTE: one NaN or Inf anywhere makes the one scale NaN and every output NaN.
      out.scales[0] = quantize_region(w, qtype, {0, w.rows, 0, w.cols}, q);
      break;
    case Granularity::kPerChannel:
      for (std::int64_t n = 0; n < w.rows; ++n) out.scales[n] = quantize_region(w, qtype, {n, n + 1, 0, w.cols}, q);
      break;
    case Granularity::kBlock128: {
      const std::int64_t kb = blocks_of(w.cols);
      for (std::int64_t bn = 0; bn < blocks_of(w.rows); ++bn) {
        for (std::int64_t bk = 0; bk < kb; ++bk) {
          // Edge blocks are partial: they cover only the rows and columns that exist.
          const Region r{bn * kBlockSize, std::min(w.rows, (bn + 1) * kBlockSize), bk * kBlockSize,
                         std::min(w.cols, (bk + 1) * kBlockSize)};
          out.scales[bn * kb + bk] = quantize_region(w, qtype, r, q);
        }
      }
      break;
    }
    case Granularity::kPerToken:
    case Granularity::kGroup128: break;  // rejected by weight_scale_count
  }
  return out;
}

QuantizedWeights quantize_weights(const std::vector<float>& w, std::int64_t n, std::int64_t k, QType qtype,
                                  Granularity granularity) {
  check_shape(n, k);
  QJIT_CHECK_GEN("quant_ops", static_cast<std::int64_t>(w.size()) == n * k,
                 "weight vector has {} elements, shape [{}, {}] needs {}", w.size(), n, k, n * k);
  return quantize_weights(WeightView::dense(w.data(), DType::kF32, n, k), qtype, granularity);
}

QuantizedWeights quantize_weights(const std::vector<std::uint16_t>& bits, DType dtype, std::int64_t n,
                                  std::int64_t k, QType qtype, Granularity granularity) {
  QJIT_CHECK_GEN("quant_ops", dtype == DType::kF16 || dtype == DType::kBF16,
                 "16-bit weights must be f16 or bf16, got {}", dtype_name(dtype));
  check_shape(n, k);
  QJIT_CHECK_GEN("quant_ops", static_cast<std::int64_t>(bits.size()) == n * k,
                 "weight vector has {} elements, shape [{}, {}] needs {}", bits.size(), n, k, n * k);
  return quantize_weights(WeightView::dense(bits.data(), dtype, n, k), qtype, granularity);
}

std::vector<std::int8_t> QuantizedWeights::q_int8() const {
  QJIT_CHECK_GEN("quant_ops", qtype == QType::kInt8, "q_int8() of {} weights", qtype_name(qtype));
  std::vector<std::int8_t> out(q.size());
  if (!q.empty()) std::memcpy(out.data(), q.data(), q.size());
  return out;
}

float QuantizedWeights::scale_at(std::int64_t n, std::int64_t k) const {
  switch (granularity) {
    case Granularity::kPerTensor: return scales.at(0);
    case Granularity::kPerChannel: return scales.at(static_cast<std::size_t>(n));
    case Granularity::kBlock128:
      return scales.at(static_cast<std::size_t>((n / kBlockSize) * blocks_of(cols) + k / kBlockSize));
    case Granularity::kPerToken:
    case Granularity::kGroup128: break;
  }
  QJIT_THROW("quant_ops", "weights with granularity '{}'", granularity_name(granularity));
}

std::vector<float> dequantize(const QuantizedWeights& w) {
  QJIT_CHECK_GEN("quant_ops", static_cast<std::int64_t>(w.q.size()) == w.rows * w.cols,
                 "quantized weights hold {} values for shape [{}, {}]", w.q.size(), w.rows, w.cols);
  std::vector<float> out(w.q.size());
  for (std::int64_t n = 0; n < w.rows; ++n) {
    for (std::int64_t k = 0; k < w.cols; ++k) {
      const std::size_t i = static_cast<std::size_t>(n * w.cols + k);
      out[i] = dequantize_value(w.qtype, w.q[i], w.scale_at(n, k));
    }
  }
  return out;
}

}  // namespace qjit::reference
