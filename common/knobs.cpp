#include "common/knobs.hpp"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <sstream>
#include <thread>

#include "common/error.hpp"

namespace qjit::knobs {

namespace {

constexpr std::uint64_t kTiB = 1ull << 40;

const KnobInfo& info(const char* name) {
  for (const auto& k : all()) {
    if (std::string_view(k.name) == name) return k;
  }
  QJIT_THROW("knobs", "{} is not a qjit knob", name);  // a caller bug
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::vector<std::string> words(const char* text) {
  std::istringstream in(text);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

bool parse_flag(const KnobInfo& k, const std::string& value) {
  const std::string s = lower(value);
  if (s.empty() || s == "0" || s == "false" || s == "off" || s == "no") return false;
  if (s == "1" || s == "true" || s == "on" || s == "yes") return true;
  QJIT_THROW("knobs", "{}='{}' is not a flag (1, 0, true, false, on, off, yes, no)", k.name, value);
}

std::uint64_t parse_integer(const KnobInfo& k, const std::string& value) {
  std::uint64_t n = 0;
  const char* first = value.data();
  const char* last = first + value.size();
  // NOTE: from_chars takes no sign, space or suffix for an unsigned type: "-1", " 4" and
  // "4abc" are refused rather than wrapped or cut short.
  const auto [end, ec] = std::from_chars(first, last, n);
  QJIT_CHECK_GEN("knobs", first != last && ec != std::errc::invalid_argument && end == last,
                 "{}='{}' is not a whole number (expected {} to {})", k.name, value, k.min, k.max);
  QJIT_CHECK_GEN("knobs", ec != std::errc::result_out_of_range && n >= k.min && n <= k.max,
                 "{}='{}' is out of range (expected {} to {})", k.name, value, k.min, k.max);
  return n;
}

// NOTE: exact (case included), as every reader of these knobs compares them.
std::string parse_choice(const KnobInfo& k, const std::string& value) {
  const auto valid = words(k.choices);
  QJIT_CHECK_GEN("knobs", std::find(valid.begin(), valid.end(), value) != valid.end(), "{}='{}' is not one of: {}",
                 k.name, value, k.choices);
  return value;
}

void parse_arch(const KnobInfo& k, const std::string& value) {
  std::string_view v = value;
  bool ok = v.starts_with("sm_");
  v.remove_prefix(ok ? 3 : 0);
  if (ok && v.ends_with('a')) v.remove_suffix(1);
  ok = ok && !v.empty() && v.size() <= 4 && std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; });
  QJIT_CHECK_GEN("knobs", ok, "{}='{}' is not an arch (sm_<number>, optionally with a: sm_80, sm_90a)", k.name, value);
}

}  // namespace

const std::vector<KnobInfo>& all() {
  using K = Kind;
  static const std::vector<KnobInfo> knobs = {
      {"QJIT_CACHE_DIR", "kernel cache directory (default $XDG_CACHE_HOME/qjit or ~/.cache/qjit)", false},
      {"QJIT_CACHE_DISABLE", "1: never read or write the disk cache", false, K::kFlag},
      {"QJIT_CACHE_MAX_BYTES", "disk cache byte budget, least recently used entries evicted (default 2 GiB)", false,
       K::kInteger, 0, 64 * kTiB},
      {"QJIT_CACHE_LOCK_TIMEOUT_MS",
       "longest wait for another process compiling the same kernel before compiling anyway (default 30000)", false,
       K::kInteger, 0, 3'600'000},
      {"QJIT_ALWAYS_COMPILE", "1: compile even on a cache hit (the fresh artifact replaces the entry)", false,
       K::kFlag},
      {"QJIT_DUMP", "1: write source, PTX and compile log beside each cache entry", false, K::kFlag},
      {"QJIT_OFFLINE", "1: a cache miss is an error (deployment without a compiler)", false, K::kFlag},
      {"QJIT_CACHE_BUNDLE",
       "a bundle file (`qjit compile --bundle`) whose entries serve the cache's misses, and are stored in it", false},
      {"QJIT_DEVICE", "default device of the commands' --device: auto|cpu|cuda[:N]|sim|sim:sm_XX", false},
      {"QJIT_ARCH", "target arch of a GPU (cuda) instead of its own, e.g. sm_90a; --arch wins", true, K::kArch},
      {"QJIT_LOG", "log level: error|warn|info|debug (default warn)", false, K::kChoice, 0, 0,
       "error warn info debug"},
      {"QJIT_COMPILE_THREADS", "parallel NVRTC compiles (default min(cores, 4))", false, K::kInteger, 1, 256},
      {"QJIT_SIM_ARCH", "arch the sim device models: sm_80|sm_86|sm_89|sm_90|sm_90a (default sm_89)", false,
       K::kChoice, 0, 0, "sm_80 sm_86 sm_89 sm_90 sm_90a"},
      {"QJIT_SIM_STATS", "1: print the sim device's counters after each launch", false, K::kFlag},
      {"QJIT_SIM_RACECHECK", "1: the sim device reports shared-memory races between barriers", false, K::kFlag},
      {"QJIT_SIM_THREADS", "host threads running a sim launch's CTAs (default: all cores)", false, K::kInteger, 1,
       1024},
      {"QJIT_CPU_THREADS", "threads of the cpu device's kernel pool (default: all cores)", false, K::kInteger, 1, 1024},
      {"QJIT_CPU_CACHED_MB",
       "MiB of freed large cpu buffers kept for reuse (default: the smaller of 2048 and an eighth of memory; 0: none)",
       false, K::kInteger, 0, 1 << 20},
      {"QJIT_NO_NVRTC",
       "1: behave as a machine without NVRTC: GPU kernels come only from the cache or a bundle", false, K::kFlag},
      {"QJIT_CPU_NO_COMPILER",
       "1: behave as a machine without the cpu device's compiler (Clang / LLVM): its plugin is not opened", false,
       K::kFlag},
      {"QJIT_PRINT_AUTOTUNING",
       "1: say which config each tuned kernel family takes (the tuning database's winner or the heuristic) and "
       "why, once per problem",
       false, K::kFlag},
      {"QJIT_TUNING_DISABLE", "1: ignore the tuning database: every kernel takes its family's heuristic", false,
       K::kFlag},
      {"QJIT_BENCH_DIR", "where `qjit bench` finds the bench programs (default: this build's bench/)", false},
      {"QJIT_BENCH_REPORT", "the report script `qjit bench` runs (default: this source tree's tools/bench_report.py)",
       false},
      {"QJIT_CPU_ISA",
       "what the cpu device's kernels are compiled for: native (the best this host has) | amx | avx512_vnni | "
       "avx2 (the portable code for an AVX2 / FMA host) | generic (portable; the same int8 bits)",
       false, K::kChoice, 0, 0, "native amx avx512_vnni avx2 generic"},
  };
  return knobs;
}

std::optional<std::string> get(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

bool flag(const char* name) {
  const auto v = get(name);
  return v && parse_flag(info(name), *v);
}

std::uint64_t integer(const char* name, std::uint64_t fallback) {
  const auto v = get(name);
  return v && !v->empty() ? parse_integer(info(name), *v) : fallback;
}

void check_all() {
  for (const auto& k : all()) {
    const auto v = get(k.name);
    if (!v || v->empty()) continue;
    switch (k.kind) {
      case Kind::kFlag: parse_flag(k, *v); break;
      case Kind::kInteger: parse_integer(k, *v); break;
      case Kind::kChoice: parse_choice(k, *v); break;
      case Kind::kArch: parse_arch(k, *v); break;
      case Kind::kText: break;
    }
  }
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
std::optional<std::string> cache_bundle() {
  auto v = get("QJIT_CACHE_BUNDLE");
  if (v && v->empty()) return std::nullopt;
  return v;
}
bool print_autotuning() { return flag("QJIT_PRINT_AUTOTUNING"); }
bool tuning_disabled() { return flag("QJIT_TUNING_DISABLE"); }
std::optional<std::string> device() { return get("QJIT_DEVICE"); }
std::optional<std::string> arch() { return get("QJIT_ARCH"); }

std::string log_level() {
  const auto v = get("QJIT_LOG");
  if (!v || v->empty()) return "warn";
  // NOTE: logging cannot throw (it reports errors); a bad level is refused by check_all.
  const auto valid = words(info("QJIT_LOG").choices);
  return std::find(valid.begin(), valid.end(), *v) != valid.end() ? *v : "warn";
}

std::uint64_t cache_max_bytes() { return integer("QJIT_CACHE_MAX_BYTES", 2ull << 30); }
std::uint32_t cache_lock_timeout_ms() {
  return static_cast<std::uint32_t>(integer("QJIT_CACHE_LOCK_TIMEOUT_MS", 30'000));
}

unsigned compile_threads() {
  return static_cast<unsigned>(
      integer("QJIT_COMPILE_THREADS", std::clamp(std::thread::hardware_concurrency(), 1u, 4u)));
}

unsigned sim_threads() { return static_cast<unsigned>(integer("QJIT_SIM_THREADS", 0)); }

unsigned cpu_threads() { return static_cast<unsigned>(integer("QJIT_CPU_THREADS", 0)); }

std::optional<std::uint64_t> cpu_cached_mb() {
  const auto v = get("QJIT_CPU_CACHED_MB");
  if (!v || v->empty()) return std::nullopt;
  return parse_integer(info("QJIT_CPU_CACHED_MB"), *v);
}

std::string cpu_isa() {
  const auto v = get("QJIT_CPU_ISA");
  return v && !v->empty() ? parse_choice(info("QJIT_CPU_ISA"), *v) : "native";
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
