#pragma once
// Program -> Artifact through NVRTC (a host program: through the host compiler,
// jit/host_compiler.hpp). Compiles for the Program's explicit arch and never
// touches a device. Thread-safe: each call owns its nvrtcProgram.

#include <string>

#include "jit/artifact.hpp"
#include "jit/program.hpp"

namespace qjit::jit {

// Throws qjit::Error (subsystem "nvrtc") on failure, carrying the NVRTC log, the options
// and the source lines around each error, numbered.
Artifact compile(const Program& program);

// The error text compile() throws, exposed for tests: log lines such as
// "file(12): error: ..." are followed by lines 9..15 of that file with line numbers.
std::string format_compile_error(const Program& program, const std::string& log);

}  // namespace qjit::jit
