#include "jit/artifact.hpp"

#include <regex>
#include <sstream>

#include "common/error.hpp"

namespace qjit::jit {

const KernelInfo& Artifact::kernel(const std::string& name_expression) const {
  for (const auto& k : kernels) {
    if (k.name_expression == name_expression) return k;
  }
  QJIT_THROW("jit", "artifact of '{}' has no kernel '{}'", spec.summary(), name_expression);
}

int Artifact::max_registers() const {
  int r = -1;
  for (const auto& k : kernels) r = std::max(r, k.registers);
  return r;
}

int Artifact::total_spill_bytes() const {
  int s = 0;
  for (const auto& k : kernels) s += std::max(0, k.spill_stores) + std::max(0, k.spill_loads);
  return s;
}

cache::Entry Artifact::to_entry(const std::string& manifest) const {
  nlohmann::json ks = nlohmann::json::array();
  for (const auto& k : kernels) {
    ks.push_back({{"name_expression", k.name_expression}, {"lowered_name", k.lowered_name},
                  {"registers", k.registers}, {"spill_stores", k.spill_stores}, {"spill_loads", k.spill_loads},
                  {"shared_bytes", k.shared_bytes}, {"stack_bytes", k.stack_bytes}, {"barriers", k.barriers}});
  }
  nlohmann::json meta = {{"spec", spec.to_json()}, {"kernels", ks}, {"compile_ms", compile_ms}, {"log", log}};
  cache::Entry e;
  e.manifest = manifest;
  e.sections["meta"] = meta.dump();
  if (!object.empty()) {
    e.sections["object"] = object;
  } else {
    e.sections["ptx"] = ptx;
  }
  if (!cubin.empty()) e.sections["cubin"] = cubin;
  return e;
}

Artifact Artifact::from_entry(const cache::Entry& entry, const std::string& key) {
  auto meta_it = entry.sections.find("meta");
  auto ptx_it = entry.sections.find("ptx");
  auto object_it = entry.sections.find("object");
  QJIT_CHECK_GEN("jit", meta_it != entry.sections.end() && (ptx_it != entry.sections.end() || object_it != entry.sections.end()),
                 "cache entry {} lacks its meta section or its code (ptx or a host object)", key);
  Artifact a;
  try {
    const auto meta = nlohmann::json::parse(meta_it->second);
    a.spec = KernelSpec::from_json(meta.at("spec"));
    a.compile_ms = meta.at("compile_ms").get<double>();
    a.log = meta.at("log").get<std::string>();
    for (const auto& k : meta.at("kernels")) {
      a.kernels.push_back({k.at("name_expression"), k.at("lowered_name"), k.at("registers"), k.at("spill_stores"),
                           k.at("spill_loads"), k.at("shared_bytes"), k.at("stack_bytes"), k.at("barriers")});
    }
  } catch (const nlohmann::json::exception& e) {
    QJIT_THROW("jit", "cache entry {} has bad metadata: {}", key, e.what());
  }
  a.key = key;
  if (ptx_it != entry.sections.end()) a.ptx = ptx_it->second;
  if (object_it != entry.sections.end()) a.object = object_it->second;
  if (auto c = entry.sections.find("cubin"); c != entry.sections.end()) a.cubin = c->second;
  return a;
}

void parse_ptxas_usage(const std::string& log, std::vector<KernelInfo>& kernels) {
  static const std::regex kFunction(R"(Function properties for (\S+))");
  static const std::regex kCompiling(R"(Compiling entry function '([^']+)')");
  static const std::regex kFrame(R"((\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads)");
  static const std::regex kUsed(R"(Used (\d+) registers)");
  static const std::regex kBarriers(R"(used (\d+) barriers)");
  static const std::regex kSmem(R"((\d+) bytes smem)");
  KernelInfo* current = nullptr;
  auto find = [&](const std::string& lowered) -> KernelInfo* {
    for (auto& k : kernels) {
      if (k.lowered_name == lowered) return &k;
    }
    return nullptr;
  };
  std::istringstream in(log);
  std::string line;
  std::smatch m;
  while (std::getline(in, line)) {
    if (std::regex_search(line, m, kCompiling) || std::regex_search(line, m, kFunction)) {
      current = find(m[1]);
      continue;
    }
    if (current == nullptr) continue;
    if (std::regex_search(line, m, kFrame)) {
      current->stack_bytes = std::stoi(m[1]);
      current->spill_stores = std::stoi(m[2]);
      current->spill_loads = std::stoi(m[3]);
    }
    if (std::regex_search(line, m, kUsed)) {
      current->registers = std::stoi(m[1]);
      current->shared_bytes = std::regex_search(line, m, kSmem) ? std::stoi(m[1]) : 0;
      current->barriers = std::regex_search(line, m, kBarriers) ? std::stoi(m[1]) : 0;
    }
  }
}

}  // namespace qjit::jit
