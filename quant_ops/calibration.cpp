// Calibrator (observers in place of Linear layers, host-side statistics) and
// CalibrationResult (scales, JSON). The statistics' definitions: calibration.hpp.

#include "quant_ops/calibration.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <sstream>
#include <utility>

#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "common/regex.hpp"
#include "quant_ops/quant_linear.hpp"
#include "runtime/linear.hpp"

namespace qjit {
namespace {

constexpr const char* kSub = "calibration";
// The amax floor of dynamic quantization (reference/quantize_value.cpp): 1e-30 / qmax is
// finite and > 0 and so is its inverse, for every qtype.
constexpr float kMinAmax = 1e-30f;

using Json = nlohmann::ordered_json;

// One layer's (or one bucket's) running statistics.
struct Accumulator {
  LayerStats stats;
  double moving = 0.0;  // NOTE: kept in double, as the tests recompute it
  std::vector<std::int64_t> hist;  // kPercentile only: kPercentileBins counts over [0, range)
  double range = 0.0;

  void add(const std::vector<float>& abs_values, float batch_max, const CalibrationOptions& o) {
    ++stats.batches;
    stats.elements += static_cast<std::int64_t>(abs_values.size());
    stats.absmax = std::max(stats.absmax, batch_max);
    moving = stats.batches == 1 ? batch_max : o.momentum * moving + (1.0 - o.momentum) * batch_max;
    if (o.method != CalibrationMethod::kPercentile) return;
    if (hist.empty()) hist.assign(kPercentileBins, 0);
    if (range == 0.0 && batch_max > 0.0f) range = batch_max;
    while (static_cast<double>(batch_max) > range) {  // double the range: merge bins in pairs
      for (int i = 0; i < kPercentileBins / 2; ++i) hist[i] = hist[2 * i] + hist[2 * i + 1];
      std::fill(hist.begin() + kPercentileBins / 2, hist.end(), 0);
      range *= 2.0;
    }
    if (range == 0.0) {  // every value so far is 0: bin 0 whatever the range becomes
      hist[0] += static_cast<std::int64_t>(abs_values.size());
      return;
    }
    const double per_unit = kPercentileBins / range;
    for (float v : abs_values) {
      const auto b = static_cast<std::int64_t>(static_cast<double>(v) * per_unit);
      ++hist[static_cast<std::size_t>(std::min<std::int64_t>(b, kPercentileBins - 1))];
    }
  }

  LayerStats finish(const CalibrationOptions& o) const {
    LayerStats s = stats;
    s.moving_average = static_cast<float>(moving);
    if (o.method == CalibrationMethod::kPercentile && s.elements > 0) {
      const double width = range / kPercentileBins;
      s.percentile_resolution = static_cast<float>(width);
      // The element of rank ceil(p/100 * n) (1-based) in ascending |x|.
      const auto rank = std::max<std::int64_t>(
          1, static_cast<std::int64_t>(std::ceil(o.percentile / 100.0 * static_cast<double>(s.elements))));
      std::int64_t seen = 0;
      int b = 0;
      for (; b < kPercentileBins; ++b) {
        seen += hist[static_cast<std::size_t>(b)];
        if (seen >= rank) break;
      }
      s.percentile = static_cast<float>((std::min(b, kPercentileBins - 1) + 1) * width);
    }
    switch (o.method) {
      case CalibrationMethod::kAbsMax: s.amax = s.absmax; break;
      case CalibrationMethod::kMovingAverage: s.amax = s.moving_average; break;
      case CalibrationMethod::kPercentile: s.amax = s.percentile; break;
    }
    return s;
  }
};

void check_options(const CalibrationOptions& o) {
  QJIT_CHECK_GEN(kSub, o.momentum >= 0.0 && o.momentum < 1.0, "CalibrationOptions::momentum must be in [0, 1), got {}",
                 o.momentum);
  QJIT_CHECK_GEN(kSub, o.percentile > 0.0 && o.percentile <= 100.0,
                 "CalibrationOptions::percentile must be in (0, 100], got {}", o.percentile);
  for (std::size_t i = 0; i < o.timestep_edges.size(); ++i) {
    QJIT_CHECK_GEN(kSub, std::isfinite(o.timestep_edges[i]), "CalibrationOptions::timestep_edges[{}] is not finite",
                   i);
    QJIT_CHECK_GEN(kSub, i == 0 || o.timestep_edges[i - 1] < o.timestep_edges[i],
                   "CalibrationOptions::timestep_edges must be strictly increasing: [{}] = {} after {}", i,
                   o.timestep_edges[i], i == 0 ? 0.0 : o.timestep_edges[i - 1]);
  }
}

}  // namespace

std::string_view calibration_method_name(CalibrationMethod m) {
  switch (m) {
    case CalibrationMethod::kAbsMax: return "absmax";
    case CalibrationMethod::kMovingAverage: return "moving_average";
    case CalibrationMethod::kPercentile: return "percentile";
  }
  QJIT_THROW(kSub, "invalid CalibrationMethod value {}", static_cast<int>(m));
}

CalibrationMethod parse_calibration_method(std::string_view name) {
  for (auto m : {CalibrationMethod::kAbsMax, CalibrationMethod::kMovingAverage, CalibrationMethod::kPercentile}) {
    if (name == calibration_method_name(m)) return m;
  }
  QJIT_THROW(kSub, "unknown calibration method '{}' (valid: absmax, moving_average, percentile)", name);
}

// ---------------------------------------------------------------------------------------
// Calibrator

struct Calibrator::State {
  CalibrationOptions options;
  std::optional<double> timestep;
  struct Layer {
    Accumulator all;
    std::vector<Accumulator> buckets;
  };
  std::map<std::string, Layer> layers;

