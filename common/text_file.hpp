#pragma once
// Small text inputs a user names (rules files, DAX configs, calibration results): read
// whole, but only from a regular file (a FIFO or a device would block or never end) and only
// up to a bound, checked before anything is allocated.

#include <cstdint>
#include <string>

namespace qjit {

/// The contents of `path`. Throws qjit::Error (subsystem `sub`) beginning with `what` (e.g.
/// "rules file 'r.json'"): no such file, not a regular file, over `max_bytes`, unreadable.
std::string read_text_file(const std::string& path, std::uint64_t max_bytes, const char* sub, const std::string& what);

}  // namespace qjit
