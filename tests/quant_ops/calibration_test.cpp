// Calibration of static activation scales on the synthetic model (cpu): each method's
// statistics against values computed here from the inputs each layer saw, the model restored
// after finish(), timestep buckets, JSON, calibrate -> static int8 apply -> forward, errors.

#include "quant_ops/calibration.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "quant_ops/rule.hpp"
#include "runtime/linear.hpp"
#include "synthetic_model.hpp"
#include "tests/support/checks.hpp"

namespace qjit {
namespace {

using test::expect_error_mentions;
using test::same_bits;
using test::seeded;
using test::tiny_layers;
using test::TinyModel;

// Calibration batches [rows, 32] bf16; the third is wider so the percentile histogram's
// range has to double.
std::vector<Tensor> batches() {
  return {seeded({4, 8, TinyModel::kDim}, DType::kBF16, 1), seeded({16, TinyModel::kDim}, DType::kBF16, 2, 0.5f),
          seeded({3, 16, TinyModel::kDim}, DType::kBF16, 3, 4.0f), seeded({8, TinyModel::kDim}, DType::kBF16, 4)};
}

// NOTE: TinyModel's Linear layers form one chain in tiny_layers() order (each layer's output
// is the next one's input), so every layer's inputs are computed here by the original layers.
std::map<std::string, std::vector<std::vector<float>>> layer_inputs(TinyModel& model, const std::vector<Tensor>& xs) {
  std::map<std::string, std::vector<std::vector<float>>> in;
  for (Tensor x : xs) {
    for (const std::string& path : tiny_layers()) {
      in[path].push_back(x.to_f32_vector());
      x = dynamic_cast<LinearLayer&>(model.at(path)).forward(x);
    }
  }
  return in;
}

float absmax_of(const std::vector<float>& v) {
  float m = 0.0f;
  for (float x : v) m = std::max(m, std::fabs(x));
  return m;
}

CalibrationResult calibrate(TinyModel& model, const std::vector<Tensor>& xs, CalibrationOptions o) {
  Calibrator cal(model, o);
  for (const Tensor& x : xs) model.forward(x);
  return cal.finish();
}

TEST(Calibration, AbsMaxIsTheLargestInputMagnitude) {
  TinyModel model;
  const auto xs = batches();
  const auto in = layer_inputs(model, xs);
  const CalibrationResult r = calibrate(model, xs, {.method = CalibrationMethod::kAbsMax});
  ASSERT_EQ(r.layers.size(), tiny_layers().size());
  for (const std::string& path : tiny_layers()) {
    float want = 0.0f;
    std::int64_t elements = 0;
    for (const auto& v : in.at(path)) {
      want = std::max(want, absmax_of(v));
      elements += static_cast<std::int64_t>(v.size());
    }
    const LayerStats& s = r.layers.at(path).all;
    EXPECT_EQ(s.batches, 4) << path;
    EXPECT_EQ(s.elements, elements) << path;
    EXPECT_EQ(s.absmax, want) << path;
    EXPECT_EQ(s.amax, want) << path;
    EXPECT_TRUE(r.layers.at(path).buckets.empty());
    // DESIGN.md section 5's static scale: amax / qmax.
    EXPECT_EQ(r.scale(path, QType::kInt8), want / 127.0f) << path;
    EXPECT_EQ(r.scale(path, QType::kE4M3), want / 448.0f) << path;
    EXPECT_EQ(r.scale(path, QType::kE5M2), want / 57344.0f) << path;
  }
}

TEST(Calibration, MovingAverageFollowsTheMomentumFormula) {
  TinyModel model;
  const auto xs = batches();
  const auto in = layer_inputs(model, xs);
  const double m = 0.8;
  const CalibrationResult r = calibrate(model, xs, {.method = CalibrationMethod::kMovingAverage, .momentum = m});
  for (const std::string& path : tiny_layers()) {
    double avg = 0.0;
    const auto& v = in.at(path);
    for (std::size_t i = 0; i < v.size(); ++i) avg = i == 0 ? absmax_of(v[i]) : m * avg + (1.0 - m) * absmax_of(v[i]);
    EXPECT_EQ(r.layers.at(path).all.moving_average, static_cast<float>(avg)) << path;
    EXPECT_EQ(r.layers.at(path).all.amax, static_cast<float>(avg)) << path;
  }
}

TEST(Calibration, PercentileIsWithinOneHistogramBin) {
  for (double p : {99.99, 99.0, 50.0, 100.0}) {
    TinyModel model;
    const auto xs = batches();
    const auto in = layer_inputs(model, xs);
    const CalibrationResult r = calibrate(model, xs, {.method = CalibrationMethod::kPercentile, .percentile = p});
    for (const std::string& path : tiny_layers()) {
      std::vector<float> all;
      for (const auto& v : in.at(path)) {
        for (float x : v) all.push_back(std::fabs(x));
      }
      std::sort(all.begin(), all.end());
      const auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(all.size())));
      const float want = all[std::max<std::size_t>(rank, 1) - 1];
      const LayerStats& s = r.layers.at(path).all;
      // Resolution: the range is < 2 absmax, so a bin is < absmax / 1024 wide (calibration.hpp).
      EXPECT_GT(s.percentile_resolution, 0.0f) << path;
      EXPECT_LE(s.percentile_resolution, s.absmax / 1024.0f) << path;
      // The bin's upper edge; the 1e-3 bin slack covers rounding at a bin boundary.
      EXPECT_GE(s.percentile, want - 1e-3f * s.percentile_resolution) << path << " p=" << p;
      EXPECT_LE(s.percentile, want + 1.001f * s.percentile_resolution) << path << " p=" << p;
      EXPECT_EQ(s.amax, s.percentile);
    }
  }
}