  void record(const std::string& path, const Tensor& x) {
    const std::vector<float> v = x.to_f32_vector();  // read back to the host
    std::optional<std::size_t> bucket;
    if (!options.timestep_edges.empty()) {
      QJIT_CHECK_GEN(kSub, timestep.has_value(),
                     "layer '{}': the calibrator has timestep buckets and no timestep was set (call "
                     "Calibrator::set_timestep before each forward)",
                     path);
      const auto& e = options.timestep_edges;
      bucket = static_cast<std::size_t>(std::upper_bound(e.begin(), e.end(), *timestep) - e.begin());
    }
    std::vector<float> abs_values(v.size());
    float batch_max = 0.0f;
    for (std::size_t i = 0; i < v.size(); ++i) {
      QJIT_CHECK_GEN(kSub, std::isfinite(v[i]),
                     "layer '{}': calibration input {} has a non-finite value {} at flat index {}", path,
                     x.describe(), v[i], i);
      abs_values[i] = std::fabs(v[i]);
      batch_max = std::max(batch_max, abs_values[i]);
    }
    Layer& l = layers.at(path);
    l.all.add(abs_values, batch_max, options);
    if (bucket) l.buckets.at(*bucket).add(abs_values, batch_max, options);
  }
};

namespace {

// Forwards to the original layer after recording its input.
class ObservingLinear final : public LinearLayer {
 public:
  ObservingLinear(std::shared_ptr<LinearLayer> inner, std::string path, std::shared_ptr<Calibrator::State> state)
      : inner_(std::move(inner)), path_(std::move(path)), state_(std::move(state)) {}
  std::string type_name() const override { return "CalibrationObserver"; }
  Tensor forward(const Tensor& x) override {
    state_->record(path_, x);
    return inner_->forward(x);
  }
  std::int64_t in_features() const override { return inner_->in_features(); }
  std::int64_t out_features() const override { return inner_->out_features(); }
  bool gelu_tanh() const override { return inner_->gelu_tanh(); }

