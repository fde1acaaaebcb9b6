// DiskCache: load and store (the hot paths). Maintenance is in cache_maintenance.cpp, the
// lock in key_lock.cpp, the byte layout in entry_format.cpp.

#include "cache/disk_cache.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "cache/layout.hpp"
#include "cache/permissions.hpp"
#include "cache/report_once.hpp"
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

// Why the directories an entry lives in cannot be trusted, or "".
std::string directory_problem(const fs::path& dir, const fs::path& shard) {
  // NOTE: the cache root may be a symbolic link (a relocated ~/.cache); what it points to
  // must still be ours. Below it nothing is followed. Once both directories are ours and
  // closed to others, nobody else can swap a file in them between our checks and our read.
  if (auto why = trust_problem(dir, Follow::kYes); !why.empty()) return why;
  return trust_problem(shard, Follow::kNo);
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
  o.enabled = !knobs::cache_disabled();
  try {
    o.max_bytes = knobs::cache_max_bytes();
  } catch (const Error& e) {
    // A bad budget must not stop the program: keep the default and say so.
    log(LogLevel::kWarn, "cache: {}; using the default budget of {} bytes", e.message(), o.max_bytes);
  }
  return o;
}

DiskCache::DiskCache(Options options) : options_(std::move(options)) {
  if (!options_.fs) options_.fs = real_file_system();
}

fs::path DiskCache::entry_path(const std::string& key) const {
  QJIT_CHECK_GEN("cache", layout::is_key(key), "invalid cache key '{}': expected 64 lowercase hex digits", key);
  return layout::shard_dir(options_.dir, key) / (key + std::string(layout::kEntrySuffix));
}

LoadResult DiskCache::load(const std::string& key, const std::string& expected_manifest) {
  if (!options_.enabled) return {LoadStatus::kDisabled, std::nullopt, "QJIT_CACHE_DISABLE"};
  const fs::path path = entry_path(key);
  check_key_matches(key, expected_manifest);

  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return {LoadStatus::kMiss, std::nullopt, {}};

  std::string why = directory_problem(options_.dir, path.parent_path());
  if (why.empty()) why = trust_problem(path, Follow::kNo);
  if (!why.empty()) {
    if (first_report("untrusted:" + key)) log(LogLevel::kWarn, "cache: not loading an untrusted entry: {}", why);
    return {LoadStatus::kUntrusted, std::nullopt, why};
  }

  std::string bytes;
  if (int err = options_.fs->read_file(path, bytes)) {
    if (err == ENOENT) return {LoadStatus::kMiss, std::nullopt, {}};  // evicted meanwhile
    return quarantine(key, path, fmt::format("read failed: {}", std::strerror(err)), true);
  }
  Entry entry;
  try {
    entry = decode_entry(bytes);
  } catch (const Error& e) {
    return quarantine(key, path, e.message(), true);
  }
  if (entry.manifest != expected_manifest) {
    return quarantine(key, path, "the stored manifest differs from the expected one", true);
  }
  // The stamp is best effort: a read-only cache still serves hits.
  options_.fs->set_mtime(path, layout::now_ns());
  return {LoadStatus::kHit, std::move(entry), {}};
}

LoadResult DiskCache::quarantine(const std::string& key, const fs::path& path, const std::string& problem,
                                 bool report) {
  // NOTE: another process may have replaced the bad file with a good one since we read it;
  // moving that aside costs one rebuild, never a wrong result.
  const fs::path qdir = quarantine_dir();
  const fs::path dest = qdir / fmt::format("{}.{}.{}.bad", key, ::getpid(), layout::now_ns());
  int err = options_.fs->create_dirs(qdir);
  if (err == 0) err = options_.fs->rename(path, dest);
  std::string where;
  if (err == 0) {
    options_.fs->set_mtime(dest, layout::now_ns());  // prune by when it was moved aside
    where = fmt::format("moved to {}", dest.string());
    auto files = layout::quarantined(qdir);
    for (std::size_t i = 0; i + layout::kMaxQuarantined < files.size(); ++i) options_.fs->remove(files[i].path);
  } else if (err != ENOENT) {
    options_.fs->remove(path);
    where = "removed";
  } else {
    where = "already gone";
  }
  if (report && first_report("corrupt:" + key)) {
    log(LogLevel::kWarn, "cache: corrupt entry {} ({}); {}; rebuilding", path.string(), problem, where);
  }
  return {LoadStatus::kCorrupt, std::nullopt, problem};
}

bool DiskCache::store(const std::string& key, const Entry& entry) {
  if (!options_.enabled) return false;
  const fs::path path = entry_path(key);
  check_key_matches(key, entry.manifest);
  const fs::path shard = path.parent_path();
  FileSystem& fsys = *options_.fs;

  fs::path tmp;
  try {
    const std::string bytes = encode_entry(entry);
    if (int err = fsys.create_dirs(shard)) return write_failed("create directory", shard, err);
    if (auto why = directory_problem(options_.dir, shard); !why.empty()) {
      // Writing would be wasted: load() refuses everything here.
      if (first_report("untrusted-dir:" + options_.dir.string())) {
        log(LogLevel::kWarn, "cache: not writing to an untrusted directory: {}", why);
      }
      return false;
    }
    if (int err = fsys.write_temp(path, bytes, tmp)) {
      if (!tmp.empty()) fsys.remove(tmp);
      return write_failed("write", tmp.empty() ? shard : tmp, err);
    }
    // NOTE: rename is the commit point: readers see the old entry, or no entry, or the
    // whole new one. Losing a race to another process publishing the same key is fine.
    if (int err = fsys.rename(tmp, path)) {
      fsys.remove(tmp);
      return write_failed("rename", path, err);
    }
    if (int err = fsys.fsync_dir(shard)) {
      // Published but perhaps not durable across a power cut; a later bad read is a miss.
      log(LogLevel::kDebug, "cache: fsync of {} failed: {}", shard.string(), std::strerror(err));
    }
  } catch (const std::exception& e) {  // e.g. bad_alloc encoding a huge entry
    if (!tmp.empty()) fsys.remove(tmp);
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
