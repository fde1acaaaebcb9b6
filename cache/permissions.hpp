#pragma once
// Trust checks before loading an entry: a cubin runs code, so it is loaded only from files
// and directories the current user owns and nobody else can write (DESIGN.md section 4).

#include <filesystem>
#include <string>

namespace qjit::cache {

enum class Follow { kNo, kYes };

// Why `path` is not trusted, or "" when it is owned by the effective uid and not writable by
// group or others. With Follow::kNo a symbolic link itself is refused.
std::string trust_problem(const std::filesystem::path& path, Follow follow);

}  // namespace qjit::cache
