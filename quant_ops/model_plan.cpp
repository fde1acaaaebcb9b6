#include "quant_ops/model_plan.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <memory>

#include "common/error.hpp"
#include "quant_ops/linear.hpp"
#include "jit/host_compiler.hpp"
#include "runtime/host_driver.hpp"
#include "quant_ops/rule_apply.hpp"
#include "runtime/models/wan_model.hpp"
#include "runtime/models/wan_params.hpp"

namespace qjit {

namespace {

// Every static-scale layer `rules` gives a rule to, with a placeholder scale: which rule a
// layer gets does not depend on act_static_scale, so a dry run of the rules with it turned
// off tells which layers they are.
ApplyOptions placeholder_scales(Module& model, const RuleSet& rules) {
  RuleSet dynamic = rules;
  for (Rule& r : dynamic.rules) r.act_static_scale = false;
  ApplyOptions dry;
  dry.dry_run = true;
  ApplyOptions out;
  for (const LayerApplied& l : dynamic.apply(model, dry).layers) {
    if (l.rule_index && rules.rules[*l.rule_index].act_static_scale) {
      out.act_scales.emplace(l.path, Tensor::from_vector<float>({1}, std::vector<float>{1.0f}));
    }
  }
  return out;
}

}  // namespace

namespace {

// The host's plan: the forward on the cpu device, its host kernels recorded by a recording
// HostDriver instead of run. The ops' host code runs on real (zero) host memory: one block's
// weights and activations at the workload's shapes.
std::vector<PlannedLaunch> plan_host_forward(const WanConfig& one, const RuleSet& rules, const WanWorkload& w) {
  std::string why;
  QJIT_CHECK_GEN("plan", jit::host_compiler_available(&why),
                 "the host's kernels cannot be planned or compiled without the cpu device's compiler: {}", why);
  auto driver = std::make_shared<HostDriver>(HostDriver::Recording{});
  HostDriverScope scope(driver);
  std::map<std::string, Tensor> weights;
  for (const ParamShape& p : wan_parameters(one)) weights.emplace(p.name, Tensor::zeros(p.shape, DType::kBF16));
  WanModel model(one, weights);
  if (!rules.rules.empty()) rules.apply(model, placeholder_scales(model, rules));
  model.forward(Tensor::zeros({w.batch, one.in_dim, w.frames, 2 * (w.height / 2), 2 * (w.width / 2)}, DType::kF32),
                Tensor::zeros({w.batch}, DType::kF32), Tensor::zeros({w.batch, one.text_len, one.text_dim}, DType::kF32));
  return driver->planned();
}

}  // namespace

std::vector<PlannedLaunch> plan_wan_forward(const WanConfig& config, const RuleSet& rules, const jit::Arch& arch,
                                            const WanWorkload& w) {
  WanConfig one = config;
  one.layers = 1;
  if (arch.is_host()) return plan_host_forward(one, rules, w);
  // The weights are allocations on the plan device: no kernel runs, so they need no values.
  auto driver = std::make_shared<PlanDriver>(arch.str());
  std::map<std::string, Tensor> weights;
  for (const ParamShape& p : wan_parameters(one)) {
    weights.emplace(p.name, Tensor::empty(p.shape, DType::kBF16, Device::sim(), driver));
  }
  WanModel model(one, weights, Device::sim(), driver);
  if (!rules.rules.empty()) rules.apply(model, placeholder_scales(model, rules));
  // Inputs without values too (the model's host-side steps skip them when planning); the
  // timesteps are read, so they are real.
  model.forward(Tensor::empty({w.batch, one.in_dim, w.frames, 2 * (w.height / 2), 2 * (w.width / 2)}, DType::kF32,
                              Device::sim(), driver),
                Tensor::zeros({w.batch}, DType::kF32),
                Tensor::empty({w.batch, one.text_len, one.text_dim}, DType::kF32, Device::sim(), driver));
  return driver->planned();
}

KernelPlan plan_wan_kernels(const WanConfig& config, const std::vector<NamedRuleSet>& rule_sets,
                            const std::vector<jit::Arch>& archs, const WanWorkload& workload,
                            const PlanProgress& planning) {
  KernelPlan plan;
  std::size_t step = 0;
  for (const jit::Arch& arch : archs) {
    for (const NamedRuleSet& set : rule_sets) {
      if (planning) planning(++step, archs.size() * rule_sets.size(), set.name, arch.str());
      std::string why;
      bool runs = true;
      for (const Rule& r : set.rules.rules) {
        const ResolvedRule rr = r.resolve();
        if (!rr.skips() && !linear_arch_support(rr, arch, &why)) runs = false;
        if (!runs) break;
      }
      if (!runs) {
        plan.skipped.push_back({set.name, arch.str(), why});
        continue;
      }
      for (const PlannedLaunch& l : plan_wan_forward(config, set.rules, arch, workload)) {
        auto it = std::find_if(plan.kernels.begin(), plan.kernels.end(),
                               [&](const PlannedKernel& k) { return k.spec == l.spec; });
        if (it == plan.kernels.end()) {
          plan.kernels.push_back({l.spec, {}, {}, {}});
          it = plan.kernels.end() - 1;
        }
        if (std::find(it->kernels.begin(), it->kernels.end(), l.kernel_template) == it->kernels.end()) {
          it->kernels.push_back(l.kernel_template);
        }
        if (std::find(it->presets.begin(), it->presets.end(), set.name) == it->presets.end()) {
          it->presets.push_back(set.name);
        }
        const std::string entry = l.kernel_template.substr(l.kernel_template.rfind("::") + 2);
        it->needed_by.push_back(fmt::format("{}: {} x{} per block forward", set.name, entry, l.launches));
      }
    }
  }
  return plan;
}

}  // namespace qjit