TEST(Calibration, ModelIsRestoredAndUnchangedWhileObserved) {
  TinyModel model;
  const auto before = test::snapshot(model);
  const Tensor x = seeded({5, TinyModel::kDim}, DType::kBF16, 7);
  const Tensor y = model.forward(x);
  Calibrator cal(model, {.module_path = R"(blocks\.1\..*)"});
  EXPECT_EQ(cal.layers(), (std::vector<std::string>{"blocks.1.self_attn.q", "blocks.1.ffn.0", "blocks.1.ffn.2"}));
  EXPECT_EQ(model.at("blocks.1.ffn.0").type_name(), "CalibrationObserver");
  EXPECT_EQ(model.at("blocks.0.ffn.0").type_name(), "Linear");
  EXPECT_TRUE(same_bits(model.forward(x), y));  // the observers only look
  const CalibrationResult r = cal.finish();
  EXPECT_EQ(r.layers.size(), 3u);
  EXPECT_EQ(test::snapshot(model), before);  // the very same modules
  EXPECT_TRUE(same_bits(model.forward(x), y));
  {  // a calibrator that is never finished restores the model too
    Calibrator dropped(model);
    EXPECT_EQ(model.at("head.head").type_name(), "CalibrationObserver");
  }
  EXPECT_EQ(test::snapshot(model), before);
}

