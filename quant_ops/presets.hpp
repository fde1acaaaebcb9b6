#pragma once
// The named quantization presets of DESIGN.md section 7.

#include <string>
#include <vector>

#include "quant_ops/qtype.hpp"

namespace qjit {

struct Preset {
  std::string name;
  QType weight;
  Granularity weight_granularity;
  QType act;  // kNone: weight-only
  Granularity act_granularity;
  bool act_static = false;
};

const std::vector<Preset>& presets();
const Preset& find_preset(const std::string& name);  // accepts "fp8-e4m3" for "fp8"

}  // namespace qjit
