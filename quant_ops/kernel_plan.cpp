#include "quant_ops/kernel_plan.hpp"

#include <fmt/format.h>

#include <map>
#include <set>

#include "jit/impls/act_quant.hpp"

namespace qjit {

std::vector<PlannedKernel> plan_kernels(const std::vector<LinearShape>& shapes, const std::vector<Preset>& presets,
                                        const std::vector<jit::Arch>& archs, const std::string& act_dtype) {
  std::map<std::string, size_t> index;  // canonical spec -> position
  std::vector<PlannedKernel> out;
  std::set<std::int64_t> ks;
  for (const auto& s : shapes) ks.insert(s.in_features);
  for (const auto& arch : archs) {
    for (const auto& p : presets) {
      // Activation quantization exists for dynamic per-token and static per-tensor scales.
      const bool dynamic_token = !p.act_static && p.act_granularity == Granularity::kPerToken;
      const bool static_tensor = p.act_static && p.act_granularity == Granularity::kPerTensor;
      if (p.act == QType::kNone || !(dynamic_token || static_tensor)) continue;
      for (std::int64_t k : ks) {
        jit::impls::ActQuantDesc desc{act_dtype, std::string(qtype_name(p.act)),
                                      dynamic_token ? jit::impls::ActQuantMode::kDynamicPerToken
                                                    : jit::impls::ActQuantMode::kStaticPerTensor,
                                      k};
        auto spec = jit::impls::act_quant_spec(desc, jit::impls::act_quant_heuristic(desc), arch);
        const std::string why = fmt::format("{} K={}", p.name, k);
        auto [it, fresh] = index.emplace(spec.canonical(), out.size());
        if (fresh) out.push_back({std::move(spec), {}});
        out[it->second].needed_by.push_back(why);
      }
    }
  }
  return out;
}

}  // namespace qjit
