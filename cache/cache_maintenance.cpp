// DiskCache maintenance: listing, statistics, verification, clearing and LRU eviction.

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "cache/disk_cache.hpp"
#include "cache/key_lock.hpp"
#include "cache/layout.hpp"
#include "cache/permissions.hpp"
#include "common/error.hpp"
#include "common/sha256.hpp"

namespace qjit::cache {

namespace fs = std::filesystem;

namespace {

// A publish older than this was killed (a live one takes seconds at most).
constexpr std::int64_t kStaleTempNs = 3600ll * 1'000'000'000;
// The summary reads only the manifest; a larger one is not a manifest we wrote.
constexpr std::uint64_t kMaxSummaryManifest = 16u << 20;

std::string read_prefix(const fs::path& path, std::size_t offset, std::size_t n) {
  std::string out(n, '\0');
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return {};
  ssize_t got = ::pread(fd, out.data(), n, static_cast<off_t>(offset));
  ::close(fd);
  out.resize(got > 0 ? static_cast<std::size_t>(got) : 0);
  return out;
}

std::string json_scalar(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number() || v.is_boolean()) return v.dump();
  return {};
}

// "family arch" from the manifest's top-level fields, without reading the payload.
std::string manifest_summary(const fs::path& path) {
  // Header: magic (8), version (4), section count (4), manifest size (8); see entry_format.cpp.
  const std::string head = read_prefix(path, 0, 24);
  if (head.size() < 24) return {};
  std::uint64_t size = 0;
  for (int i = 0; i < 8; ++i) size |= std::uint64_t(static_cast<unsigned char>(head[16 + i])) << (8 * i);
  if (size > kMaxSummaryManifest) return {};
  const auto manifest = nlohmann::json::parse(read_prefix(path, 24, size), nullptr, /*allow_exceptions=*/false);
  if (!manifest.is_object()) return {};
  std::string out;
  for (const char* field : {"family", "arch"}) {
    if (auto it = manifest.find(field); it != manifest.end()) {
      if (std::string v = json_scalar(*it); !v.empty()) out += (out.empty() ? "" : " ") + v;
    }
  }
  return out;
}

}  // namespace

std::vector<EntryInfo> DiskCache::list() const {
  std::vector<EntryInfo> out;
  for (auto& f : layout::scan(options_.dir).entries) {
    out.push_back({f.key, f.path, f.bytes, f.mtime_ns, manifest_summary(f.path)});
  }
  std::sort(out.begin(), out.end(), [](const EntryInfo& a, const EntryInfo& b) { return a.key < b.key; });
  return out;
}

Stats DiskCache::stats() const {
  Stats s;
  for (const auto& f : layout::scan(options_.dir).entries) {
    ++s.entries;
    s.bytes += f.bytes;
  }
  s.max_bytes = options_.max_bytes;
  s.quarantined = layout::quarantined(quarantine_dir()).size();
  return s;
}

std::vector<VerifyResult> DiskCache::verify() {
  std::vector<VerifyResult> out;
  for (const auto& f : layout::scan(options_.dir).entries) {
    VerifyResult r{f.key, f.path, false, {}};
    r.problem = trust_problem(options_.dir, Follow::kYes);
    if (r.problem.empty()) r.problem = trust_problem(f.path.parent_path(), Follow::kNo);
    if (r.problem.empty()) r.problem = trust_problem(f.path, Follow::kNo);
    if (!r.problem.empty()) {
      // Not ours to move: report it and leave it where it is.
      r.problem = "untrusted: " + r.problem;
      out.push_back(std::move(r));
      continue;
    }
    std::string bytes;
    if (int err = options_.fs->read_file(f.path, bytes)) {
      if (err == ENOENT) continue;  // evicted meanwhile
      r.problem = fmt::format("read failed: {}", std::strerror(err));
    } else {
      try {
        Entry e = decode_entry(bytes);
        if (sha256_hex(e.manifest) != f.key) r.problem = "the manifest does not hash to the key";
      } catch (const Error& e) {
        r.problem = e.message();
      }
    }
    r.ok = r.problem.empty();
    if (!r.ok) quarantine(f.key, f.path, r.problem, /*report=*/false);
    out.push_back(std::move(r));
  }
  std::sort(out.begin(), out.end(), [](const VerifyResult& a, const VerifyResult& b) { return a.key < b.key; });
  return out;
}

std::uint64_t DiskCache::clear() {
  const layout::Scan s = layout::scan(options_.dir);
  std::uint64_t removed = 0;
  for (const auto& f : s.entries) removed += options_.fs->remove(f.path) == 0;
  for (const auto& f : s.temps) options_.fs->remove(f.path);
  for (const auto& f : s.locks) remove_lock_if_free(f.path);
  for (const auto& f : layout::quarantined(quarantine_dir())) options_.fs->remove(f.path);
  return removed;
}

void DiskCache::evict_to_budget() { evict_except({}); }

void DiskCache::evict_except(const std::string& keep_key) {
  layout::Scan s = layout::scan(options_.dir);
  const std::int64_t now = layout::now_ns();
  for (const auto& f : s.temps) {
    if (now - f.mtime_ns > kStaleTempNs) options_.fs->remove(f.path);
  }
  std::uint64_t total = 0;
  for (const auto& f : s.entries) total += f.bytes;
  if (total <= options_.max_bytes) return;

  // Least recently used first; the key breaks ties so every process evicts alike.
  std::sort(s.entries.begin(), s.entries.end(), [](const layout::File& a, const layout::File& b) {
    return a.mtime_ns != b.mtime_ns ? a.mtime_ns < b.mtime_ns : a.key < b.key;
  });
  for (const auto& f : s.entries) {
    if (total <= options_.max_bytes) break;
    if (f.key == keep_key) continue;
    // ENOENT: another process evicted it first; it no longer counts either way.
    const int err = options_.fs->remove(f.path);
    if (err == 0 || err == ENOENT) {
      total -= f.bytes;
      remove_lock_if_free(layout::lock_path(options_.dir, f.key));
    }
  }
}

}  // namespace qjit::cache
