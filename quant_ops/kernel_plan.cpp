#include "quant_ops/kernel_plan.hpp"

#include <fmt/format.h>

#include <map>
#include <set>

#include "jit/impls/act_quant.hpp"
#include "jit/impls/qgemm.hpp"

namespace qjit {

namespace {

// Rows each linear of the default workload sees: Wan2.1 at 480x832, 81 frames has 32760
// video tokens after patching; the text context is 512 tokens; the time embedding one row.
std::int64_t workload_tokens(const std::string& layer) {
  if (layer.find("cross_attn.k") != std::string::npos || layer.find("cross_attn.v") != std::string::npos) return 512;
  if (layer.rfind("text_embedding", 0) == 0) return 512;
  if (layer.rfind("time_", 0) == 0) return 1;
  return 32760;
}

// The layers whose output goes through GELU-tanh, fused into the GEMM epilogue.
bool gelu_after(const std::string& layer) {
  return layer.find("ffn.0") != std::string::npos || layer == "text_embedding.0";
}

}  // namespace

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
    // W8A8 GEMMs (pre-quantized operands; int8 on sm_80+, fp8 on sm_89+).
    for (const auto& p : presets) {
      const bool w8a8 = p.act != QType::kNone && p.weight != QType::kNone &&
                        (p.act_granularity == Granularity::kPerToken || p.act_granularity == Granularity::kPerTensor) &&
                        (p.weight_granularity == Granularity::kPerChannel || p.weight_granularity == Granularity::kPerTensor);
      if (!w8a8) continue;
      if (p.act != QType::kInt8 && arch.number < 89) continue;
      for (const auto& s : shapes) {
        jit::impls::GemmDesc d;
        d.m_bucket = jit::impls::gemm_m_bucket(workload_tokens(s.name));
        d.n = s.out_features;
        d.k = s.in_features;
        d.qtype_a = std::string(qtype_name(p.act));
        d.qtype_w = std::string(qtype_name(p.weight));
        d.scale_a = std::string(granularity_name(p.act_granularity));
        d.scale_w = std::string(granularity_name(p.weight_granularity));
        d.bias = act_dtype;
        d.act = gelu_after(s.name) ? "gelu_tanh" : "none";
        d.out = act_dtype;
        auto spec = jit::impls::qgemm_spec(d, jit::impls::qgemm_heuristic(d, arch), arch);
        auto [it, fresh] = index.emplace(spec.canonical(), out.size());
        if (fresh) out.push_back({std::move(spec), {}});
        out[it->second].needed_by.push_back(fmt::format("{} {} (N={}, K={})", p.name, s.name, s.out_features, s.in_features));
      }
    }
  }
  return out;
}

}  // namespace qjit
