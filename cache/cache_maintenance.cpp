// DiskCache maintenance: listing, statistics, verification, clearing and LRU eviction.

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "cache/disk_cache.hpp"
#include "cache/key_lock.hpp"
#include "cache/layout.hpp"
#include "cache/trusted_dir.hpp"
#include "common/error.hpp"
#include "common/log.hpp"
#include "common/sha256.hpp"

namespace qjit::cache {

namespace fs = std::filesystem;

namespace {

// A publish older than this was killed (a live one takes seconds at most).
constexpr std::int64_t kStaleTempNs = 3600ll * 1'000'000'000;

std::string json_scalar(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number() || v.is_boolean()) return v.dump();
  return {};
}

// "family arch" from the manifest's top-level fields.
std::string manifest_summary(const TrustedDir& root, const layout::File& f) {
  std::string bytes;
  if (f.open(root).read(f.name, kMaxEntryBytes, bytes, nullptr) != 0) return {};
  try {
    const auto manifest = nlohmann::json::parse(decode_entry(bytes).manifest, nullptr, /*allow_exceptions=*/false);
    if (!manifest.is_object()) return {};
    std::string out;
    for (const char* field : {"family", "arch"}) {
      if (auto it = manifest.find(field); it != manifest.end()) {
        if (std::string v = json_scalar(*it); !v.empty()) out += (out.empty() ? "" : " ") + v;
      }
    }
    return out;
  } catch (const Error&) {
    return {};
  }
}

void warn_untrusted(const std::vector<std::string>& problems) {
  for (const auto& p : problems) log(LogLevel::kWarn, "cache: skipping an untrusted directory: {}", p);
}

}  // namespace

std::vector<EntryInfo> DiskCache::list() const {
  std::vector<EntryInfo> out;
  const TrustedDir r = root(/*create=*/false);
  const layout::Scan s = layout::scan(r);
  warn_untrusted(s.untrusted);
  for (const auto& f : s.entries) out.push_back({f.key, f.path(r), f.bytes, f.mtime_ns, manifest_summary(r, f)});
  std::sort(out.begin(), out.end(), [](const EntryInfo& a, const EntryInfo& b) { return a.key < b.key; });
  return out;
}

Stats DiskCache::stats() const {
  Stats s;
  const TrustedDir r = root(/*create=*/false);
  for (const auto& f : layout::scan(r).entries) {
    ++s.entries;
    s.bytes += f.bytes;
  }
  s.max_bytes = options_.max_bytes;
  s.quarantined = layout::quarantined(r).size();
  return s;
}

std::vector<VerifyResult> DiskCache::verify() {
  std::vector<VerifyResult> out;
  const TrustedDir top = root(/*create=*/false);
  const layout::Scan s = layout::scan(top);
  for (const auto& p : s.untrusted) out.push_back({{}, {}, false, "untrusted: " + p});
  for (const auto& f : s.entries) {
    VerifyResult r{f.key, f.path(top), false, {}};
    const TrustedDir dir = f.open(top);
    std::string bytes, untrusted;
    if (int err = dir.read(f.name, kMaxEntryBytes, bytes, &untrusted)) {
      if (err == ENOENT) continue;  // evicted meanwhile
      if (!untrusted.empty()) {
        // Not ours to move: report it and leave it where it is.
        r.problem = "untrusted: " + untrusted;
        out.push_back(std::move(r));
        continue;
      }
      if (err != EINVAL && err != EFBIG) {
        // A failure of the moment says nothing about the entry: report it, move nothing.
        r.problem = fmt::format("read failed: {}", std::strerror(err));
        out.push_back(std::move(r));
        continue;
      }
      r.problem = err == EFBIG ? fmt::format("larger than any entry (over {} bytes)", kMaxEntryBytes)
                               : "not a regular file";
    } else {
      try {
        Entry e = decode_entry(bytes);
        if (sha256_hex(e.manifest) != f.key) r.problem = "the manifest does not hash to the key";
      } catch (const Error& e) {
        r.problem = e.message();
      }
    }
    r.ok = r.problem.empty();
    if (!r.ok) quarantine(f.key, dir, r.problem, /*report=*/false);
    out.push_back(std::move(r));
  }
  std::sort(out.begin(), out.end(), [](const VerifyResult& a, const VerifyResult& b) { return a.key < b.key; });
  return out;
}

ClearResult DiskCache::clear() {
  ClearResult result;
  const TrustedDir r = TrustedDir::open_root(options_.dir, /*create=*/false, options_.fs);
  if (r.status() == TrustedDir::Status::kMissing) return result;  // nothing to clear
  if (!r.ok()) {
    ++result.failed;
    result.problems.push_back(r.problem());
    return result;
  }
  auto fail = [&](const layout::File& f, int err) {
    ++result.failed;
    result.problems.push_back(fmt::format("cannot remove {}: {}", f.path(r).string(), std::strerror(err)));
  };
  auto remove = [&](const layout::File& f) {
    const TrustedDir dir = f.open(r);
    const int err = dir.ok() ? dir.remove(f.name) : dir.error() ? dir.error() : EPERM;
    if (err == 0 || err == ENOENT) return err == 0;
    fail(f, err);
    return false;
  };
  const layout::Scan s = layout::scan(r);
  for (const auto& p : s.untrusted) {
    ++result.failed;
    result.problems.push_back("not clearing an untrusted directory: " + p);
  }
  for (const auto& f : s.entries) result.removed += remove(f);
  for (const auto& f : s.temps) remove(f);
  for (const auto& f : s.extras) remove(f);
  for (const auto& f : s.locks) {
    // A lock a live process holds stays: it guards a compile in flight, not an entry.
    const int err = remove_lock_if_free(f.open(r), f.name);
    if (err != 0 && err != EBUSY) fail(f, err);
  }
  const TrustedDir q = r.child(std::string(layout::kQuarantine), /*create=*/false);
  if (q.status() == TrustedDir::Status::kUntrusted) {
    ++result.failed;
    result.problems.push_back("not clearing an untrusted directory: " + q.problem());
  }
  for (const auto& f : layout::quarantined(r)) remove(f);
  return result;
}

void DiskCache::evict_to_budget() { evict_except({}); }

void DiskCache::evict_except(const std::string& keep_key) {
  const TrustedDir r = root(/*create=*/false);
  layout::Scan s = layout::scan(r);
  const std::int64_t now = layout::now_ns();
  for (const auto& f : s.temps) {
    if (now - f.mtime_ns > kStaleTempNs) f.open(r).remove(f.name);
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
    const TrustedDir dir = f.open(r);
    const int err = dir.remove(f.name);
    if (err == 0 || err == ENOENT) {
      total -= f.bytes;
      remove_lock_if_free(dir, layout::lock_name(f.key));
    }
  }
}

}  // namespace qjit::cache