TEST(Calibration, TimestepBuckets) {
  TinyModel model;
  const Tensor early = seeded({8, TinyModel::kDim}, DType::kBF16, 11, 3.0f);
  const Tensor late = seeded({8, TinyModel::kDim}, DType::kBF16, 12, 0.5f);
  const Tensor mid = seeded({8, TinyModel::kDim}, DType::kBF16, 13, 1.0f);
  Calibrator cal(model, {.module_path = R"(blocks\.0\.self_attn\.q)", .timestep_edges = {250.0, 750.0}});
  EXPECT_THROW(model.forward(early), Error);  // no timestep set yet
  // Buckets: t < 250, 250 <= t < 750, t >= 750 (an edge belongs to the bucket above it).
  cal.set_timestep(999.0);
  model.forward(early);
  cal.set_timestep(750.0);
  model.forward(early);
  cal.set_timestep(0.0);
  model.forward(late);
  cal.set_timestep(250.0);
  model.forward(mid);
  const CalibrationResult r = cal.finish();
  const LayerCalibration& c = r.layers.at("blocks.0.self_attn.q");
  ASSERT_EQ(c.buckets.size(), 3u);
  const float a_early = absmax_of(early.to_f32_vector()), a_late = absmax_of(late.to_f32_vector()),
              a_mid = absmax_of(mid.to_f32_vector());
  EXPECT_EQ(c.buckets[0].absmax, a_late);
  EXPECT_EQ(c.buckets[1].absmax, a_mid);
  EXPECT_EQ(c.buckets[2].absmax, a_early);
  EXPECT_EQ(c.buckets[2].batches, 2);
  EXPECT_EQ(c.all.batches, 4);
  EXPECT_EQ(c.all.absmax, std::max({a_early, a_late, a_mid}));
  const ApplyOptions o0 = act_scales_for(r, QType::kInt8, 0), o2 = act_scales_for(r, QType::kInt8, 2);
  EXPECT_EQ(o0.act_scales.at("blocks.0.self_attn.q").item_f32(0), a_late / 127.0f);
  EXPECT_EQ(o2.act_scales.at("blocks.0.self_attn.q").item_f32(0), a_early / 127.0f);
  expect_error_mentions([&] { r.scale("blocks.0.self_attn.q", QType::kInt8, 3); }, "bucket 3 out of range");
  // A bucket no input fell in has no scale.
  Calibrator only_late(model, {.timestep_edges = {500.0}});
  only_late.set_timestep(900.0);
  model.forward(late);
  const CalibrationResult r2 = only_late.finish();
  expect_error_mentions([&] { act_scales_for(r2, QType::kInt8, 0); }, "timestep bucket 0: the calibration saw no input");
  EXPECT_EQ(act_scales_for(r2, QType::kInt8, 1).act_scales.size(), tiny_layers().size());
}

TEST(Calibration, JsonRoundTrip) {
  TinyModel model;
  Calibrator cal(model, {.method = CalibrationMethod::kPercentile, .percentile = 99.9, .timestep_edges = {0.5}});
  cal.set_timestep(0.25);
  model.forward(seeded({6, TinyModel::kDim}, DType::kBF16, 21));
  const CalibrationResult r = cal.finish();
  const std::string path = ::testing::TempDir() + "/qjit_calibration_test.json";
  r.save(path);
  const CalibrationResult back = CalibrationResult::load(path);
  std::remove(path.c_str());
  EXPECT_EQ(back.to_json(), r.to_json());
  EXPECT_EQ(back.method, CalibrationMethod::kPercentile);
  EXPECT_EQ(back.percentile, 99.9);
  EXPECT_EQ(back.timestep_edges, std::vector<double>{0.5});
  for (const std::string& l : tiny_layers()) {
    EXPECT_EQ(back.scale(l, QType::kE4M3), r.scale(l, QType::kE4M3)) << l;
    EXPECT_EQ(back.scale(l, QType::kInt8, 0), r.scale(l, QType::kInt8, 0)) << l;
  }
  expect_error_mentions([] { CalibrationResult::from_json("{\"format\": \"other\"}"); }, "format");
  expect_error_mentions([] { CalibrationResult::from_json("[1,"); }, "does not parse");
  std::string bad = r.to_json();
  bad.replace(bad.find("\"percentile\","), 13, "\"histogram\",");
  expect_error_mentions([&] { CalibrationResult::from_json(bad); }, "unknown calibration method 'histogram'");
  expect_error_mentions([] { CalibrationResult::load("/nonexistent/qjit/cal.json"); }, "/nonexistent/qjit/cal.json");
}

