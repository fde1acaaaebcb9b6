#include "cache/layout.hpp"

#include <algorithm>
#include <chrono>

namespace qjit::cache::layout {

namespace {

bool is_hex(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

File file_of(const TrustedDir& dir, const TrustedDir::Child& c) {
  File f{{}, dir, c.name, static_cast<std::uint64_t>(c.st.st_size), 0};
  f.mtime_ns = std::int64_t(c.st.st_mtim.tv_sec) * 1'000'000'000 + c.st.st_mtim.tv_nsec;
  return f;
}

}  // namespace

bool is_key(std::string_view s) { return s.size() == 64 && is_hex(s); }

std::string shard_name(const std::string& key) { return key.substr(0, 2); }
std::string entry_name(const std::string& key) { return key + std::string(kEntrySuffix); }
std::string lock_name(const std::string& key) { return key + std::string(kLockSuffix); }

Scan scan(const TrustedDir& root) {
  Scan out;
  for (const auto& s : root.list()) {
    if (s.name.size() != 2 || !is_hex(s.name)) continue;  // e.g. corrupt/
    const TrustedDir shard = root.child(s.name, /*create=*/false);
    if (!shard.ok()) {
      if (shard.status() == TrustedDir::Status::kUntrusted) out.untrusted.push_back(shard.problem());
      continue;
    }
    for (const auto& c : shard.list()) {
      if (S_ISDIR(c.st.st_mode)) continue;
      File f = file_of(shard, c);
      const std::string& name = c.name;
      const bool keyed = name.size() > 64 && is_key(std::string_view(name).substr(0, 64)) && name.starts_with(s.name);
      if (!S_ISREG(c.st.st_mode)) {
        // A link or special file where the cache keeps files: never read, removed by clear.
        if (keyed || name.find(kTempMarker) != std::string::npos) out.extras.push_back(std::move(f));
      } else if (keyed && name.size() == 64 + kEntrySuffix.size() && name.ends_with(kEntrySuffix)) {
        f.key = name.substr(0, 64);
        out.entries.push_back(std::move(f));
      } else if (name.find(kTempMarker) != std::string::npos) {
        out.temps.push_back(std::move(f));
      } else if (keyed && name.ends_with(kLockSuffix)) {
        out.locks.push_back(std::move(f));
      } else if (keyed && std::string_view(name).substr(64).starts_with(std::string(kEntrySuffix) + ".")) {
        f.key = name.substr(0, 64);
        out.extras.push_back(std::move(f));
      }
    }
  }
  return out;
}

std::vector<File> quarantined(const TrustedDir& quarantine) {
  std::vector<File> out;
  for (const auto& c : quarantine.list()) {
    // Links and special files too: removing one never touches what it points to.
    if (!S_ISDIR(c.st.st_mode)) out.push_back(file_of(quarantine, c));
  }
  std::sort(out.begin(), out.end(), [](const File& a, const File& b) { return a.mtime_ns < b.mtime_ns; });
  return out;
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace qjit::cache::layout
