// The model plan (quant_ops/model_plan.hpp): the Wan forward on a PlanDriver lists exactly
// the kernels the same forward compiles and loads on a sim device of that arch, under each
// kind of rule (and, for the host, on a recording HostDriver, what the cpu device loads), and
// on the default workload of the 1.3B model it holds the fused paths (the
// norm kernel emitting int8 codes, the GEMM reading them) and every glue family.

#include "quant_ops/model_plan.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "quant_ops/rule.hpp"
#include "jit/host_compiler.hpp"
#include "runtime/host_driver.hpp"
#include "runtime/models/wan_model.hpp"
#include "runtime/models/wan_synthetic.hpp"
#include "sim/sim_driver.hpp"
#include "tests/support/checks.hpp"

namespace qjit {
namespace {

std::set<std::string> summaries(const std::vector<PlannedLaunch>& plan) {
  std::set<std::string> out;
  for (const PlannedLaunch& p : plan) out.insert(p.spec.summary());
  return out;
}

bool any_of_family(const std::set<std::string>& s, const std::string& prefix, const std::string& part = "") {
  for (const std::string& x : s) {
    if (x.rfind(prefix + " ", 0) == 0 && x.find(part) != std::string::npos) return true;
  }
  return false;
}

// What a forward on a fresh sim device loads (a fresh driver: nothing loaded before).
std::set<std::string> loaded_by_forward(const RuleSet& rules, const WanWorkload& w) {
  WanConfig c = WanConfig::tiny();
  c.layers = 1;
  std::map<std::string, Tensor> weights;
  for (const auto& [name, t] : wan_synthetic_weights(c, 5)) weights.emplace(name, t);
  auto sim = std::make_shared<sim::SimDriver>(sim::SimDeviceConfig::for_arch("sm_90"));
  WanModel model(c, weights, Device::sim(), sim);
  ApplyOptions o;
  if (!rules.rules.empty()) {
    for (const LinearShape& l : wan_linear_shapes(c)) {
      if (rules.rules.front().act_static_scale) o.act_scales.emplace(l.name, Tensor::from_vector<float>({1}, std::vector<float>{0.05f}));
    }
    rules.apply(model, o);
  }
  model.forward(Tensor::zeros({w.batch, c.in_dim, w.frames, w.height, w.width}, DType::kF32),
                Tensor::from_vector<float>({w.batch}, std::vector<float>(static_cast<std::size_t>(w.batch), 500.0f)),
                Tensor::zeros({w.batch, 6, c.text_dim}, DType::kF32));
  const auto names = sim->loaded_modules();
  return {names.begin(), names.end()};
}

TEST(ModelPlan, EqualsWhatTheSimForwardLoads) {
  const WanWorkload w{1, 1, 4, 4};
  for (const char* text : {"", "int8", "int8-static", "fp8-block128", "int8-weight-only"}) {
    SCOPED_TRACE(text);
    const RuleSet rules = std::string(text).empty() ? RuleSet{} : Rule::parse(text);
    const auto plan = plan_wan_forward(WanConfig::tiny(), rules, jit::Arch::parse("sm_90"), w);
    EXPECT_EQ(summaries(plan), loaded_by_forward(rules, w));
    for (const PlannedLaunch& p : plan) EXPECT_GT(p.launches, 0) << p.spec.summary();
  }
}

// What a forward on the cpu device loads: a fresh running HostDriver (host_driver() gives it
// inside the scope), the prompt as long as the plan's.
std::set<std::string> loaded_by_host_forward(const RuleSet& rules, const WanWorkload& w) {
  WanConfig c = WanConfig::tiny();
  c.layers = 1;
  std::map<std::string, Tensor> weights;
  for (const auto& [name, t] : wan_synthetic_weights(c, 5)) weights.emplace(name, t);
  auto driver = std::make_shared<HostDriver>();
  HostDriverScope scope(driver);
  WanModel model(c, weights);
  ApplyOptions o;
  for (const LinearShape& l : wan_linear_shapes(c)) {
    if (!rules.rules.empty() && rules.rules.front().act_static_scale) {
      o.act_scales.emplace(l.name, Tensor::from_vector<float>({1}, std::vector<float>{0.05f}));
    }
  }
  if (!rules.rules.empty()) rules.apply(model, o);
  model.forward(Tensor::zeros({w.batch, c.in_dim, w.frames, w.height, w.width}, DType::kF32),
                Tensor::from_vector<float>({w.batch}, std::vector<float>(static_cast<std::size_t>(w.batch), 500.0f)),
                Tensor::zeros({w.batch, c.text_len, c.text_dim}, DType::kF32));
  const auto names = driver->loaded_modules();
  return {names.begin(), names.end()};
}

// The host's plan (`qjit compile --arch host`): the forward on a recording HostDriver lists
// exactly the host programs the same forward loads on the cpu device, each rule kind's
// families (int8: activation quantization + the int8 GEMM; fp8: the bf16 GEMM on fp8 values;
// weight-only) and the glue's.
TEST(ModelPlan, HostEqualsWhatTheCpuForwardLoads) {
  std::string why;
  if (!jit::host_compiler_available(&why)) GTEST_SKIP() << "the cpu device's compiler: " << why;
  const WanWorkload w{1, 1, 4, 4};
  for (const char* text : {"", "int8", "int8-static", "fp8", "int8-weight-only"}) {
    SCOPED_TRACE(text);
    const RuleSet rules = std::string(text).empty() ? RuleSet{} : Rule::parse(text);
    const auto plan = plan_wan_forward(WanConfig::tiny(), rules, jit::Arch::host(), w);
    const auto planned = summaries(plan);
    EXPECT_EQ(planned, loaded_by_host_forward(rules, w));
    for (const PlannedLaunch& p : plan) {
      EXPECT_TRUE(p.spec.arch().is_host()) << p.spec.summary();
      EXPECT_GT(p.launches, 0) << p.spec.summary();
    }
    EXPECT_TRUE(any_of_family(planned, "host_attention")) << "the attention's host kernel";
    if (std::string(text) == "int8") {
      EXPECT_TRUE(any_of_family(planned, "host_act_quant"));
      EXPECT_TRUE(any_of_family(planned, "host_qgemm_int8"));
    }
  }
}

// The 1.3B model's default workload (32760 video tokens, the prompt padded to 512) costs no
// compute.
TEST(ModelPlan, Wan13bInt8HoldsTheFusedPathsAndEveryGlueFamily) {
  const auto plan = summaries(plan_wan_forward(WanConfig::wan_1_3b(), Rule::parse("int8"), jit::Arch::parse("sm_90")));
  EXPECT_TRUE(any_of_family(plan, "norm_mod", "kQuant=kDynamicPerToken")) << "the norm emits q/k/v's int8 codes";
  EXPECT_TRUE(any_of_family(plan, "norm_mod", "kQuant=kNone")) << "the q/k RMSNorms";
  EXPECT_TRUE(any_of_family(plan, "qgemm", "kASource=kQuantized")) << "GEMMs on the norm's codes";
  for (const char* family : {"attention", "rope", "elementwise", "qgemm_wo"}) {
    EXPECT_TRUE(any_of_family(plan, family)) << family;
  }
}

}  // namespace
}  // namespace qjit
