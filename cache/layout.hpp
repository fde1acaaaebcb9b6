#pragma once
// Where things live under a cache directory, and a scan of what is there. Private to cache/.

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace qjit::cache::layout {

inline constexpr std::string_view kEntrySuffix = ".qjit";
inline constexpr std::string_view kLockSuffix = ".lock";
inline constexpr std::string_view kTempMarker = ".qjit.tmp.";  // FileSystem::write_temp's names
inline constexpr std::size_t kMaxQuarantined = 16;            // oldest moved-aside files go first

// 64 lowercase hex digits, as sha256_hex writes them.
bool is_key(std::string_view s);

std::filesystem::path shard_dir(const std::filesystem::path& dir, const std::string& key);
std::filesystem::path lock_path(const std::filesystem::path& dir, const std::string& key);

struct File {
  std::string key;  // empty for files that are not entries
  std::filesystem::path path;
  std::uint64_t bytes = 0;
  std::int64_t mtime_ns = 0;
};

struct Scan {
  std::vector<File> entries;  // <shard>/<key>.qjit, regular files only
  std::vector<File> temps;    // publishes in flight or killed
  std::vector<File> locks;
};

// Never throws: an unreadable directory or a file that vanishes mid-scan is skipped.
Scan scan(const std::filesystem::path& dir);

// The files under `quarantine`, oldest first.
std::vector<File> quarantined(const std::filesystem::path& quarantine);

std::int64_t now_ns();

}  // namespace qjit::cache::layout
