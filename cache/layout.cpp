#include "cache/layout.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

namespace qjit::cache::layout {

namespace {

bool is_hex(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

File file_of(const std::string& dir, const TrustedDir::Child& c) {
  File f{{}, dir, c.name, static_cast<std::uint64_t>(c.st.st_size), 0};
  f.mtime_ns = std::int64_t(c.st.st_mtim.tv_sec) * 1'000'000'000 + c.st.st_mtim.tv_nsec;
  return f;
}

}  // namespace

bool is_key(std::string_view s) { return s.size() == 64 && is_hex(s); }

std::string shard_name(const std::string& key) { return key.substr(0, 2); }
std::string entry_name(const std::string& key) { return key + std::string(kEntrySuffix); }
std::string lock_name(const std::string& key) { return key + std::string(kLockSuffix); }

std::string quarantine_name(const std::string& key) {
  return fmt::format("{}.{}.{}.bad", key, ::getpid(), now_ns());
}

bool is_quarantine_name(std::string_view name) {
  if (name.size() < 64 + 5 || !is_key(name.substr(0, 64)) || !name.ends_with(".bad") || name[64] != '.') return false;
  const std::string_view middle = name.substr(65, name.size() - 65 - 4);  // <pid>.<ns>
  const auto dot = middle.find('.');
  const auto digits = [](std::string_view v) {
    return !v.empty() && std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  return dot != std::string_view::npos && digits(middle.substr(0, dot)) && digits(middle.substr(dot + 1));
}

Scan scan(const TrustedDir& root) {
  Scan out;
  for (const auto& s : root.list()) {
    if (S_ISREG(s.st.st_mode) && s.name.find(kTempMarker) != std::string::npos) {
      out.temps.push_back(file_of("", s));  // an aux file's publish (write_aux)
      continue;
    }
    if (s.name.size() != 2 || !is_hex(s.name)) continue;  // e.g. corrupt/, aux files
    const TrustedDir shard = root.child(s.name, /*create=*/false);
    if (!shard.ok()) {
      if (shard.status() == TrustedDir::Status::kUntrusted) out.untrusted.push_back(shard.problem());
      continue;
    }
    for (const auto& c : shard.list()) {
      if (S_ISDIR(c.st.st_mode)) continue;
      File f = file_of(s.name, c);
      const std::string& name = c.name;
      const bool keyed = name.size() > 64 && is_key(std::string_view(name).substr(0, 64)) && name.starts_with(s.name);
      const bool temp = name.find(kTempMarker) != std::string::npos;
      if (!S_ISREG(c.st.st_mode)) {
        // A link or special file where the cache keeps files: never read, removed by clear.
        if (keyed || temp) out.extras.push_back(std::move(f));
      } else if (keyed && name.size() == 64 + kEntrySuffix.size() && name.ends_with(kEntrySuffix)) {
        f.key = name.substr(0, 64);
        out.entries.push_back(std::move(f));
      } else if (temp) {
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

std::vector<File> quarantined(const TrustedDir& root) {
  std::vector<File> out;
  const TrustedDir q = root.child(std::string(kQuarantine), /*create=*/false);
  for (const auto& c : q.list()) {
    // Links and special files too (removing one never touches what it points to), but only
    // under the names quarantine() gives: nothing else there is ours to delete.
    if (!S_ISDIR(c.st.st_mode) && is_quarantine_name(c.name)) out.push_back(file_of(std::string(kQuarantine), c));
  }
  std::sort(out.begin(), out.end(), [](const File& a, const File& b) { return a.mtime_ns < b.mtime_ns; });
  return out;
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace qjit::cache::layout
