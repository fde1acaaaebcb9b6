#include "quant_ops/presets.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "common/error.hpp"

namespace qjit {

const std::vector<Preset>& presets() {
  using G = Granularity;
  static const std::vector<Preset> all = {
      {"int8", QType::kInt8, G::kPerChannel, QType::kInt8, G::kPerToken, false},
      {"int8-per-tensor", QType::kInt8, G::kPerTensor, QType::kInt8, G::kPerTensor, false},
      {"int8-static", QType::kInt8, G::kPerChannel, QType::kInt8, G::kPerTensor, true},
      {"int8-weight-only", QType::kInt8, G::kPerChannel, QType::kNone, G::kPerToken, false},
      {"fp8", QType::kE4M3, G::kPerChannel, QType::kE4M3, G::kPerToken, false},
      {"fp8-e5m2", QType::kE4M3, G::kPerChannel, QType::kE5M2, G::kPerToken, false},
      {"fp8-block128", QType::kE4M3, G::kBlock128, QType::kE4M3, G::kGroup128, false},
  };
  return all;
}

const Preset& find_preset(const std::string& name) {
  const std::string n = name == "fp8-e4m3" ? "fp8" : name;
  for (const auto& p : presets()) {
    if (p.name == n) return p;
  }
  std::vector<std::string> names;
  for (const auto& p : presets()) names.push_back(p.name);
  QJIT_THROW("rules", "unknown preset '{}' (known: {}, fp8-e4m3)", name, fmt::join(names, ", "));
}

}  // namespace qjit
