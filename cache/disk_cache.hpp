#pragma once
// The content-addressed on-disk kernel cache (DESIGN.md section 4).
//
// The cache knows nothing about kernels: an entry is a manifest (canonical JSON text whose
// sha256 is the key) plus named byte sections. The jit layer maps artifacts onto entries.
// A cache never takes the program down: every failure to read is a miss, every failure to
// write is one warning and the caller keeps its in-memory result.
//
// On disk (see README.md):
//   <dir>/<key[0:2]>/<key>.qjit          one entry (entry_format.cpp)
//   <dir>/<key[0:2]>/<key>.lock          the cross-process per-key lock
//   <dir>/<key[0:2]>/<key>.qjit.tmp.*    a publish in flight (or killed); never read
//   <dir>/corrupt/                       entries moved aside after a bad read
//
// A DiskCache holds no mutable state: one object may be used from many threads, and many
// objects (and processes) may share one directory.

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cache/file_system.hpp"

namespace qjit::cache {

class TrustedDir;  // trusted_dir.hpp, private to cache/

// NOTE: bump on any change to the entry layout; entries of another version are misses.
inline constexpr std::uint32_t kEntryFormatVersion = 1;
// An entry (PTX, cubin, object code, metadata) is a few MB; a file larger than this is not
// one we wrote, and is a miss before anything is allocated for it. store() refuses larger.
inline constexpr std::uint64_t kMaxEntryBytes = 256ull << 20;
// Small files beside the entries (e.g. the NVRTC identity memo).
inline constexpr std::uint64_t kMaxAuxBytes = 1ull << 20;

struct Entry {
  std::string manifest;                         // canonical JSON; key = sha256_hex(manifest)
  std::map<std::string, std::string> sections;  // e.g. "ptx", "cubin", "meta"

  bool operator==(const Entry&) const = default;
};

struct Options {
  std::filesystem::path dir;
  bool enabled = true;
  std::uint64_t max_bytes = 2ull << 30;
  // A wait for another process's compile is said after lock_notice_ms; after
  // lock_timeout_ms, lock() gives an unlocked guard and the caller compiles (a stopped or
  // hung holder costs a duplicate compile, never a hang).
  std::uint32_t lock_notice_ms = 2'000;
  std::uint32_t lock_timeout_ms = 30'000;
  std::shared_ptr<FileSystem> fs;  // null: the real file system
  // QJIT_CACHE_DIR, QJIT_CACHE_DISABLE, QJIT_CACHE_MAX_BYTES, QJIT_CACHE_LOCK_TIMEOUT_MS
  static Options from_env();
};

struct EntryInfo {
  std::string key;
  std::filesystem::path path;
  std::uint64_t bytes = 0;
  std::int64_t last_used_ns = 0;  // explicit stamp (not atime)
  std::string summary;            // from the manifest: family/arch when present
};

struct Stats {
  std::uint64_t entries = 0;
  std::uint64_t bytes = 0;
  std::uint64_t max_bytes = 0;
  std::uint64_t quarantined = 0;  // corrupt entries moved aside
};

struct ClearResult {
  std::uint64_t removed = 0;         // entries
  std::uint64_t failed = 0;          // files that could not be removed
  std::vector<std::string> problems;  // why, naming each path (untrusted directories too)
};

struct VerifyResult {
  std::string key;
  std::filesystem::path path;
  bool ok = false;
  std::string problem;  // empty when ok
};

enum class LoadStatus { kHit, kMiss, kCorrupt, kUntrusted, kDisabled };
const char* to_string(LoadStatus status);

struct LoadResult {
  LoadStatus status = LoadStatus::kMiss;
  std::optional<Entry> entry;  // set on kHit
  std::string detail;          // why, for corrupt/untrusted
};

class DiskCache {
 public:
  explicit DiskCache(Options options);

  const Options& options() const { return options_; }
  // Throws qjit::Error unless `key` is 64 lowercase hex digits (a sha256_hex).
  std::filesystem::path entry_path(const std::string& key) const;
  std::filesystem::path quarantine_dir() const { return options_.dir / "corrupt"; }

  // Reads and verifies an entry (magic, version, checksum, manifest == expected manifest).
  // A corrupt entry is moved aside (reported once per key per process) and reported as
  // kCorrupt: the caller rebuilds. Entries in directories or files owned by another user or
  // writable by group/others are kUntrusted and never loaded. A hit refreshes the stamp.
  // Throws qjit::Error only when key != sha256_hex(expected_manifest) (a caller bug).
  LoadResult load(const std::string& key, const std::string& expected_manifest);

  // Atomic publish: unique temp file in the same directory, fsync, rename, fsync dir.
  // Returns false (after one warning per process) if anything fails; never throws on I/O.
  // Then evicts least recently used entries (never this one) down to max_bytes.
  // Throws qjit::Error only when key != sha256_hex(entry.manifest) (a caller bug).
  bool store(const std::string& key, const Entry& entry);

  // Cross-process per-key advisory lock (flock on <key>.lock). Correctness never depends
  // on it: a failure to lock (or a wait past lock_timeout_ms) yields an unlocked guard.
  // flock locks belong to the open file, so two threads of one process also exclude
  // each other.
  class KeyLock {
   public:
    virtual ~KeyLock() = default;
    virtual bool held() const { return false; }
  };
  // `what` names the work in the message a long wait prints ("compiling qgemm ...").
  std::unique_ptr<KeyLock> lock(const std::string& key, const std::string& what = {});

  // Small named files in the cache root (`name`: letters, digits, '-', '_', '.'; no
  // leading dot), written atomically; best effort like store(). read_aux gives nullopt for a
  // missing, untrusted or oversized file.
  // With `problem`, a file that exists but cannot be read (too large, untrusted, a link, an
  // I/O error) is described there, naming the path; a missing file leaves it empty.
  std::optional<std::string> read_aux(const std::string& name, std::uint64_t max_bytes = kMaxAuxBytes,
                                      std::string* problem = nullptr) const;
  bool write_aux(const std::string& name, const std::string& data);
  // A file <key>.qjit<suffix> beside the entry (QJIT_DUMP), written atomically.
  bool write_beside(const std::string& key, const std::string& suffix, const std::string& data);

  // Maintenance works on the directory whether or not the cache is enabled.
  std::vector<EntryInfo> list() const;
  Stats stats() const;
  std::vector<VerifyResult> verify();  // every entry; bad ones are moved aside
  ClearResult clear();                 // removes every entry, temp, lock and moved-aside file
  void evict_to_budget();              // LRU by stamp until bytes <= max_bytes

 private:
  LoadResult quarantine(const std::string& key, const TrustedDir& shard, const std::string& problem, bool report);
  void evict_except(const std::string& keep_key);
  bool write_failed(const char* step, const std::filesystem::path& path, int err);
  // The root (and with `shard`, the key's shard), created when `create`. An untrusted one is
  // warned about once per path; the returned dir is then not ok().
  TrustedDir root(bool create) const;
  TrustedDir shard(const std::string& key, bool create) const;
  // Atomic publish of `data` as `name` in `dir` (temp file, fsync, rename, fsync dir).
  bool publish(const TrustedDir& dir, const std::string& name, const std::string& data);

  Options options_;
};

// Entry (de)serialization, exposed for tests and golden files.
std::string encode_entry(const Entry& entry);
// Throws qjit::Error naming the problem (short read, bad magic, version, checksum).
Entry decode_entry(const std::string& bytes);

}  // namespace qjit::cache
