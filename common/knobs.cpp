#include "common/knobs.hpp"

#include <algorithm>
#include <cstdlib>
#include <thread>

#include "common/error.hpp"

namespace qjit::knobs {

const std::vector<KnobInfo>& all() {
  static const std::vector<KnobInfo> knobs = {
      {"QJIT_CACHE_DIR", "kernel cache directory (default $XDG_CACHE_HOME/qjit or ~/.cache/qjit)", false},
      {"QJIT_CACHE_DISABLE", "1: never read or write the disk cache", false},
      {"QJIT_CACHE_MAX_BYTES", "disk cache byte budget, least recently used entries evicted (default 2 GiB)", false},
      {"QJIT_ALWAYS_COMPILE", "1: compile even on a cache hit (the fresh artifact replaces the entry)", false},
      {"QJIT_DUMP", "1: write source, PTX and compile log beside each cache entry", false},
      {"QJIT_OFFLINE", "1: a cache miss is an error (deployment without a compiler)", false},
      {"QJIT_DEVICE", "default device: auto|cpu|cuda[:N]|sim", false},
      {"QJIT_ARCH", "target arch override, e.g. sm_90a", true},
      {"QJIT_LOG", "log level: error|warn|info|debug (default warn)", false},
      {"QJIT_COMPILE_THREADS", "parallel NVRTC compiles (default min(cores, 4))", false},
      {"QJIT_SIM_ARCH", "arch the sim device models: sm_80|sm_86|sm_89|sm_90|sm_90a (default sm_89)", false},
      {"QJIT_SIM_STATS", "1: print the sim device's counters after each launch", false},
      {"QJIT_SIM_RACECHECK", "1: the sim device reports shared-memory races between barriers", false},
      {"QJIT_SIM_THREADS", "host threads running a sim launch's CTAs (default: all cores)", false},
  };
  return knobs;
}

std::optional<std::string> get(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

bool flag(const char* name) {
  auto v = get(name);
  if (!v) return false;
  std::string s = *v;
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return !(s.empty() || s == "0" || s == "false" || s == "off" || s == "no");
}

std::filesystem::path cache_dir() {
  if (auto v = get("QJIT_CACHE_DIR"); v && !v->empty()) return *v;
  if (auto v = get("XDG_CACHE_HOME"); v && !v->empty()) return std::filesystem::path(*v) / "qjit";
  if (auto v = get("HOME"); v && !v->empty()) return std::filesystem::path(*v) / ".cache" / "qjit";
  return std::filesystem::temp_directory_path() / "qjit-cache";
}

bool cache_disabled() { return flag("QJIT_CACHE_DISABLE"); }
bool always_compile() { return flag("QJIT_ALWAYS_COMPILE"); }
bool dump() { return flag("QJIT_DUMP"); }
bool offline() { return flag("QJIT_OFFLINE"); }
std::optional<std::string> device() { return get("QJIT_DEVICE"); }
std::optional<std::string> arch() { return get("QJIT_ARCH"); }

std::string log_level() {
  auto v = get("QJIT_LOG");
  return v && !v->empty() ? *v : "warn";
}

std::uint64_t cache_max_bytes() {
  auto v = get("QJIT_CACHE_MAX_BYTES");
  if (!v || v->empty()) return 2ull << 30;
  try {
    size_t used = 0;
    auto n = std::stoull(*v, &used);
    QJIT_CHECK_GEN("knobs", used == v->size(), "QJIT_CACHE_MAX_BYTES='{}' is not a byte count", *v);
    return n;
  } catch (const std::logic_error&) {
    QJIT_THROW("knobs", "QJIT_CACHE_MAX_BYTES='{}' is not a byte count", *v);
  }
}

unsigned compile_threads() {
  auto v = get("QJIT_COMPILE_THREADS");
  if (v && !v->empty()) {
    try {
      int n = std::stoi(*v);
      QJIT_CHECK_GEN("knobs", n >= 1 && n <= 256, "QJIT_COMPILE_THREADS='{}' must be 1..256", *v);
      return static_cast<unsigned>(n);
    } catch (const std::logic_error&) {
      QJIT_THROW("knobs", "QJIT_COMPILE_THREADS='{}' is not a number", *v);
    }
  }
  return std::clamp(std::thread::hardware_concurrency(), 1u, 4u);
}

std::vector<std::string> code_affecting() {
  std::vector<std::string> out;
  for (const auto& k : all()) {
    if (!k.changes_code) continue;
    if (auto v = get(k.name)) out.push_back(std::string(k.name) + "=" + *v);
  }
  return out;
}

}  // namespace qjit::knobs
