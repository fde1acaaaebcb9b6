// Rules on the Wan2.1 model (runtime/models/wan_model.hpp, tiny config, synthetic weights):
// every linear replaced as the rules say, by native or diffusers names (rules and DAX
// configs); each int8 W8A8 linear bit-identical between sim and cpu on the same input; the
// norm kernel's quantized output feeding q / k / v / ffn.0 equal to the layer's own
// quantization; the quantized forward on sim against the cpu; and the end-to-end accuracy
// ordering on the synthetic default: per-token int8 closer to the float model than per-tensor.

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "../jit/test_util.hpp"
#include "quant_ops/calibration.hpp"
#include "quant_ops/checkpoint.hpp"
#include "quant_ops/dax_config.hpp"
#include "quant_ops/quant_linear.hpp"
#include "quant_ops/rule.hpp"
#include "runtime/models/wan_checkpoint.hpp"
#include "runtime/models/wan_model.hpp"
#include "runtime/models/wan_synthetic.hpp"
#include "synthetic_model.hpp"
#include "tests/support/checks.hpp"
#include "tests/support/sim_devices.hpp"

namespace qjit {
namespace {

using Outcome = LayerApplied::Outcome;

const std::map<std::string, Tensor>& weights() {
  static const auto w = wan_synthetic_weights(WanConfig::tiny(), 11);
  return w;
}

std::shared_ptr<WanModel> model_on(const std::string& device) {
  if (device == "cpu") return std::make_shared<WanModel>(WanConfig::tiny(), weights());
  return std::make_shared<WanModel>(WanConfig::tiny(), weights(), Device::sim(), test::sim_device("sm_90"));
}

TEST(WanRules, Int8ReplacesEveryLinear) {
  auto model = model_on("cpu");
  const ApplyReport r = Rule{.weight = "int8", .act = "int8"}.apply(*model);
  const std::size_t layers = wan_linear_shapes(WanConfig::tiny()).size();
  EXPECT_EQ(r.count(Outcome::kQuantized), layers);
  EXPECT_EQ(model->modules_of_type<QuantLinear>().size(), layers);
  EXPECT_LT(r.bytes_after(), r.bytes_before() / 2 + r.bytes_before() / 8);  // int8 + f32 scales vs bf16
}

// Diffusers' names select the same layers as Wan's: a regex over either naming, and DAX keys
// that exist only in diffusers' tree (condition_embedder covers three native subtrees).
TEST(WanRules, DiffusersNamesSelectLayers) {
  auto model = model_on("cpu");
  RuleSet set;
  set.rules = {Rule{.module_path = R"(condition_embedder\..*|proj_out)", .weight = "none"},
               Rule{.module_path = R"(blocks\.\d+\.attn1\..*)", .weight = "fp8_e4m3"},
               Rule{.weight = "int8", .act = "int8"}};
  const ApplyReport r = set.apply(*model);
  EXPECT_EQ(r.find("text_embedding.0")->outcome, Outcome::kSkipped);
  EXPECT_EQ(r.find("time_projection.1")->outcome, Outcome::kSkipped);
  EXPECT_EQ(r.find("head.head")->outcome, Outcome::kSkipped);
  EXPECT_NE(r.find("head.head")->why.find("(as 'proj_out')"), std::string::npos) << r.find("head.head")->why;
  EXPECT_EQ(r.find("blocks.1.self_attn.o")->rule_index, 1u);
  EXPECT_EQ(r.find("blocks.1.cross_attn.o")->rule_index, 2u);
  EXPECT_EQ(r.count(Outcome::kSkipped), 6u);

  auto dax_model = model_on("cpu");
  DaxConfig dax{.entries = {{"", Rule{.weight = "int8", .act = "int8"}},
                            {"condition_embedder", std::nullopt},
                            {"proj_out", std::nullopt},
                            {"blocks.0.ffn", Rule{.weight = "int8", .act = "none"}}}};
  const ApplyReport d = dax.apply(*dax_model);
  EXPECT_EQ(d.find("time_embedding.2")->outcome, Outcome::kSkipped);
  EXPECT_NE(d.find("time_embedding.2")->why.find("inherited from parent 'condition_embedder'"), std::string::npos)
      << d.find("time_embedding.2")->why;
  EXPECT_EQ(d.find("head.head")->outcome, Outcome::kSkipped);
  EXPECT_EQ(d.find("blocks.0.ffn.2")->rule_label, "weight=int8,act=none");
  EXPECT_TRUE(d.unused_config_keys.empty());
  test::expect_error_mentions([&] { DaxConfig{.entries = {{"condition_embeder", std::nullopt}}}.apply(*model_on("cpu")); },
                              "condition_embeder");
}

// Each int8 W8A8 linear of the model, fed the same input, gives the cpu's bits on sim (DESIGN.md
// section 5); the two with GELU-tanh in the epilogue (tanh.approx on the device) are held to
// the GELU bound of the GEMM tests: NMSE < 1e-5 (tanh.approx's 2^-10.7 relative error, squared, times the bf16 output rounding's share).
TEST(WanRules, Int8LinearsSimEqualsCpu) {
  auto cpu = model_on("cpu"), sim = model_on("sim");
  const Rule rule{.weight = "int8", .act = "int8"};
  rule.apply(*cpu);
  rule.apply(*sim);
  const auto cpu_layers = cpu->modules_of_type<QuantLinear>(), sim_layers = sim->modules_of_type<QuantLinear>();
  ASSERT_EQ(cpu_layers.size(), sim_layers.size());
  for (std::size_t i = 0; i < cpu_layers.size(); ++i) {
    const auto& [path, c] = cpu_layers[i];
    SCOPED_TRACE(path);
    const Tensor x = test::seeded({19, c->in_features()}, DType::kBF16, static_cast<unsigned>(i) + 3);
    const Tensor want = c->forward(x);
    const Tensor got = sim_layers[i].second->forward(x.to(Device::sim(), test::sim_device("sm_90")));
    if (c->gelu_tanh()) EXPECT_LT(test::nmse(got, want), 1e-5);
    else EXPECT_TRUE(test::same_bits(got.to(Device::cpu()), want));
  }
}

// The norm kernel's fused quantized output (LinearLayer::input_quantization) into the layer's
// GEMM gives exactly the layer's forward on the float norm output: int8, fp8_e4m3 and
// fp8_e5m2 activations, per-token dynamic and static.
TEST(WanRules, NormEmitsTheQuantizedInputALayerAsksFor) {
  const auto dev = test::sim_device("sm_90");
  const std::int64_t d = 128;
  const Tensor x = test::seeded({2, 9, d}, DType::kF32, 5).to(Device::sim(), dev);
  NormModArgs args;
  args.shift = test::seeded({2, d}, DType::kF32, 6, 0.1f);
  args.scale = test::seeded({2, d}, DType::kF32, 7, 0.5f);
  const Linear lin(test::seeded({64, d}, DType::kBF16, 8, 0.05f), test::seeded({64}, DType::kBF16, 9));
  for (const char* qtype : {"int8", "fp8_e4m3", "fp8_e5m2"})
  for (const bool stat : {false, true}) {
    SCOPED_TRACE(fmt::format("{} {}", qtype, stat ? "static" : "per-token"));
    const Rule rule{.weight = std::string(qtype) == "int8" ? "int8" : "fp8_e4m3", .act = qtype, .act_static_scale = stat};
    const std::optional<Tensor> scale = stat ? std::optional<Tensor>(Tensor::from_vector<float>({1}, std::vector<float>{0.03f})) : std::nullopt;
    auto ql = QuantLinear::from(lin, rule.resolve(), scale);
    const auto want_form = ql->input_quantization();
    ASSERT_TRUE(want_form.has_value());
    EXPECT_EQ(want_form->per_token, !stat);
    const LinearInput in = norm_modulate_for(x, args, DType::kBF16, want_form);
    ASSERT_TRUE(in.quantized());
    const Tensor fused = ql->forward_input(in);
    const Tensor separate = ql->forward(norm_modulate(x, args, DType::kBF16));
    EXPECT_TRUE(test::same_bits(fused.to(Device::cpu()), separate.to(Device::cpu())));
  }
  // Rules whose activations the norm cannot emit take float rows.
  auto wo = QuantLinear::from(lin, Rule{.weight = "int8", .act = "none"}.resolve());
  EXPECT_FALSE(wo->input_quantization().has_value());
  auto pt = QuantLinear::from(lin, Rule::preset("int8-per-tensor").resolve());
  EXPECT_FALSE(pt->input_quantization().has_value());
}

// The quantized forward on sim against the cpu. Every int8 linear without GELU is bit-identical
// (above), so the differences start where the unquantized forward's do (attention, GELU:
// tests/runtime/wan_model_test.cpp derives NMSE 7e-4 for them) and grow where a bf16 input that
// differs by one rounding flips an int8 code: a flip moves one code by one step, at most half a
// quantization step (relative 1/254 of the row's amax) beyond the bf16 difference (2^-9), so
// each flipped element's error grows at most (2^-9 + 1/254)^2 / (2^-8)^2 ~ 1.3x; 7e-4 * 1.3 =
// 9e-4, held to 1e-3.
TEST(WanRules, QuantizedForwardSimMatchesCpu) {
  auto cpu = model_on("cpu"), sim = model_on("sim");
  const Rule rule{.weight = "int8", .act = "int8"};
  rule.apply(*cpu);
  rule.apply(*sim);
  const WanInputs in = wan_synthetic_inputs(WanConfig::tiny(), 1, 1, 4, 4, 6, 2);
  const double e = test::nmse(sim->forward(in.latents, in.timesteps, in.context), cpu->forward(in.latents, in.timesteps, in.context));
  RecordProperty("nmse", fmt::format("{:.3g}", e));
  EXPECT_LT(e, 1e-3);
}

// The end-to-end ordering on the synthetic default (outlier channels and varying token
// magnitudes): a per-token scale is never larger than the per-tensor one, so its rounding
// error is smaller on every row that is not the tensor's largest.
TEST(WanRules, PerTokenInt8MoreAccurateThanPerTensor) {
  const WanInputs in = wan_synthetic_inputs(WanConfig::tiny(), 1, 2, 4, 4, 8, 9);
  auto ref = model_on("cpu");
  const Tensor want = ref->forward(in.latents, in.timesteps, in.context);
  std::map<std::string, double> err;
  for (const char* preset : {"int8", "int8-per-tensor"}) {
    auto m = model_on("cpu");
    Rule::parse(preset).apply(*m);
    err[preset] = test::nmse(m->forward(in.latents, in.timesteps, in.context), want);
    RecordProperty(fmt::format("nmse_{}", preset), fmt::format("{:.3g}", err[preset]));
  }
  EXPECT_LT(err["int8"], err["int8-per-tensor"]);
  EXPECT_LT(err["int8"], 1e-2);
}

// A Wan checkpoint in diffusers' naming loads into the native model with the same bits, and a
// quantized checkpoint of the sim model (LightX2V names) loads back onto the sim device with
// the same forward, bit for bit.
TEST(WanRules, CheckpointsByEitherNamingAndQuantizedRoundTrip) {
  test::TempDir dir;
  const auto file = dir.path() / "wan-diffusers.safetensors";
  save_wan_weights(file, weights(), WanNaming::kDiffusers);
  const auto loaded = load_wan_weights(file, WanConfig::tiny());
  const WanInputs in = wan_synthetic_inputs(WanConfig::tiny(), 1, 1, 4, 4, 6, 8);
  WanModel from_file(WanConfig::tiny(), loaded);
  EXPECT_TRUE(test::same_bits(from_file.forward(in.latents, in.timesteps, in.context),
                              model_on("cpu")->forward(in.latents, in.timesteps, in.context)));

  auto sim = model_on("sim");
  Rule{.weight = "int8", .act = "int8"}.apply(*sim);
  const auto qfile = dir.path() / "wan-int8.safetensors";
  save_quantized_checkpoint(qfile, *sim);
  auto fresh = model_on("sim");
  EXPECT_EQ(load_quantized_checkpoint(qfile, *fresh).size(), wan_linear_shapes(WanConfig::tiny()).size());
  const auto* ql = dynamic_cast<QuantLinear*>(&fresh->at("blocks.0.ffn.2"));
  ASSERT_NE(ql, nullptr);
  EXPECT_EQ(ql->weight().q.device(), Device::sim());
  EXPECT_TRUE(test::same_bits(fresh->forward(in.latents, in.timesteps, in.context).to(Device::cpu()),
                              sim->forward(in.latents, in.timesteps, in.context).to(Device::cpu())));
}

// Per-timestep static scales: calibrate with a bucket edge at t = 500, quantize with the
// all-inputs scales, then switch every static layer to its bucket's scale before each step.
TEST(WanRules, TimestepBucketScales) {
  auto model = model_on("cpu");
  const WanInputs in = wan_synthetic_inputs(WanConfig::tiny(), 1, 1, 4, 4, 6, 12);
  Calibrator cal(*model, {.timestep_edges = {500.0}});
  for (const float t : {900.0f, 700.0f, 300.0f, 100.0f}) {
    cal.set_timestep(t);
    model->forward(in.latents, Tensor::from_vector<float>({1}, std::vector<float>{t}), in.context);
  }
  const CalibrationResult result = cal.finish();
  EXPECT_EQ(timestep_bucket(result, 100.0), 0);
  EXPECT_EQ(timestep_bucket(result, 500.0), 1);
  Rule{.weight = "int8", .act = "int8", .act_static_scale = true}.apply(*model, act_scales_for(result, QType::kInt8));
  const auto set = use_timestep_scales(*model, result, 100.0);
  EXPECT_EQ(set.size(), wan_linear_shapes(WanConfig::tiny()).size());
  // The timestep projection's input (SiLU of the time embedding) differs between buckets.
  auto* te = dynamic_cast<QuantLinear*>(&model->at("time_projection.1"));
  EXPECT_EQ(te->act_scale()->item_f32(0), result.scale("time_projection.1", QType::kInt8, 0));
  EXPECT_NE(result.scale("time_projection.1", QType::kInt8, 0), result.scale("time_projection.1", QType::kInt8, 1));
  use_timestep_scales(*model, result, 800.0);
  EXPECT_EQ(te->act_scale()->item_f32(0), result.scale("time_projection.1", QType::kInt8, 1));
  const Tensor y = model->forward(in.latents, Tensor::from_vector<float>({1}, std::vector<float>{800.0f}), in.context);
  for (float v : y.to_f32_vector()) ASSERT_TRUE(std::isfinite(v));
  CalibrationResult flat = result;
  flat.timestep_edges.clear();
  test::expect_error_mentions([&] { use_timestep_scales(*model, flat, 100.0); }, "no timestep buckets");
  test::expect_error_mentions([&] { te->set_act_scale(Tensor::from_vector<float>({1}, std::vector<float>{0.0f})); },
                              "must be finite and > 0");
}

}  // namespace
}  // namespace qjit
