// The float64 ideal GEMM and the NMSE every approximate comparison uses.

#include <cmath>
#include <limits>
#include <numbers>

#include "common/error.hpp"
#include "quant_ops/reference/gemm.hpp"

namespace qjit::reference {

namespace {

double gelu_tanh_f64(double y) {
  const double c = std::sqrt(2.0 / std::numbers::pi);
  return 0.5 * y * (1.0 + std::tanh(c * (y + 0.044715 * y * y * y)));
}

}  // namespace

std::vector<double> ideal_gemm(const ActView& x, const WeightView& w, const GemmEpilogue& e) {
  QJIT_CHECK_GEN("quant_ops", x.cols == w.cols, "ideal GEMM: activations [{}, {}] and weights [{}, {}] differ in K",
                 x.rows, x.cols, w.rows, w.cols);
  QJIT_CHECK_GEN("quant_ops", x.rows >= 0 && w.rows >= 0 && x.cols >= 0, "ideal GEMM: bad shape");
  check_epilogue(e);
  std::vector<double> out(static_cast<std::size_t>(x.rows * w.rows));
  for (std::int64_t m = 0; m < x.rows; ++m) {
    for (std::int64_t n = 0; n < w.rows; ++n) {
      double sum = 0.0;
      for (std::int64_t k = 0; k < x.cols; ++k) sum += static_cast<double>(x.at(m, k)) * w.at(n, k);
      double y = sum + bias_value(e, n);
      if (e.activation == Activation::kGeluTanh) y = gelu_tanh_f64(y);
      out[static_cast<std::size_t>(m * w.rows + n)] = y;
    }
  }
  return out;
}

double nmse(const std::vector<float>& got, const std::vector<double>& want) {
  QJIT_CHECK_GEN("quant_ops", got.size() == want.size(), "nmse of {} values against {}", got.size(), want.size());
  constexpr double kInf = std::numeric_limits<double>::infinity();
  double err = 0.0;
  double ref = 0.0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const bool got_nan = std::isnan(got[i]);
    const bool want_nan = std::isnan(want[i]);
    if (got_nan && want_nan) continue;
    if (got_nan || want_nan) return kInf;
    if (std::isinf(got[i]) || std::isinf(want[i])) {
      if (static_cast<double>(got[i]) == want[i]) continue;
      return kInf;
    }
    const double d = static_cast<double>(got[i]) - want[i];
    err += d * d;
    ref += want[i] * want[i];
  }
  if (ref == 0.0) return err == 0.0 ? 0.0 : kInf;
  return err / ref;
}

}  // namespace qjit::reference