 private:
  std::shared_ptr<LinearLayer> inner_;
  std::string path_;
  std::shared_ptr<Calibrator::State> state_;
};

}  // namespace

Calibrator::Calibrator(Module& model, CalibrationOptions options)
    : model_(model), state_(std::make_shared<State>()) {
  check_options(options);
  std::optional<Regex> filter;
  if (!options.module_path.empty()) {
    try {
      filter.emplace(options.module_path, kSub);
    } catch (const Error& e) {
      QJIT_THROW(kSub, "CalibrationOptions::module_path: bad regex '{}': {}", options.module_path.substr(0, 200),
                 e.message());
    }
  }
  std::vector<std::string> paths;
  for (const auto& [path, linear] : model.modules_of_type<Linear>()) {
    if (!filter || filter->full_match(path)) paths.push_back(path);
  }
  QJIT_CHECK_GEN(kSub, !paths.empty(), "no Linear layer of the model matches module_path '{}'", options.module_path);
  const std::size_t n_buckets = options.timestep_edges.empty() ? 0 : options.timestep_edges.size() + 1;
  state_->options = std::move(options);
  for (const std::string& path : paths) {
    State::Layer& l = state_->layers[path];
    l.buckets.resize(n_buckets);
  }
  try {
    for (const std::string& path : paths) {
      auto original = std::dynamic_pointer_cast<LinearLayer>(model.shared_at(path));
      auto observer = std::make_shared<ObservingLinear>(original, path, state_);
      originals_.emplace_back(path, model.replace(path, observer));
    }
  } catch (...) {
    restore();
    throw;
  }
}

Calibrator::~Calibrator() {
  if (!finished_) restore();
}

void Calibrator::restore() noexcept {
  for (auto& [path, original] : originals_) {
    try {
      model_.replace(path, original);
    } catch (...) {  // NOTE: cannot happen: the original was in that slot before
    }
  }
  originals_.clear();
}

void Calibrator::set_timestep(double t) {
  QJIT_CHECK_GEN(kSub, std::isfinite(t), "Calibrator::set_timestep: timestep {} is not finite", t);
  state_->timestep = t;
}

std::vector<std::string> Calibrator::layers() const {
  std::vector<std::string> out;
  for (const auto& [path, original] : originals_) out.push_back(path);
  return out;
}

CalibrationResult Calibrator::finish() {
  QJIT_CHECK_GEN(kSub, !finished_, "Calibrator::finish called twice: the model was already restored");
  finished_ = true;
  restore();
  const CalibrationOptions& o = state_->options;
  CalibrationResult r{.method = o.method, .momentum = o.momentum, .percentile = o.percentile,
                      .timestep_edges = o.timestep_edges, .layers = {}};
  for (const auto& [path, l] : state_->layers) {
    LayerCalibration& c = r.layers[path];
    c.all = l.all.finish(o);
    for (const Accumulator& b : l.buckets) c.buckets.push_back(b.finish(o));
  }
  return r;
}

// ---------------------------------------------------------------------------------------
// CalibrationResult

float CalibrationResult::scale(const std::string& layer, QType qtype, std::optional<int> bucket) const {
  const auto it = layers.find(layer);
  QJIT_CHECK_GEN(kSub, it != layers.end(), "no calibration for layer '{}' ({} layers calibrated)", layer,
                 layers.size());
  const LayerStats* s = &it->second.all;
  if (bucket) {
    QJIT_CHECK_GEN(kSub, *bucket >= 0 && static_cast<std::size_t>(*bucket) < it->second.buckets.size(),
                   "layer '{}': timestep bucket {} out of range (the calibration has {} buckets)", layer, *bucket,
                   it->second.buckets.size());
    s = &it->second.buckets[static_cast<std::size_t>(*bucket)];
  }
  QJIT_CHECK_GEN(kSub, s->batches > 0, "layer '{}'{}: the calibration saw no input for it", layer,
                 bucket ? fmt::format(", timestep bucket {}", *bucket) : std::string());
  return std::max(s->amax, kMinAmax) / qtype_max(qtype);
}

ApplyOptions act_scales_for(const CalibrationResult& result, QType qtype, std::optional<int> bucket) {
  ApplyOptions o;
  for (const auto& [path, c] : result.layers) {
    o.act_scales.emplace(path, Tensor::from_vector<float>({1}, std::vector<float>{result.scale(path, qtype, bucket)}));
  }
  return o;
}

std::optional<int> timestep_bucket(const CalibrationResult& result, double t) {
  QJIT_CHECK_GEN(kSub, std::isfinite(t), "timestep {} is not finite", t);
  if (result.timestep_edges.empty()) return std::nullopt;
  const auto& e = result.timestep_edges;
  return static_cast<int>(std::upper_bound(e.begin(), e.end(), t) - e.begin());
}

std::vector<std::string> use_timestep_scales(Module& model, const CalibrationResult& result, double t) {
  const std::optional<int> bucket = timestep_bucket(result, t);
  QJIT_CHECK_GEN(kSub, bucket.has_value(),
                 "the calibration has no timestep buckets (calibrate with timestep_edges for per-timestep scales)");
  std::vector<std::pair<QuantLinear*, Tensor>> updates;
  std::vector<std::string> paths;
  for (const auto& [path, layer] : model.modules_of_type<QuantLinear>()) {
    if (!layer->rule().act_static_scale) continue;
    QJIT_CHECK_GEN(kSub, result.layers.count(path) > 0, "layer '{}' has a static scale but was not calibrated", path);
    const float v = result.scale(path, layer->rule().act, bucket);
    QJIT_CHECK_GEN(kSub, std::isfinite(v) && v > 0 && std::isfinite(1.0f / v),
                   "layer '{}': the calibrated scale {} of timestep bucket {} is not a usable static scale", path, v,
                   *bucket);
    updates.emplace_back(layer, Tensor::from_vector<float>({1}, std::vector<float>{v}));
    paths.push_back(path);
  }
  for (auto& [layer, scale] : updates) layer->set_act_scale(scale);
  return paths;
}

namespace {

Json stats_json(const LayerStats& s) {
  return Json{{"batches", s.batches},
              {"elements", s.elements},
              {"absmax", s.absmax},
              {"moving_average", s.moving_average},
              {"percentile", s.percentile},
              {"percentile_resolution", s.percentile_resolution},
              {"amax", s.amax}};
}

LayerStats stats_from(const Json& j, const std::string& where) {
  QJIT_CHECK_GEN(kSub, j.is_object(), "{}: expected an object", where);
  LayerStats s;
  auto get = [&](const char* key, auto& out) {
    QJIT_CHECK_GEN(kSub, j.contains(key) && j.at(key).is_number(), "{}: field '{}' missing or not a number", where,
                   key);
    out = j.at(key).get<std::remove_reference_t<decltype(out)>>();
  };
  get("batches", s.batches);
  get("elements", s.elements);
  get("absmax", s.absmax);
  get("moving_average", s.moving_average);
  get("percentile", s.percentile);
  get("percentile_resolution", s.percentile_resolution);
  get("amax", s.amax);
  QJIT_CHECK_GEN(kSub, s.batches >= 0 && s.elements >= 0 && std::isfinite(s.amax) && s.amax >= 0.0f,
                 "{}: negative counts or amax {}", where, s.amax);
  return s;
}

}  // namespace

std::string CalibrationResult::to_json() const {
  Json j;
  j["format"] = "qjit.calibration";
  j["version"] = 1;
  j["method"] = std::string(calibration_method_name(method));
  j["momentum"] = momentum;
  j["percentile"] = percentile;
  j["timestep_edges"] = timestep_edges;
  Json ls = Json::object();
  for (const auto& [path, c] : layers) {
    Json b = Json::array();
    for (const LayerStats& s : c.buckets) b.push_back(stats_json(s));
    ls[path] = Json{{"all", stats_json(c.all)}, {"buckets", b}};
  }
  j["layers"] = ls;
  return j.dump(2);
}

CalibrationResult CalibrationResult::from_json(std::string_view text) {
  Json j;
  try {
    j = Json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    QJIT_THROW(kSub, "calibration JSON does not parse: {}", e.what());
  }
  QJIT_CHECK_GEN(kSub, j.is_object() && j.value("format", "") == "qjit.calibration",
                 "calibration JSON: field 'format' is not \"qjit.calibration\"");
  QJIT_CHECK_GEN(kSub, j.contains("version") && j["version"] == 1, "calibration JSON: field 'version' is not 1");
  CalibrationResult r;
  try {
    r.method = parse_calibration_method(j.at("method").get<std::string>());
    r.momentum = j.at("momentum").get<double>();
    r.percentile = j.at("percentile").get<double>();
    r.timestep_edges = j.at("timestep_edges").get<std::vector<double>>();
    for (const auto& [path, c] : j.at("layers").items()) {
      LayerCalibration& l = r.layers[path];
      l.all = stats_from(c.at("all"), "calibration JSON: layers['" + path + "'].all");
      const Json& b = c.at("buckets");
      QJIT_CHECK_GEN(kSub, b.is_array() && (b.empty() || b.size() == r.timestep_edges.size() + 1),
                     "calibration JSON: layers['{}'].buckets must be an array of {} entries", path,
                     r.timestep_edges.size() + 1);
      for (std::size_t i = 0; i < b.size(); ++i) {
        l.buckets.push_back(stats_from(b[i], fmt::format("calibration JSON: layers['{}'].buckets[{}]", path, i)));
      }
    }
  } catch (const nlohmann::json::exception& e) {
    QJIT_THROW(kSub, "calibration JSON: missing or mistyped field: {}", e.what());
  }
  check_options({.method = r.method, .momentum = r.momentum, .percentile = r.percentile, .module_path = {},
                 .timestep_edges = r.timestep_edges});
  return r;
}

void CalibrationResult::save(const std::string& path) const {
  std::ofstream f(path);
  QJIT_CHECK_GEN(kSub, f.good(), "cannot write calibration file '{}'", path);
  f << to_json() << '\n';
  QJIT_CHECK_GEN(kSub, f.good(), "writing calibration file '{}' failed", path);
}

CalibrationResult CalibrationResult::load(const std::string& path) {
  std::ifstream f(path);
  QJIT_CHECK_GEN(kSub, f.good(), "cannot read calibration file '{}'", path);
  std::stringstream ss;
  ss << f.rdbuf();
  try {
    return from_json(ss.str());
  } catch (const Error& e) {
    QJIT_THROW(kSub, "calibration file '{}': {}", path, e.what());
  }
}

}  // namespace qjit
