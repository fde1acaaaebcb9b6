// Accuracy metrics (quant_ops/accuracy.hpp): the formulas on values checked by hand, errors,
// and per-layer accuracy on the tiny Wan model: every quantized layer measured on the input
// its float counterpart saw, kept layers exact, the reference model restored.

#include "quant_ops/accuracy.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "quant_ops/quant_linear.hpp"
#include "quant_ops/rule.hpp"
#include "runtime/models/wan_model.hpp"
#include "runtime/models/wan_synthetic.hpp"
#include "tests/support/checks.hpp"

namespace qjit {
namespace {

TEST(Accuracy, MetricsByHand) {
  const Tensor want = Tensor::from_vector<float>({4}, std::vector<float>{1, 2, 3, 4});
  const Tensor got = Tensor::from_vector<float>({2, 2}, std::vector<float>{1, 2, 3, 5});
  const AccuracyMetrics m = compare_outputs(got, want);
  EXPECT_EQ(m.elements, 4);
  EXPECT_DOUBLE_EQ(m.mse, 0.25);
  EXPECT_DOUBLE_EQ(m.nmse, 1.0 / 30.0);
  EXPECT_DOUBLE_EQ(m.snr_db, -10.0 * std::log10(1.0 / 30.0));
  EXPECT_DOUBLE_EQ(m.cosine, 34.0 / std::sqrt(39.0 * 30.0));
  const AccuracyMetrics same = compare_outputs(want, want.to_dtype(DType::kBF16));
  EXPECT_EQ(same.nmse, 0.0);
  EXPECT_EQ(same.snr_db, std::numeric_limits<double>::infinity());
  EXPECT_DOUBLE_EQ(same.cosine, 1.0);
  test::expect_error_mentions([&] { compare_outputs(want.narrow(0, 0, 3), want); }, "outputs of different sizes");
  const Tensor nan = Tensor::from_vector<float>({4}, std::vector<float>{1, NAN, 3, 4});
  test::expect_error_mentions([&] { compare_outputs(nan, want); }, "element 1 is not finite");
}

TEST(Accuracy, PerLayerOnTinyWan) {
  const auto weights = wan_synthetic_weights(WanConfig::tiny(), 3);
  WanModel reference(WanConfig::tiny(), weights), quantized(WanConfig::tiny(), weights);
  RuleSet set;
  set.rules = {Rule{.module_path = "head.head", .weight = "none"}, Rule{.weight = "int8", .act = "int8"}};
  set.apply(quantized);
  const WanInputs in = wan_synthetic_inputs(WanConfig::tiny(), 1, 1, 4, 4, 5, 4);
  const auto layers = layer_accuracy(reference, quantized, [&](Module& m) {
    dynamic_cast<WanModel&>(m).forward(in.latents, in.timesteps, in.context);
  });
  ASSERT_EQ(layers.size(), wan_linear_shapes(WanConfig::tiny()).size());
  for (const LayerAccuracy& l : layers) {
    SCOPED_TRACE(l.path);
    EXPECT_EQ(l.calls, 1);
    EXPECT_EQ(reference.at(l.path).type_name(), "Linear");  // restored
    if (l.path == "head.head") {
      EXPECT_EQ(l.type, "Linear");
      EXPECT_EQ(l.metrics.nmse, 0.0);
    } else {
      EXPECT_EQ(l.type, "QuantLinear");
      // int8 per-token x per-channel: each operand's rounding error is uniform within half a
      // step, relative variance (1/127)^2 / 12 of the row's amax squared per element; with
      // outlier-heavy rows (amax up to ~20x the RMS) that is 400 / (12 * 127^2) ~ 2e-3 per
      // operand, 4e-3 for both, plus bf16 output rounding (1e-5).
      EXPECT_GT(l.metrics.nmse, 0.0);
      EXPECT_LT(l.metrics.nmse, 4e-3);
      EXPECT_GT(l.metrics.cosine, 0.99);
    }
  }
}

}  // namespace
}  // namespace qjit
