#pragma once
// Where things live under a cache directory, and a scan of what is there. Private to cache/.

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "cache/trusted_dir.hpp"

namespace qjit::cache::layout {

inline constexpr std::string_view kEntrySuffix = ".qjit";
inline constexpr std::string_view kLockSuffix = ".lock";
inline constexpr std::string_view kTempMarker = ".tmp.";  // every atomic publish's temp files
inline constexpr std::string_view kQuarantine = "corrupt";
inline constexpr std::size_t kMaxQuarantined = 16;  // oldest moved-aside files go first

// 64 lowercase hex digits, as sha256_hex writes them.
bool is_key(std::string_view s);

std::string shard_name(const std::string& key);
std::string entry_name(const std::string& key);
std::string lock_name(const std::string& key);
// "<key>.<pid>.<ns>.bad": what quarantine() names a moved-aside entry, and the only names it
// prunes or clear removes there.
std::string quarantine_name(const std::string& key);
bool is_quarantine_name(std::string_view name);

struct File {
  std::string key;  // empty for files that are not entries
  std::string dir;  // the directory it is in, relative to the root: "" (the root), a shard, "corrupt"
  std::string name;
  std::uint64_t bytes = 0;
  std::int64_t mtime_ns = 0;
  // The directory, opened (and checked) again: a scan holds no descriptors, so a cache of
  // 256 shards costs one descriptor at a time.
  TrustedDir open(const TrustedDir& root) const { return dir.empty() ? root : root.child(dir, false); }
  std::filesystem::path path(const TrustedDir& root) const { return root.path() / dir / name; }
};

struct Scan {
  std::vector<File> entries;  // <shard>/<key>.qjit, regular files only
  std::vector<File> temps;    // publishes in flight or killed, in shards and in the root
  std::vector<File> locks;
  // <key>.qjit.* files beside an entry (QJIT_DUMP's source, PTX, log), and links or special
  // files under an entry's or temp file's name: never read, removed by clear.
  std::vector<File> extras;
  std::vector<std::string> untrusted;  // shard directories skipped, and why
};

// Never throws: an unreadable directory or a file that vanishes mid-scan is skipped, and so
// is a shard that is a link or not ours alone (named in `untrusted`).
Scan scan(const TrustedDir& root);

// The files quarantine() moved aside (by name; never a directory), oldest first.
std::vector<File> quarantined(const TrustedDir& root);

std::int64_t now_ns();

}  // namespace qjit::cache::layout
