#pragma once
// The files a subcommand reads and writes, checked before any work: an output must be a
// regular file or not exist yet (a FIFO, a device or a directory is refused, so `--out
// /dev/null` never replaces /dev/null), its directory must exist, and no output may be an
// input or another output (the same path, a link to it, or a hard link), which would lose
// one of them.

#include <string>
#include <vector>

namespace qjit::cli {

struct NamedPath {
  std::string option;  // e.g. "--out"
  std::string path;    // empty: not given (skipped)
};

/// Throws qjit::Error (subsystem `sub`) naming the option and the path.
void check_outputs(const char* sub, const std::vector<NamedPath>& outputs, const std::vector<NamedPath>& inputs);

}  // namespace qjit::cli