TEST(Calibration, CalibratedStaticInt8RunsCloseToTheFloatModel) {
  const auto xs = batches();
  const Tensor x = xs[0];
  TinyModel reference;
  const Tensor want = reference.forward(x);
  const Rule rule{.weight = "int8", .act = "int8", .act_static_scale = true};

  TinyModel model;
  const CalibrationResult r = calibrate(model, xs, {.method = CalibrationMethod::kAbsMax});
  const ApplyReport report = rule.apply(model, act_scales_for(r, QType::kInt8));
  EXPECT_EQ(report.count(LayerApplied::Outcome::kQuantized), tiny_layers().size());
  const double calibrated = test::nmse(model.forward(x), want);

  // The same rule with every scale 1000x too large: almost every activation rounds to 0.
  TinyModel absurd;
  ApplyOptions o = act_scales_for(r, QType::kInt8);
  for (auto& [path, s] : o.act_scales) s = Tensor::from_vector<float>({1}, std::vector<float>{s.item_f32(0) * 1000.0f});
  rule.apply(absurd, o);
  const double off = test::nmse(absurd.forward(x), want);

  // Bound: x's amax is within the calibrated range, so int8 rounding of activations and
  // per-channel weights adds a relative noise of about (amax/127)^2/12 / E[x^2] per operand;
  // for Gaussian-like data amax ~ 4 sigma (up to ~8 sigma for the wide batch's range) gives
  // ~(8/127)^2/12 = 3.3e-4 per operand, two operands and seven chained layers (GELU and bf16
  // outputs, ~1e-5, aside) < 5e-3; 1e-2 leaves a factor of two.
  EXPECT_LT(calibrated, 1e-2);
  EXPECT_GT(off, 10.0 * calibrated);
}

TEST(Calibration, Errors) {
  TinyModel model;
  {  // a non-finite input names the layer
    Calibrator cal(model);
    std::vector<float> v(2 * TinyModel::kDim, 1.0f);
    v[37] = std::numeric_limits<float>::quiet_NaN();
    const Tensor x = Tensor::from_vector<float>({2, TinyModel::kDim}, v, DType::kBF16);
    expect_error_mentions([&] { model.forward(x); }, "layer 'blocks.0.self_attn.q'");
    expect_error_mentions([&] { model.forward(x); }, "flat index 37");
    cal.finish();
    expect_error_mentions([&] { cal.finish(); }, "finish called twice");
  }
  EXPECT_EQ(model.at("blocks.0.self_attn.q").type_name(), "Linear");
  // A result without some layer: the static rule's apply names the layer with no scale.
  const CalibrationResult ffn_only =
      calibrate(model, batches(), {.module_path = R"(.*\.ffn\..*)"});
  EXPECT_EQ(ffn_only.layers.size(), 4u);
  expect_error_mentions(
      [&] { Rule{.weight = "int8", .act = "int8", .act_static_scale = true}.apply(model, act_scales_for(ffn_only, QType::kInt8)); },
      "layer 'blocks.0.self_attn.q'");
  EXPECT_EQ(model.at("blocks.0.ffn.0").type_name(), "Linear");  // apply checked before replacing
  expect_error_mentions([&] { ffn_only.scale("head.head", QType::kInt8); }, "no calibration for layer 'head.head'");
  // Bad options.
  expect_error_mentions([&] { Calibrator c(model, {.module_path = "nothing"}); }, "no Linear layer");
  expect_error_mentions([&] { Calibrator c(model, {.module_path = "("}); }, "bad regex");
  expect_error_mentions([&] { Calibrator c(model, {.momentum = 1.0}); }, "momentum");
  expect_error_mentions([&] { Calibrator c(model, {.percentile = 0.0}); }, "percentile");
  expect_error_mentions([&] { Calibrator c(model, {.timestep_edges = {2.0, 1.0}}); }, "strictly increasing");
  // All-zero inputs: the dynamic quantization's amax floor, so quantize_static takes the scale.
  Calibrator zeros(model);
  model.forward(Tensor::zeros({2, TinyModel::kDim}, DType::kBF16));
  const CalibrationResult z = zeros.finish();
  EXPECT_EQ(z.scale("blocks.0.self_attn.q", QType::kInt8), 1e-30f / 127.0f);
  EXPECT_GT(z.scale("blocks.0.self_attn.q", QType::kE5M2), 0.0f);
}

}  // namespace
}  // namespace qjit
