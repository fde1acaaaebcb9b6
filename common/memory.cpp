#include "common/memory.hpp"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <string>

#include "common/error.hpp"

namespace qjit {

namespace {

// cgroup v2's memory.max: a number, or "max" when unlimited.
std::uint64_t cgroup_limit() {
  std::ifstream in("/sys/fs/cgroup/memory.max");
  std::string text;
  if (!(in >> text)) return UINT64_MAX;
  std::uint64_t n = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  return ec == std::errc() && end == text.data() + text.size() ? n : UINT64_MAX;
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
