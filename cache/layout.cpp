#include "cache/layout.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <system_error>

namespace qjit::cache::layout {

namespace fs = std::filesystem;

namespace {

bool is_hex(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool stat_file(const fs::path& path, File& out) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  out.path = path;
  out.bytes = static_cast<std::uint64_t>(st.st_size);
  out.mtime_ns = std::int64_t(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  return true;
}

std::vector<fs::path> children(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) out.push_back(it->path());
  return out;
}

}  // namespace

bool is_key(std::string_view s) { return s.size() == 64 && is_hex(s); }

fs::path shard_dir(const fs::path& dir, const std::string& key) { return dir / key.substr(0, 2); }

fs::path lock_path(const fs::path& dir, const std::string& key) {
  return shard_dir(dir, key) / (key + std::string(kLockSuffix));
}

Scan scan(const fs::path& dir) {
  Scan out;
  for (const auto& shard : children(dir)) {
    const std::string shard_name = shard.filename().string();
    if (shard_name.size() != 2 || !is_hex(shard_name)) continue;  // e.g. corrupt/
    for (const auto& path : children(shard)) {
      const std::string name = path.filename().string();
      File f;
      if (!stat_file(path, f)) continue;
      if (name.size() == 64 + kEntrySuffix.size() && name.ends_with(kEntrySuffix) &&
          is_key(std::string_view(name).substr(0, 64)) && name.starts_with(shard_name)) {
        f.key = name.substr(0, 64);
        out.entries.push_back(std::move(f));
      } else if (name.find(kTempMarker) != std::string::npos) {
        out.temps.push_back(std::move(f));
      } else if (name.ends_with(kLockSuffix)) {
        out.locks.push_back(std::move(f));
      }
    }
  }
  return out;
}

std::vector<File> quarantined(const fs::path& quarantine) {
  std::vector<File> out;
  for (const auto& path : children(quarantine)) {
    File f;
    if (stat_file(path, f)) out.push_back(std::move(f));
  }
  std::sort(out.begin(), out.end(), [](const File& a, const File& b) { return a.mtime_ns < b.mtime_ns; });
  return out;
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace qjit::cache::layout
