#pragma once
// The cpu device's compiler: Program -> Artifact (an object file) through the host compiler
// plugin (hostcc/: Clang and LLVM in process), and the loading of such objects into the
// process. The plugin is opened with dlopen on first use, so a machine without LLVM gets a
// clear message (and keeps `cpu:ref`, the plain reference) instead of a binary that cannot
// start. Thread-safe.

#include <string>

#include "jit/artifact.hpp"
#include "jit/program.hpp"

namespace qjit::jit {

/// What compiled code targets: an LLVM triple, CPU name and feature list ("+avx512vnni,...").
struct HostTarget {
  std::string triple, cpu, features;
  bool has(const std::string& feature) const;  // "avx512vnni": listed as "+avx512vnni"
};

/// Whether the plugin opens; when not, `why` says what is missing.
bool host_compiler_available(std::string* why = nullptr);
/// The host as LLVM sees it. Throws qjit::Error (subsystem "hostcc") without the plugin.
const HostTarget& host_native_target();
/// The compiler's identity for the cache key: Clang's full version (its resource headers
/// ship with it). Throws without the plugin.
const std::string& host_compiler_identity();

/// Compiles a host Program (CompileOutput::kHostObject) to an object file. Throws qjit::Error
/// ("hostcc") with the diagnostics and the source lines around each error.
Artifact compile_host(const Program& program);

/// Links an object file into the process; unloaded by host_unload. Throws qjit::Error.
void* host_load(const std::string& object, const std::string& name);
void* host_lookup(void* module, const std::string& symbol);  // throws naming the symbol
void host_unload(void* module);

}  // namespace qjit::jit
