#include "quant_ops/kernel_plan.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <map>

#include "quant_ops/rule.hpp"

namespace qjit {

namespace {

// "blocks.17.ffn.0" -> "blocks.*.ffn.0": the blocks share shapes, so one line says it.
std::string layer_pattern(const std::string& name) {
  const std::string prefix = "blocks.";
  if (name.rfind(prefix, 0) != 0) return name;
  size_t i = prefix.size();
  while (i < name.size() && std::isdigit(static_cast<unsigned char>(name[i]))) ++i;
  return i > prefix.size() ? prefix + "*" + name.substr(i) : name;
}

template <typename T>
void add_unique(std::vector<T>& v, const T& x) {
  if (std::find(v.begin(), v.end(), x) == v.end()) v.push_back(x);
}

}  // namespace

std::int64_t workload_tokens(const LinearShape& layer) {
  const std::string& n = layer.name;
  if (n.find("cross_attn.k") != std::string::npos || n.find("cross_attn.v") != std::string::npos) return 512;
  if (n.rfind("text_embedding", 0) == 0) return 512;
  if (n.rfind("time_", 0) == 0) return 1;
  return 32760;
}

bool workload_gelu(const LinearShape& layer) {
  return layer.name.find("ffn.0") != std::string::npos || layer.name == "text_embedding.0";
}

LinearProblem workload_problem(const LinearShape& layer, std::int64_t tokens, DType act_dtype) {
  LinearProblem p;
  p.m = tokens;
  p.n = layer.out_features;
  p.k = layer.in_features;
  p.x_dtype = act_dtype;
  p.bias = act_dtype;
  p.activation = workload_gelu(layer) ? reference::Activation::kGeluTanh : reference::Activation::kNone;
  return p;
}

KernelPlan plan_kernels(const std::vector<LinearShape>& shapes, const std::vector<Preset>& presets,
                        const std::vector<jit::Arch>& archs, DType act_dtype, const LayerTokens& tokens) {
  KernelPlan plan;
  std::map<std::string, size_t> index;  // canonical spec -> position
  for (const auto& arch : archs) {
    for (const auto& preset : presets) {
      const ResolvedRule rule = Rule::preset(preset.name).resolve();
      std::string why;
      if (!linear_arch_support(rule, arch, &why)) {
        plan.skipped.push_back({preset.name, arch.str(), why});
        continue;
      }
      for (const auto& layer : shapes) {
        const LinearProblem problem = workload_problem(layer, tokens(layer), act_dtype);
        for (auto& launch : linear_kernels(rule, problem, arch)) {
          auto [it, fresh] = index.emplace(launch.spec.canonical(), plan.kernels.size());
          if (fresh) plan.kernels.push_back({launch.spec, launch.kernels, {}, {}});
          PlannedKernel& k = plan.kernels[it->second];
          add_unique(k.presets, preset.name);
          add_unique(k.needed_by, fmt::format("{} {} (M={}, N={}, K={}): {}", preset.name, layer_pattern(layer.name),
                                              problem.m, problem.n, problem.k, launch.step));
        }
      }
    }
  }
  return plan;
}

}  // namespace qjit
