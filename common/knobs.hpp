#pragma once
// Every environment variable qjit reads, in one place (DESIGN.md section 4), with one strict
// parser per kind: a value that is not exactly a flag, an integer in range or one of the
// listed words is a qjit::Error naming the knob, its value and what it takes — never a
// silent default or a prefix read as a number. Read on each call, so tests can change them
// with setenv between operations.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace qjit::knobs {

enum class Kind {
  kText,     // any text (paths; device and arch names, which their own parsers check)
  kFlag,     // 1/0, true/false, on/off, yes/no (any case); empty is off
  kInteger,  // a decimal integer in [min, max]
  kChoice,   // one of `choices` (space separated), exactly
  kArch,     // sm_<digits>[a], e.g. sm_90a
};

struct KnobInfo {
  const char* name;
  const char* meaning;
  bool changes_code;  // part of the kernel cache key when set
  Kind kind = Kind::kText;
  std::uint64_t min = 0, max = 0;  // kInteger
  const char* choices = "";        // kChoice
};

// The documented list (printed by `qjit cache path --json` and the README).
const std::vector<KnobInfo>& all();

std::optional<std::string> get(const char* name);
// A kFlag knob: false when unset. Throws on a value that is not a flag.
bool flag(const char* name);
// A kInteger knob: `fallback` when unset or empty. Throws outside the knob's range.
std::uint64_t integer(const char* name, std::uint64_t fallback);
// Checks every knob that is set; throws qjit::Error naming the first bad one. Commands call
// it before any work.
void check_all();

std::filesystem::path cache_dir();         // QJIT_CACHE_DIR, else $XDG_CACHE_HOME/qjit, else ~/.cache/qjit
bool cache_disabled();                     // QJIT_CACHE_DISABLE
bool always_compile();                     // QJIT_ALWAYS_COMPILE
bool dump();                               // QJIT_DUMP
bool offline();                            // QJIT_OFFLINE
std::optional<std::string> cache_bundle(); // QJIT_CACHE_BUNDLE (unset or empty: none)
bool print_autotuning();                   // QJIT_PRINT_AUTOTUNING
bool tuning_disabled();                    // QJIT_TUNING_DISABLE
std::optional<std::string> device();       // QJIT_DEVICE
std::optional<std::string> arch();         // QJIT_ARCH
std::string log_level();                   // QJIT_LOG (error|warn|info|debug), default warn
std::uint64_t cache_max_bytes();           // QJIT_CACHE_MAX_BYTES, default 2 GiB
std::uint32_t cache_lock_timeout_ms();     // QJIT_CACHE_LOCK_TIMEOUT_MS, default 30 s
unsigned compile_threads();                // QJIT_COMPILE_THREADS, default min(cores, 4)
unsigned sim_threads();                    // QJIT_SIM_THREADS, 0 (unset) = every core
unsigned cpu_threads();                    // QJIT_CPU_THREADS, 0 (unset) = every core
std::optional<std::uint64_t> cpu_cached_mb();  // QJIT_CPU_CACHED_MB; none when unset
std::string cpu_isa();                     // QJIT_CPU_ISA: native (default) | amx | avx512_vnni | generic

// The knobs that change generated code, as "NAME=value" lines, for the cache manifest.
std::vector<std::string> code_affecting();

}  // namespace qjit::knobs
