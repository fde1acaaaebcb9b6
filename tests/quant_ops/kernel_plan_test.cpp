// The kernel plan (quant_ops/kernel_plan.hpp): for every preset of DESIGN.md section 7 the
// families and modes linear_forward runs on the Wan2.1 workload (no act_quant for a static
// scale, per_tensor / group128 through the separate pass, per-token fused or separate as the
// heuristic says, block-fp8, weight-only), fp8 skipped below sm_89 with the reason; and on
// sim, linear_forward resolves exactly the planned (spec, kernel) pairs on a fresh device.

#include "quant_ops/kernel_plan.hpp"

#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "jit/impls/act_quant.hpp"
#include "jit/impls/qgemm.hpp"
#include "jit/jit.hpp"
#include "quant_ops/linear.hpp"
#include "quant_ops/rule.hpp"
#include "runtime/kernels.hpp"
#include "runtime/sim/sim_driver.hpp"

namespace qjit {
namespace {

const jit::Arch kSm80 = jit::Arch::parse("sm_80"), kSm89 = jit::Arch::parse("sm_89"), kSm90 = jit::Arch::parse("sm_90");

std::string enum_param(const jit::KernelSpec& s, const std::string& name) {
  return std::get<jit::EnumValue>(s.param(name)).value;
}
bool bool_param(const jit::KernelSpec& s, const std::string& name) { return std::get<bool>(s.param(name)); }

// What a planned program is, in the terms of the presets table: "act_quant kDynamicPerToken
// kI8", "qgemm kQuantized kI8 x kI8", "qgemm_wo kI8", with the scale layouts for qgemm.
std::string kind(const jit::KernelSpec& s) {
  if (s.family() == "act_quant") return "act_quant " + enum_param(s, "kMode") + " " + enum_param(s, "kOut");
  if (s.family() == "qgemm_wo") return "qgemm_wo " + enum_param(s, "kQW");
  EXPECT_EQ(s.family(), "qgemm");
  std::string scales = bool_param(s, "kBlockScales") ? "group128 x block128"
                       : std::string(bool_param(s, "kScaleAPerToken") ? "per_token" : "per_tensor") + " x " +
                             (bool_param(s, "kScaleWPerChannel") ? "per_channel" : "per_tensor");
  return "qgemm " + enum_param(s, "kASource") + " " + enum_param(s, "kQA") + " x " + enum_param(s, "kQW") + " " +
         scales;
}

std::set<std::string> kinds(const KernelPlan& plan) {
  std::set<std::string> out;
  for (const auto& k : plan.kernels) out.insert(kind(k.spec));
  return out;
}

KernelPlan wan_plan(const std::string& preset, jit::Arch arch) {
  return plan_kernels(wan_linear_shapes(WanConfig::wan_1_3b()), {find_preset(preset)}, {arch});
}

// Wan2.1-1.3B at 32760 video tokens: every large layer has more than four column tiles, so
// dynamic per-token quantization runs as a separate pass there; the time embedding (one
// row) is launch-bound, so its GEMM quantizes x itself in a fused prologue.
TEST(KernelPlan, EveryPresetPlansTheFamiliesLinearRuns) {
  struct Case {
    std::string preset;
    std::set<std::string> want;
  };
  const std::vector<Case> cases = {
      {"int8",
       {"act_quant kDynamicPerToken kI8", "qgemm kQuantized kI8 x kI8 per_token x per_channel",
        "qgemm kDynamicFused kI8 x kI8 per_token x per_channel"}},
      {"int8-per-tensor", {"act_quant kDynamicPerTensor kI8", "qgemm kQuantized kI8 x kI8 per_tensor x per_tensor"}},
      {"int8-static", {"qgemm kStatic kI8 x kI8 per_tensor x per_channel"}},
      {"int8-weight-only", {"qgemm_wo kI8"}},
      {"fp8",
       {"act_quant kDynamicPerToken kE4M3", "qgemm kQuantized kE4M3 x kE4M3 per_token x per_channel",
        "qgemm kDynamicFused kE4M3 x kE4M3 per_token x per_channel"}},
      {"fp8-e5m2",
       {"act_quant kDynamicPerToken kE5M2", "qgemm kQuantized kE5M2 x kE4M3 per_token x per_channel",
        "qgemm kDynamicFused kE5M2 x kE4M3 per_token x per_channel"}},
      {"fp8-block128", {"act_quant kDynamicGroup128 kE4M3", "qgemm kQuantized kE4M3 x kE4M3 group128 x block128"}},
  };
  for (const auto& arch : {kSm89, kSm90}) {
    for (const Case& c : cases) {
      SCOPED_TRACE(c.preset + " " + arch.str());
      const KernelPlan plan = wan_plan(c.preset, arch);
      EXPECT_TRUE(plan.skipped.empty());
      EXPECT_EQ(kinds(plan), c.want);
      for (const auto& k : plan.kernels) {
        EXPECT_EQ(k.spec.arch(), arch);
        EXPECT_EQ(k.presets, std::vector<std::string>{c.preset});
        ASSERT_FALSE(k.needed_by.empty());
        EXPECT_EQ(k.needed_by.front().rfind(c.preset + " ", 0), 0u) << k.needed_by.front();
        // Per-tensor dynamic scales need the amax pass before the quantizing one.
        const bool two_pass = kind(k.spec) == "act_quant kDynamicPerTensor kI8";
        EXPECT_EQ(k.kernels.size(), two_pass ? 2u : 1u);
      }
    }
  }
}

// Layer by layer, the steps the table above summarizes.
TEST(KernelPlan, LayersGetTheirPath) {
  const auto shapes = wan_linear_shapes(WanConfig::wan_1_3b());
  auto layer = [&](const std::string& name) {
    for (const auto& s : shapes) {
      if (s.name == name) return s;
    }
    ADD_FAILURE() << "no layer " << name;
    return shapes.front();
  };
  auto plan_of = [&](const std::string& name, const std::string& preset) {
    std::vector<std::string> out;
    for (const auto& k : plan_kernels({layer(name)}, {find_preset(preset)}, {kSm90}).kernels) out.push_back(kind(k.spec));
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(plan_of("blocks.3.ffn.2", "int8"),
            (V{"act_quant kDynamicPerToken kI8", "qgemm kQuantized kI8 x kI8 per_token x per_channel"}));
  EXPECT_EQ(plan_of("time_embedding.0", "int8"), (V{"qgemm kDynamicFused kI8 x kI8 per_token x per_channel"}));
  EXPECT_EQ(plan_of("time_embedding.0", "int8-per-tensor"),
            (V{"act_quant kDynamicPerTensor kI8", "qgemm kQuantized kI8 x kI8 per_tensor x per_tensor"}));
  EXPECT_EQ(plan_of("blocks.0.self_attn.q", "int8-static"), (V{"qgemm kStatic kI8 x kI8 per_tensor x per_channel"}));
  EXPECT_EQ(plan_of("head.head", "fp8-block128"),
            (V{"act_quant kDynamicGroup128 kE4M3", "qgemm kQuantized kE4M3 x kE4M3 group128 x block128"}));
  // GELU fused after ffn.0, not after ffn.2; the bias in the activation dtype.
  const auto ffn0 = plan_kernels({layer("blocks.0.ffn.0")}, {find_preset("int8-static")}, {kSm90}).kernels;
  const auto ffn2 = plan_kernels({layer("blocks.0.ffn.2")}, {find_preset("int8-static")}, {kSm90}).kernels;
  ASSERT_EQ(ffn0.size(), 1u);
  ASSERT_EQ(ffn2.size(), 1u);
  EXPECT_TRUE(bool_param(ffn0[0].spec, "kGelu"));
  EXPECT_FALSE(bool_param(ffn2[0].spec, "kGelu"));
  EXPECT_TRUE(bool_param(ffn0[0].spec, "kHasBias"));
  EXPECT_EQ(enum_param(ffn0[0].spec, "kBias"), "kBF16");
  // needed_by names the preset, the layer (blocks collapsed), the problem and the step.
  const auto all = plan_kernels(shapes, {find_preset("int8")}, {kSm90}).kernels;
  bool found = false;
  for (const auto& k : all) {
    for (const auto& n : k.needed_by) found = found || n.rfind("int8 blocks.*.ffn.2 (M=32760, N=1536, K=8960): qgemm ", 0) == 0;
  }
  EXPECT_TRUE(found);
}

// fp8 mma needs sm_89: on sm_80 the fp8 presets plan nothing and say why; the int8 presets
// still plan their kernels in the same call.
TEST(KernelPlan, Fp8PresetsAreSkippedOnSm80WithTheReason) {
  const auto shapes = wan_linear_shapes(WanConfig::wan_1_3b());
  const KernelPlan plan = plan_kernels(shapes, presets(), {kSm80, kSm89});
  std::set<std::string> skipped;
  for (const auto& s : plan.skipped) {
    EXPECT_EQ(s.arch, "sm_80");
    EXPECT_NE(s.reason.find("sm_89"), std::string::npos) << s.reason;
    EXPECT_NE(s.reason.find("sm_80"), std::string::npos) << s.reason;
    EXPECT_NE(s.reason.find(s.preset), std::string::npos) << s.reason;
    skipped.insert(s.preset);
  }
  EXPECT_EQ(skipped, (std::set<std::string>{"fp8", "fp8-e5m2", "fp8-block128"}));
  std::set<std::string> on_sm80;
  for (const auto& k : plan.kernels) {
    if (k.spec.arch() != kSm80) continue;
    for (const auto& p : k.presets) on_sm80.insert(p);
  }
  EXPECT_EQ(on_sm80, (std::set<std::string>{"int8", "int8-per-tensor", "int8-static", "int8-weight-only"}));
  EXPECT_TRUE(wan_plan("fp8", kSm80).kernels.empty());
  // Deduplicated: every spec once.
  std::set<std::string> canon;
  for (const auto& k : plan.kernels) EXPECT_TRUE(canon.insert(k.spec.canonical()).second) << k.spec.summary();
}

// ---- the plan against what linear_forward runs on sim -------------------------------------

Tensor randn(std::vector<std::int64_t> shape, DType dtype, unsigned seed, float sigma) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, sigma);
  std::int64_t n = 1;
  for (auto s : shape) n *= s;
  std::vector<float> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = normal(rng);
  return Tensor::from_vector<float>(std::move(shape), v, dtype);
}

std::uint64_t jit_requests() {
  const jit::JitStats s = jit::Jit::global().stats();
  return s.memory_hits + s.disk_hits + s.compiles + s.rebuilds;
}

// On a fresh sim device (its own KernelCache entries), linear_forward resolves a kernel
// (KernelCache::get: one Jit request each) exactly when it launches it the first time. So
// after one call: every planned (spec, kernel) pair is resolved on the device, and the Jit
// saw as many requests as the plan has pairs — nothing unplanned ran.
// Shapes: one row (launch-bound: per-token fused), and 300 rows x 640 columns (five column
// tiles: per-token separate), GELU on the ffn.0 layer; small K keeps the sim fast.
TEST(KernelPlan, LinearForwardOnSimLaunchesExactlyThePlan) {
  const std::vector<LinearShape> layers = {{"time_embedding.0", 64, 32}, {"blocks.0.ffn.0", 64, 640}};
  const LayerTokens tokens = [](const LinearShape& l) -> std::int64_t { return l.name == "blocks.0.ffn.0" ? 300 : 1; };
  unsigned seed = 1;
  std::set<std::string> paths;  // the kinds seen, to show both per-token strategies ran
  for (const auto& arch : {kSm80, kSm89}) {
    for (const Preset& preset : presets()) {
      const ResolvedRule rule = Rule::preset(preset.name).resolve();
      for (const LinearShape& layer : layers) {
        SCOPED_TRACE(preset.name + " " + layer.name + " " + arch.str());
        const KernelPlan plan = plan_kernels({layer}, {preset}, {arch}, DType::kBF16, tokens);
        const auto driver = std::make_shared<sim::SimDriver>(sim::SimDeviceConfig::for_arch(arch.str()));
        const std::int64_t m = tokens(layer), n = layer.out_features, k = layer.in_features;
        const Tensor x = randn({m, k}, DType::kBF16, ++seed, 1.0f).to(Device::sim(), driver);
        const QuantizedWeight w = quantize_weight(randn({n, k}, DType::kF32, ++seed, 0.05f), rule);
        LinearOptions o;
        o.bias = randn({n}, DType::kBF16, ++seed, 1.0f);
        o.activation = workload_gelu(layer) ? reference::Activation::kGeluTanh : reference::Activation::kNone;
        if (rule.act_static_scale) o.act_scale = Tensor::from_vector<float>({1}, std::vector<float>{4.0f / 127.0f});
        if (!plan.skipped.empty()) {
          EXPECT_TRUE(plan.kernels.empty());
          EXPECT_THROW(linear_forward(x, w, rule, o), Error);
          continue;
        }
        const std::uint64_t before = jit_requests();
        LinearTrace trace;
        linear_forward(x, w, rule, o, &trace);
        size_t pairs = 0;
        for (const auto& planned : plan.kernels) {
          paths.insert(kind(planned.spec));
          for (const auto& entry : planned.kernels) {
            ++pairs;
            EXPECT_NE(KernelCache::global().find(KernelCache::key(*driver, planned.spec, entry)), nullptr)
                << "planned but not launched: " << planned.spec.summary() << " " << entry;
          }
        }
        EXPECT_EQ(jit_requests() - before, pairs) << "linear_forward resolved kernels the plan does not have";
        EXPECT_EQ(trace.steps.size(), plan.kernels.size());
      }
    }
  }
  EXPECT_TRUE(paths.count("qgemm kDynamicFused kI8 x kI8 per_token x per_channel"));
  EXPECT_TRUE(paths.count("qgemm kQuantized kI8 x kI8 per_token x per_channel"));
  EXPECT_TRUE(paths.count("act_quant kDynamicPerToken kE4M3"));
}

}  // namespace
}  // namespace qjit
