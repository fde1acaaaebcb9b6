// DiskCache: load and store (the hot paths), and the small files beside entries.
// Maintenance is in cache_maintenance.cpp, the lock in key_lock.cpp, the byte layout in
// entry_format.cpp; every file operation goes through TrustedDir (trusted_dir.hpp).

#include "cache/disk_cache.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "cache/layout.hpp"
#include "cache/report_once.hpp"
#include "cache/trusted_dir.hpp"
#include "common/error.hpp"
#include "common/knobs.hpp"
#include "common/log.hpp"
#include "common/sha256.hpp"

namespace qjit::cache {

namespace fs = std::filesystem;

namespace {

void check_key_matches(const std::string& key, const std::string& manifest) {
  QJIT_CHECK_GEN("cache", key == sha256_hex(manifest), "cache key {} is not sha256_hex(manifest)", key);
}

void check_aux_name(const std::string& name) {
  // NOTE: never a temp file's marker: scan() takes such names in the root for stale publishes.
  const bool ok = !name.empty() && name.size() <= 128 && name[0] != '.' &&
                  name.find(layout::kTempMarker) == std::string::npos &&
                  std::all_of(name.begin(), name.end(), [](char c) {
                    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
                  });
  QJIT_CHECK_GEN("cache", ok, "invalid cache file name '{}'", name);
}

}  // namespace

const char* to_string(LoadStatus status) {
  switch (status) {
    case LoadStatus::kHit: return "hit";
    case LoadStatus::kMiss: return "miss";
    case LoadStatus::kCorrupt: return "corrupt";
    case LoadStatus::kUntrusted: return "untrusted";
    case LoadStatus::kDisabled: return "disabled";
  }
  return "?";
}

Options Options::from_env() {
  Options o;
  o.dir = knobs::cache_dir();
  try {
    o.enabled = !knobs::cache_disabled();
  } catch (const Error& e) {
    log(LogLevel::kWarn, "cache: {}; the cache stays enabled", e.message());
  }
  // A bad knob must not stop the program here: keep the default and say so (the qjit
  // command checks every knob before work and refuses a bad one).
  try {
    o.max_bytes = knobs::cache_max_bytes();
  } catch (const Error& e) {
    log(LogLevel::kWarn, "cache: {}; using the default budget of {} bytes", e.message(), o.max_bytes);
  }
  try {
    o.lock_timeout_ms = knobs::cache_lock_timeout_ms();
  } catch (const Error& e) {
    log(LogLevel::kWarn, "cache: {}; waiting at most {} ms for a lock", e.message(), o.lock_timeout_ms);
  }
  return o;
}

DiskCache::DiskCache(Options options) : options_(std::move(options)) {
  if (!options_.fs) options_.fs = real_file_system();
}

fs::path DiskCache::entry_path(const std::string& key) const {
  QJIT_CHECK_GEN("cache", layout::is_key(key), "invalid cache key '{}': expected 64 lowercase hex digits", key);
  return options_.dir / layout::shard_name(key) / layout::entry_name(key);
}

TrustedDir DiskCache::root(bool create) const { return TrustedDir::open_root(options_.dir, create, options_.fs); }

TrustedDir DiskCache::shard(const std::string& key, bool create) const {
  TrustedDir r = root(create);
  return r.ok() ? r.child(layout::shard_name(key), create) : r;
}

LoadResult DiskCache::load(const std::string& key, const std::string& expected_manifest) {
  if (!options_.enabled) return {LoadStatus::kDisabled, std::nullopt, "QJIT_CACHE_DISABLE"};
  entry_path(key);  // validates the key
  check_key_matches(key, expected_manifest);

  const TrustedDir dir = shard(key, /*create=*/false);
  if (dir.status() == TrustedDir::Status::kUntrusted) {
    if (first_report("untrusted:" + dir.problem())) {
      log(LogLevel::kWarn, "cache: not loading from an untrusted directory: {}", dir.problem());
    }
    return {LoadStatus::kUntrusted, std::nullopt, dir.problem()};
  }
  if (!dir.ok()) return {LoadStatus::kMiss, std::nullopt, {}};
  const std::string name = layout::entry_name(key);

  std::string bytes, untrusted;
  if (int err = dir.read(name, kMaxEntryBytes, bytes, &untrusted)) {
    if (err == ENOENT) return {LoadStatus::kMiss, std::nullopt, {}};
    if (!untrusted.empty()) {
      if (first_report("untrusted:" + key)) log(LogLevel::kWarn, "cache: not loading an untrusted entry: {}", untrusted);
      return {LoadStatus::kUntrusted, std::nullopt, untrusted};
    }
    if (err != EINVAL && err != EFBIG) {
      // NOTE: a failure of the moment (EMFILE, ENOMEM, EIO, EACCES ...) says nothing about
      // the entry: a miss, and the rebuilt entry's rename replaces the file either way.
      log(LogLevel::kDebug, "cache: cannot read {}: {}", dir.path_of(name).string(), std::strerror(err));
      return {LoadStatus::kMiss, std::nullopt, {}};
    }
    const auto st = dir.stat(name);
    if (st && S_ISDIR(st->st_mode)) {
      // Not ours to move or empty; a store will fail (one warning) until someone removes it.
      if (first_report("corrupt:" + key)) {
        log(LogLevel::kWarn, "cache: {} is a directory where an entry belongs; left in place", dir.path_of(name).string());
      }
      return {LoadStatus::kCorrupt, std::nullopt, "a directory, not an entry"};
    }
    return quarantine(key, dir, err == EINVAL ? "not a regular file"
                                              : fmt::format("larger than any entry (over {} bytes)", kMaxEntryBytes),
                      true);
  }
  Entry entry;
  try {
    entry = decode_entry(bytes);
  } catch (const Error& e) {
    return quarantine(key, dir, e.message(), true);
  }
  if (entry.manifest != expected_manifest) {
    return quarantine(key, dir, "the stored manifest differs from the expected one", true);
  }
  // The stamp is best effort: a read-only cache still serves hits.
  dir.set_mtime(name, layout::now_ns());
  return {LoadStatus::kHit, std::move(entry), {}};
}

LoadResult DiskCache::quarantine(const std::string& key, const TrustedDir& shard, const std::string& problem,
                                 bool report) {
  // NOTE: another process may have replaced the bad file with a good one since we read it;
  // moving that aside costs one rebuild, never a wrong result.
  const std::string name = layout::entry_name(key);
  const std::string dest = layout::quarantine_name(key);
  const TrustedDir top = root(false);
  const TrustedDir qdir = top.child(std::string(layout::kQuarantine), /*create=*/true);
  std::string where;
  int err = qdir.ok() ? shard.rename(name, qdir, dest) : EPERM;
  if (err == 0) {
    qdir.set_mtime(dest, layout::now_ns());  // prune by when it was moved aside
    where = fmt::format("moved to {}", qdir.path_of(dest).string());
    auto files = layout::quarantined(top);
    for (std::size_t i = 0; i + layout::kMaxQuarantined < files.size(); ++i) qdir.remove(files[i].name);
  } else if (err != ENOENT) {
    err = shard.remove(name);
    where = err == 0 ? "removed" : fmt::format("cannot be removed ({})", std::strerror(err));
    if (!qdir.ok()) where += fmt::format(" (not moved aside: {})", qdir.problem());
  } else {
    where = "already gone";
  }
  if (report && first_report("corrupt:" + key)) {
    log(LogLevel::kWarn, "cache: corrupt entry {} ({}); {}; rebuilding", shard.path_of(name).string(), problem, where);
  }
  return {LoadStatus::kCorrupt, std::nullopt, problem};
}

bool DiskCache::publish(const TrustedDir& dir, const std::string& name, const std::string& data) {
  if (!dir.ok()) {
    if (dir.status() == TrustedDir::Status::kUntrusted) {
      // Writing would be wasted: load() refuses everything here.
      if (first_report("untrusted-dir:" + dir.problem())) {
        log(LogLevel::kWarn, "cache: not writing to an untrusted directory: {}", dir.problem());
      }
      return false;
    }
    return write_failed("create directory", dir.path(), dir.error() ? dir.error() : EIO);
  }
  std::string tmp;
  if (int err = dir.write_temp(name + ".tmp.", data, tmp)) {
    if (!tmp.empty()) dir.remove(tmp);
    return write_failed("write", dir.path_of(tmp.empty() ? name : tmp), err);
  }
  // NOTE: rename is the commit point: readers see the old file, or none, or the whole new
  // one. Losing a race to another process publishing the same key is fine.
  if (int err = dir.rename(tmp, dir, name)) {
    dir.remove(tmp);
    return write_failed("rename", dir.path_of(name), err);
  }
  if (int err = dir.fsync()) {
    // Published but perhaps not durable across a power cut; a later bad read is a miss.
    log(LogLevel::kDebug, "cache: fsync of {} failed: {}", dir.path().string(), std::strerror(err));
  }
  return true;
}

bool DiskCache::store(const std::string& key, const Entry& entry) {
  if (!options_.enabled) return false;
  entry_path(key);  // validates the key
  check_key_matches(key, entry.manifest);
  try {
    const std::string bytes = encode_entry(entry);
    if (bytes.size() > kMaxEntryBytes) {
      if (first_report("oversized:" + key)) {
        log(LogLevel::kWarn, "cache: not storing {}: {} bytes is over the entry limit of {}", key, bytes.size(),
            kMaxEntryBytes);
      }
      return false;
    }
    if (!publish(shard(key, /*create=*/true), layout::entry_name(key), bytes)) return false;
  } catch (const std::exception& e) {  // e.g. bad_alloc encoding a huge entry
    if (first_report("write-failure")) log(LogLevel::kWarn, "cache: cannot store {}: {}", key, e.what());
    return false;
  }
  try {
    evict_except(key);
  } catch (const std::exception& e) {
    log(LogLevel::kDebug, "cache: eviction failed: {}", e.what());
  }
  return true;
}

std::optional<std::string> DiskCache::read_aux(const std::string& name, std::uint64_t max_bytes,
                                               std::string* problem) const {
  check_aux_name(name);
  if (!options_.enabled) return std::nullopt;
  const TrustedDir dir = root(/*create=*/false);
  std::string out, untrusted;
  const int err = dir.read(name, max_bytes, out, &untrusted);
  if (err == 0) return out;
  if (problem && err != ENOENT && dir.ok()) {
    *problem = !untrusted.empty() ? untrusted
               : err == EFBIG     ? fmt::format("{} is larger than {} bytes", dir.path_of(name).string(), max_bytes)
                                  : fmt::format("{}: {}", dir.path_of(name).string(), std::strerror(err));
  }
  return std::nullopt;
}

bool DiskCache::write_aux(const std::string& name, const std::string& data) {
  check_aux_name(name);
  if (!options_.enabled) return false;
  return publish(root(/*create=*/true), name, data);
}

bool DiskCache::write_beside(const std::string& key, const std::string& suffix, const std::string& data) {
  check_aux_name("x" + suffix);
  entry_path(key);  // validates the key
  if (!options_.enabled) return false;
  return publish(shard(key, /*create=*/true), layout::entry_name(key) + suffix, data);
}

bool DiskCache::write_failed(const char* step, const fs::path& path, int err) {
  if (first_report("write-failure")) {
    log(LogLevel::kWarn,
        "cache: cannot write the kernel cache ({} {}: {}); kernels stay in memory, further write "
        "failures in this process are not reported",
        step, path.string(), std::strerror(err));
  } else {
    log(LogLevel::kDebug, "cache: {} {} failed: {}", step, path.string(), std::strerror(err));
  }
  return false;
}

}  // namespace qjit::cache
