#pragma once
// The named quantization presets of DESIGN.md section 7: the one table of them. Rule::preset
// (quant_ops/rule.hpp) reads a preset from here as a Rule; `qjit run` and the kernel plan use
// the table directly.

#include <string>
#include <vector>

#include "common/qtype.hpp"

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
