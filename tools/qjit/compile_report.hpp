#pragma once
// The report of compiled kernel programs that `qjit compile` and `qjit run` print: a row per
// launched kernel (spec, arch, registers, spills, compile time, cache hit or miss) and per rule
// set the programs it needs or why an arch cannot run it; and their progress lines.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "quant_ops/model_compile.hpp"

namespace qjit::cli {

struct CompileReport {
  nlohmann::json rows = nlohmann::json::array();
  nlohmann::json per_preset = nlohmann::json::array();
  std::string text;
  std::size_t hits = 0;  // programs from the cache (disk or memory)
};

CompileReport compile_report(const ModelCompile& compiled, const std::vector<NamedRuleSet>& rule_sets);

/// "[3/12] compiled qgemm ... sm_90 (compiled, 180 ms)" on stderr (after "prefix: " when one is given).
jit::Jit::Progress compile_progress(const std::string& prefix);
/// "planning int8 on host (2/6)" on stderr as each (arch, rule set) is planned.
PlanProgress plan_progress(const std::string& prefix);

}  // namespace qjit::cli
