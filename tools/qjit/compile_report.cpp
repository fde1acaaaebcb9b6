#include "compile_report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>

namespace qjit::cli {

CompileReport compile_report(const ModelCompile& compiled, const std::vector<NamedRuleSet>& rule_sets) {
  CompileReport r;
  const KernelPlan& kplan = compiled.plan;
  const auto& plan = kplan.kernels;
  const auto& results = compiled.results;
  r.text = fmt::format("{:<58} {:<7} {:>5} {:>7} {:>11} {:>8}\n", "kernel", "arch", "regs", "spills",
                                 "compile ms", "cache");
  for (size_t i = 0; i < results.size(); ++i) {
    const auto& a = *results[i].artifact;
    const bool hit = results[i].outcome == jit::CacheOutcome::kDisk || results[i].outcome == jit::CacheOutcome::kMemory;
    r.hits += hit;
    for (const auto& k : a.kernels) {
      // NOTE: a program holds every kernel of its family, but only those its launches use
      // have a body (act_quant's other modes are empty): report those.
      const auto& launched = plan[i].kernels;
      const bool used = std::any_of(launched.begin(), launched.end(), [&](const std::string& t) {
        return k.name_expression.rfind(t + "<", 0) == 0 || k.name_expression == t;
      });
      if (!used) continue;
      const int spills = std::max(0, k.spill_stores) + std::max(0, k.spill_loads);
      r.rows.push_back({{"spec", a.spec.to_json()}, {"summary", a.spec.summary()}, {"kernel", k.name_expression},
                      {"arch", a.spec.arch().str()}, {"registers", k.registers}, {"spill_bytes", spills},
                      {"stack_bytes", k.stack_bytes}, {"shared_bytes", k.shared_bytes},
                      {"compile_ms", a.compile_ms}, {"cache", hit ? "hit" : "miss"}, {"key", a.key},
                      {"presets", plan[i].presets}, {"needed_by", plan[i].needed_by}});
      std::string name = a.spec.summary();
      name = name.substr(0, name.rfind(' '));  // the arch has its own column
      const std::string entry = k.name_expression.substr(k.name_expression.rfind("::") + 2);
      r.text += fmt::format("{:<58} {:<7} {:>5} {:>7} {:>11.1f} {:>8}\n",
                          name + " " + entry.substr(0, entry.find('<')), a.spec.arch().str(), k.registers, spills,
                          a.compile_ms, hit ? "hit" : "miss");
    }
  }
  // Per preset: the programs it needs (a program several presets share counts for each),
  // and the archs that cannot run it.
  for (const auto& p : rule_sets) {
    size_t programs = 0, cold = 0;
    for (size_t i = 0; i < plan.size(); ++i) {
      if (std::find(plan[i].presets.begin(), plan[i].presets.end(), p.name) == plan[i].presets.end()) continue;
      ++programs;
      cold += results[i].outcome == jit::CacheOutcome::kCompiled || results[i].outcome == jit::CacheOutcome::kRebuilt;
    }
    nlohmann::json skipped = nlohmann::json::array();
    std::string skipped_text;
    for (const auto& s : kplan.skipped) {
      if (s.preset != p.name) continue;
      skipped.push_back({{"arch", s.arch}, {"reason", s.reason}});
      skipped_text += fmt::format("; skipped on {}: {}", s.arch, s.reason);
    }
    r.per_preset.push_back({{"preset", p.name}, {"programs", programs}, {"compiled", cold}, {"skipped", skipped}});
    r.text += fmt::format("preset {}: {} programs ({} compiled){}\n", p.name, programs, cold, skipped_text);
  }
  return r;
}

jit::Jit::Progress compile_progress(const std::string& prefix) {
  return [prefix](size_t done, size_t total, const jit::KernelSpec& s, const jit::JitResult& r) {
    std::fprintf(stderr, "%s[%zu/%zu] %s %s (%s, %.0f ms)\n", prefix.empty() ? "" : (prefix + ": ").c_str(), done, total,
                 r.outcome == jit::CacheOutcome::kDisk ? "loaded" : "compiled", s.summary().c_str(),
                 jit::outcome_name(r.outcome), r.ms);
  };
}

PlanProgress plan_progress(const std::string& prefix) {
  return [prefix](std::size_t done, std::size_t total, const std::string& rule_set, const std::string& arch) {
    std::fprintf(stderr, "%splanning %s on %s (%zu/%zu)\n", prefix.empty() ? "" : (prefix + ": ").c_str(),
                 rule_set.c_str(), arch.c_str(), done, total);
  };
}

}  // namespace qjit::cli
