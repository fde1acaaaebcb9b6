#include "cache/permissions.hpp"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace qjit::cache {

std::string trust_problem(const std::filesystem::path& path, Follow follow) {
  struct stat st {};
  const int rc = follow == Follow::kYes ? ::stat(path.c_str(), &st) : ::lstat(path.c_str(), &st);
  if (rc != 0) return fmt::format("{}: cannot stat ({})", path.string(), std::strerror(errno));
  if (S_ISLNK(st.st_mode)) return fmt::format("{} is a symbolic link", path.string());
  if (st.st_uid != ::geteuid()) {
    return fmt::format("{} is owned by uid {}, not by the current user (uid {})", path.string(), st.st_uid,
                       ::geteuid());
  }
  if (st.st_mode & (S_IWGRP | S_IWOTH)) {
    return fmt::format("{} is writable by group or others (mode {:04o})", path.string(), st.st_mode & 07777);
  }
  return {};
}

}  // namespace qjit::cache
