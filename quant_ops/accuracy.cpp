#include "quant_ops/accuracy.hpp"

#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <utility>

#include "common/error.hpp"
#include "runtime/linear.hpp"

namespace qjit {

namespace {

constexpr const char* kSub = "accuracy";

// Sums over one or more (got, want) pairs, finished into metrics.
struct Sums {
  double dot = 0, got2 = 0, want2 = 0, err2 = 0;
  std::int64_t n = 0;

  void add(const Tensor& got, const Tensor& want) {
    QJIT_CHECK_GEN(kSub, got.numel() == want.numel(), "outputs of different sizes: {} against {}", got.describe(),
                   want.describe());
    const std::vector<float> g = got.to(Device::cpu()).contiguous().to_f32_vector();
    const std::vector<float> w = want.to(Device::cpu()).contiguous().to_f32_vector();
    for (std::size_t i = 0; i < g.size(); ++i) {
      QJIT_CHECK_GEN(kSub, std::isfinite(g[i]) && std::isfinite(w[i]),
                     "element {} is not finite ({} against {}): {} against {}", i, g[i], w[i], got.describe(),
                     want.describe());
      const double a = g[i], b = w[i];
      dot += a * b;
      got2 += a * a;
      want2 += b * b;
      err2 += (a - b) * (a - b);
    }
    n += static_cast<std::int64_t>(g.size());
  }

  AccuracyMetrics metrics() const {
    AccuracyMetrics m;
    m.elements = n;
    m.mse = n > 0 ? err2 / static_cast<double>(n) : 0.0;
    m.cosine = got2 == 0 && want2 == 0 ? 1.0 : got2 == 0 || want2 == 0 ? 0.0 : dot / std::sqrt(got2 * want2);
    m.nmse = want2 > 0 ? err2 / want2 : (err2 == 0 ? 0.0 : std::numeric_limits<double>::infinity());
    m.snr_db = m.nmse == 0 ? std::numeric_limits<double>::infinity() : -10.0 * std::log10(m.nmse);
    return m;
  }
};

double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

// One layer's comparison, accumulated over its calls.
struct Record {
  LinearLayer* quantized = nullptr;  // the layer at the same path of the quantized model
  Sums sums;
  std::int64_t calls = 0;
  double reference_ms = 0.0, quantized_ms = 0.0;
};

// Forwards to the original layer, and feeds the same input to the quantized layer, comparing
// the two outputs at once (nothing is kept: a large model's activations would not fit).
class ComparingLinear final : public LinearLayer {
 public:
  ComparingLinear(std::shared_ptr<LinearLayer> inner, std::shared_ptr<Record> record)
      : inner_(std::move(inner)), record_(std::move(record)) {}
  std::string type_name() const override { return "AccuracyRecorder"; }
  Tensor forward(const Tensor& x) override {
    const auto t0 = std::chrono::steady_clock::now();
    Tensor y = inner_->forward(x);
    const auto t1 = std::chrono::steady_clock::now();
    const Tensor q = record_->quantized->forward(x);
    record_->quantized_ms += ms_since(t1);
    record_->reference_ms += std::chrono::duration<double, std::milli>(t1 - t0).count();
    record_->sums.add(q, y);
    ++record_->calls;
    return y;
  }
  std::int64_t in_features() const override { return inner_->in_features(); }
  std::int64_t out_features() const override { return inner_->out_features(); }
  bool gelu_tanh() const override { return inner_->gelu_tanh(); }

 private:
  std::shared_ptr<LinearLayer> inner_;
  std::shared_ptr<Record> record_;
};

}  // namespace

AccuracyMetrics compare_outputs(const Tensor& got, const Tensor& want) {
  Sums s;
  s.add(got, want);
  return s.metrics();
}

std::vector<LayerAccuracy> layer_accuracy(Module& reference, Module& quantized,
                                          const std::function<void(Module&)>& forward) {
  std::vector<std::pair<std::string, std::shared_ptr<Record>>> records;
  for (const auto& [path, layer] : reference.modules_of_type<LinearLayer>()) {
    auto* q = quantized.contains(path) ? dynamic_cast<LinearLayer*>(&quantized.at(path)) : nullptr;
    QJIT_CHECK_GEN(kSub, q != nullptr,
                   "layer '{}' of the reference has no linear layer at that path in the quantized model", path);
    auto r = std::make_shared<Record>();
    r->quantized = q;
    records.emplace_back(path, std::move(r));
  }
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> originals;
  const auto restore = [&] {
    for (auto& [path, original] : originals) reference.replace(path, original);
    originals.clear();
  };
  try {
    for (const auto& [path, record] : records) {
      auto original = std::dynamic_pointer_cast<LinearLayer>(reference.shared_at(path));
      originals.emplace_back(path, reference.replace(path, std::make_shared<ComparingLinear>(original, record)));
    }
    forward(reference);
  } catch (...) {
    restore();
    throw;
  }
  restore();
  std::vector<LayerAccuracy> out;
  for (const auto& [path, r] : records) {
    out.push_back({path, r->quantized->type_name(), r->calls, r->sums.metrics(), r->reference_ms, r->quantized_ms});
  }
  return out;
}

}  // namespace qjit
