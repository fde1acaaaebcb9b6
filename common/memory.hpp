#pragma once
// The host memory a request may take. A shape from a file, a flag or a rule can ask for
// more memory than the machine has; such a request is refused before anything is allocated,
// with a message that says how much it needs and how much there is, instead of ending in
// std::bad_alloc (or the OOM killer) half-way through the work.

#include <cstdint>
#include <string>

namespace qjit {

// This process's memory ceiling: physical memory, or the cgroup's limit when lower.
std::uint64_t host_memory_bytes();

// "1.50 GiB", "640 KiB", "12 B".
std::string format_bytes(std::uint64_t bytes);

// Throws qjit::Error (subsystem `sub`) when `bytes` exceed host_memory_bytes():
// "<what> needs 1.40 TiB, more than this machine's 24.0 GiB of memory".
void check_host_memory(std::uint64_t bytes, const std::string& what, const char* sub = "memory");

}  // namespace qjit
