#include "common/memory.hpp"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <string>

#include "common/error.hpp"

namespace qjit {

namespace {

// A limit file's number, or UINT64_MAX ("max", missing, unreadable).
std::uint64_t limit_in(const std::string& file) {
  std::ifstream in(file);
  std::string text;
  if (!(in >> text)) return UINT64_MAX;
  std::uint64_t n = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  return ec == std::errc() && end == text.data() + text.size() ? n : UINT64_MAX;
}

// The tightest memory limit of this process's cgroup and its ancestors: cgroup v2
// (0::/path: memory.max) or v1 (N:memory:/path: memory.limit_in_bytes).
std::uint64_t cgroup_limit() {
  std::ifstream in("/proc/self/cgroup");
  std::uint64_t limit = UINT64_MAX;
  for (std::string line; std::getline(in, line);) {
    const auto a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1);
    std::string path = line.substr(b + 1);
    std::string base, file;
    if (line.starts_with("0::")) base = "/sys/fs/cgroup", file = "memory.max";
    else if (controllers == "memory" || controllers.find("memory") != std::string::npos)
      base = "/sys/fs/cgroup/memory", file = "memory.limit_in_bytes";
    else continue;
    for (;;) {
      limit = std::min(limit, limit_in(base + path + (path.ends_with('/') ? "" : "/") + file));
      if (path.empty() || path == "/") break;
      path = path.substr(0, path.rfind('/'));
    }
  }
  return limit;
}

}  // namespace

std::uint64_t host_memory_bytes() {
  static const std::uint64_t bytes = [] {
    const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
    const std::uint64_t physical =
        pages > 0 && page > 0 ? static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page) : UINT64_MAX;
    return std::min(physical, cgroup_limit());
  }();
  return bytes;
}

std::string format_bytes(std::uint64_t b) {
  const double v = static_cast<double>(b);
  if (b >= (1ull << 40)) return fmt::format("{:.2f} TiB", v / double(1ull << 40));
  if (b >= (1ull << 30)) return fmt::format("{:.2f} GiB", v / double(1ull << 30));
  if (b >= (1ull << 20)) return fmt::format("{:.2f} MiB", v / double(1ull << 20));
  if (b >= (1ull << 10)) return fmt::format("{:.1f} KiB", v / double(1ull << 10));
  return fmt::format("{} B", b);
}

void check_host_memory(std::uint64_t bytes, const std::string& what, const char* sub) {
  const std::uint64_t have = host_memory_bytes();
  QJIT_CHECK_GEN(sub, bytes <= have, "{} needs {}, more than this machine's {} of memory", what, format_bytes(bytes),
                 format_bytes(have));
}

}  // namespace qjit
