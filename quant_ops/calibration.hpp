#pragma once
// Calibration of static activation scales (issue 5): run calibration inputs through the
// unquantized model with every chosen Linear wrapped by an observer that reads its input back
// to the host and records |x| statistics; finish() puts the original layers back and returns
// per layer the statistics, from which act_scales_for builds the ApplyOptions that a rule
// with act_static_scale=true takes (scale = amax / qmax, DESIGN.md section 5's static scale).
//
//   qjit::Calibrator cal(model, {.method = qjit::CalibrationMethod::kPercentile});
//   for (const Tensor& x : inputs) model.forward(x);
//   const qjit::CalibrationResult r = cal.finish();
//   qjit::Rule{.weight = "int8", .act = "int8", .act_static_scale = true}
//       .apply(model, qjit::act_scales_for(r, qjit::QType::kInt8));

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/qtype.hpp"
#include "quant_ops/rule_apply.hpp"
#include "runtime/module.hpp"

namespace qjit {

enum class CalibrationMethod {
  kAbsMax,         // amax = max |x| over every element seen
  kMovingAverage,  // amax = m * amax + (1 - m) * batch max |x|; the first batch sets it
  kPercentile,     // amax = the p-th percentile of |x| over every element seen (histogram)
};
/// "absmax", "moving_average", "percentile".
std::string_view calibration_method_name(CalibrationMethod m);
/// The names above; throws qjit::Error naming the bad string and the valid names.
CalibrationMethod parse_calibration_method(std::string_view name);

struct CalibrationOptions {
  CalibrationMethod method = CalibrationMethod::kAbsMax;
  double momentum = 0.9;       // kMovingAverage: in [0, 1)
  double percentile = 99.99;   // kPercentile: in (0, 100]
  // Which Linear layers to observe: an ECMAScript regex matched against the whole dotted
  // path, as Rule::module_path is. Every Linear when empty.
  std::string module_path{};
  // Timestep buckets: strictly increasing edges e_0 < ... < e_{n-1} give n + 1 buckets, as
  // std::upper_bound places t: bucket 0 is t < e_0, bucket i is e_{i-1} <= t < e_i, bucket n
  // is t >= e_{n-1}. Empty: no buckets (only the statistics over all inputs). With edges the
  // caller sets Calibrator::set_timestep before each forward.
  std::vector<double> timestep_edges{};
};

// NOTE: the percentile's histogram has kPercentileBins bins over [0, range). The range starts
// at the first non-zero batch max and doubles (bins merged in pairs, exactly) until it covers
// each new batch max, so it is < 2 * absmax and one bin is < absmax / 1024 wide: the reported
// percentile is the upper edge of the bin holding the exact percentile element, at most one
// bin width (percentile_resolution) above it.
inline constexpr int kPercentileBins = 2048;

/// The statistics of one layer's inputs (over all inputs, or one timestep bucket).
struct LayerStats {
  std::int64_t batches = 0;   // forward calls seen
  std::int64_t elements = 0;  // input elements seen
  float absmax = 0.0f;        // max |x|
  float moving_average = 0.0f;  // of the per-batch max |x|, with the momentum
  float percentile = 0.0f;    // the p-th percentile of |x| (the histogram bin's upper edge)
  float percentile_resolution = 0.0f;  // the histogram's bin width
  float amax = 0.0f;          // the one the method picks
};

struct LayerCalibration {
  LayerStats all;                  // every input
  std::vector<LayerStats> buckets;  // per timestep bucket (empty without edges)
};

struct CalibrationResult {
  CalibrationMethod method = CalibrationMethod::kAbsMax;
  double momentum = 0.9;
  double percentile = 99.99;
  std::vector<double> timestep_edges{};
  std::map<std::string, LayerCalibration> layers{};  // every observed Linear, by dotted path

  /// The static scale of `layer` for `qtype`: max(amax, 1e-30) / qtype_max(qtype). The floor
  /// is the one dynamic quantization uses: a layer whose inputs were all zero gets a tiny
  /// scale that quantize_static accepts (finite, > 0, 1/scale finite for every qtype), and its
  /// zeros quantize to 0 exactly. `bucket` picks a timestep bucket (none: all inputs).
  /// Throws qjit::Error naming the layer (and bucket) when it is unknown, out of range or saw
  /// no input.
  float scale(const std::string& layer, QType qtype, std::optional<int> bucket = std::nullopt) const;

  /// JSON (nlohmann): {"format": "qjit.calibration", "version": 1, "method", "momentum",
  /// "percentile", "timestep_edges", "layers": {path: {"all": stats, "buckets": [stats]}}}.
  /// Floats round-trip exactly.
  std::string to_json() const;
  /// Throws qjit::Error naming the bad field.
  static CalibrationResult from_json(std::string_view text);
  void save(const std::string& path) const;
  static CalibrationResult load(const std::string& path);
};

/// ApplyOptions whose act_scales hold every layer's scale (CalibrationResult::scale) for
/// `qtype` (the rules' act type) and `bucket`.
ApplyOptions act_scales_for(const CalibrationResult& result, QType qtype, std::optional<int> bucket = std::nullopt);

/// The bucket of timestep `t` under result's edges, placed as the Calibrator places it;
/// nullopt when the result has no buckets. Throws for a non-finite t.
std::optional<int> timestep_bucket(const CalibrationResult& result, double t);

/// Per-timestep static scales at inference (none of the systems this replaces offers them):
/// sets every static-scale QuantLinear of `model` that `result` calibrated to its scale for
/// the bucket of timestep `t` and its rule's activation qtype. A sampler calls it before each
/// step. Returns the paths it set, pre-order. Throws qjit::Error, before setting any, when the
/// result has no buckets or a static layer of the model was not calibrated.
std::vector<std::string> use_timestep_scales(Module& model, const CalibrationResult& result, double t);

/// Wraps every Linear of `model` that options.module_path matches in an observer, for as long
/// as it lives or until finish(). The model's forward then runs as before (the observers call
/// the original layers) and records each observed input, which is read back to the host.
/// Throws qjit::Error on bad options (momentum, percentile, edges, regex) or when no Linear
/// matches. A forward on a non-finite input throws naming the layer.
class Calibrator {
 public:
  Calibrator(Module& model, CalibrationOptions options = {});
  ~Calibrator();  // restores the original layers if finish() was not called
  Calibrator(const Calibrator&) = delete;
  Calibrator& operator=(const Calibrator&) = delete;

  /// The timestep of the forwards that follow (required with timestep_edges).
  void set_timestep(double t);
  /// The observed layers' paths, pre-order.
  std::vector<std::string> layers() const;
  /// Restores the original layers and returns the statistics. Throws qjit::Error when called
  /// twice.
  CalibrationResult finish();

  struct State;  // shared with the observers

 private:
  Module& model_;
  std::shared_ptr<State> state_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> originals_;
  bool finished_ = false;
  void restore() noexcept;
};

}  // namespace qjit
