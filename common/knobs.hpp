#pragma once
// Every environment variable qjit reads, in one place (DESIGN.md section 4).
// Read on each call, so tests can change them with setenv between operations.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace qjit::knobs {

struct KnobInfo {
  const char* name;
  const char* meaning;
  bool changes_code;  // part of the kernel cache key when set
};

// The documented list (printed by `qjit cache path --json` and the README).
const std::vector<KnobInfo>& all();

std::optional<std::string> get(const char* name);
bool flag(const char* name);  // set and not "0"/"false"/"off"/""

std::filesystem::path cache_dir();        // QJIT_CACHE_DIR, else $XDG_CACHE_HOME/qjit, else ~/.cache/qjit
bool cache_disabled();                     // QJIT_CACHE_DISABLE
bool always_compile();                     // QJIT_ALWAYS_COMPILE
bool dump();                               // QJIT_DUMP
bool offline();                            // QJIT_OFFLINE
std::optional<std::string> device();       // QJIT_DEVICE
std::optional<std::string> arch();         // QJIT_ARCH
std::string log_level();                   // QJIT_LOG (error|warn|info|debug), default warn
std::uint64_t cache_max_bytes();           // QJIT_CACHE_MAX_BYTES, default 2 GiB
unsigned compile_threads();                // QJIT_COMPILE_THREADS, default min(cores, 4)

// The knobs that change generated code, as "NAME=value" lines, for the cache manifest.
std::vector<std::string> code_affecting();

}  // namespace qjit::knobs
