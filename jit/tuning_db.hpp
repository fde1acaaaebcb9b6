#pragma once
// The tuning database: the autotuner's winners, one record per (family, typed description,
// device, arch, toolchain), stored with the kernel cache as one versioned JSON file
// (`tuning.json` in the cache root; written atomically, read under the cache's trust checks).
//
// A record is keyed by what it was measured for, never by the candidate list, so tuning one
// problem (or tuning it again with another list) leaves every other record as it was. Writers
// merge: under the cache's cross-process lock they re-read the file, put their records in,
// and publish the whole, so two processes tuning at once both keep their results. A file that
// is not a database of this version (corrupt, truncated, another format) is ignored with one
// warning per process and replaced by the next write; one of a newer version is never
// replaced. Lookups are in memory after the first.

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cache/disk_cache.hpp"

namespace qjit::jit {

// NOTE: bump when a record's meaning changes; files of another version are not read.
inline constexpr int kTuningDbVersion = 1;
inline constexpr const char* kTuningDbFile = "tuning.json";
// The file is at most this large (about 10,000 records); the oldest records make room.
inline constexpr std::uint64_t kTuningDbMaxBytes = 4ull << 20;

/// What a record was tuned for. `desc` is the family's typed description as JSON (with the
/// M bucket where the config depends on M); `device` names the device (GPU name, or the CPU
/// model and thread count); `arch` the target ("sm_90", "host:znver4"); `toolchain` the
/// compiler identity (NVRTC's version and build, or Clang's).
struct TuningKey {
  std::string family;
  nlohmann::json desc;
  std::string device;
  std::string arch;
  std::string toolchain;
  std::string str() const;  // canonical JSON: the record's key in the file
};

struct TuningRecord {
  TuningKey key;
  nlohmann::json config;      // the family's config as JSON
  std::string config_label;   // "6x64 288x256 kc2048"
  std::string method;         // "measured" (timed on the device) | "model" (sim cost model)
  double median_us = 0, p20_us = 0, p80_us = 0;
  double heuristic_us = 0;    // the heuristic's config, same method; 0 when not measured
  std::string heuristic_label;
  int candidates = 0;         // configs compared
  std::int64_t tuned_at = 0;  // seconds since the epoch

  nlohmann::json to_json() const;
  // Throws qjit::Error naming the missing or mistyped field.
  static TuningRecord from_json(const nlohmann::json& j);
};

class TuningDb {
 public:
  explicit TuningDb(cache::DiskCache& disk) : disk_(disk) {}
  /// The process's database, in Jit::global()'s cache directory.
  static TuningDb& global();

  /// The record for `key`, or nothing. Reads the file on first use.
  std::optional<TuningRecord> find(const TuningKey& key);
  /// Every record, in key order.
  std::vector<TuningRecord> all();
  /// Merges `records` into the file (replacing records of the same keys) under the cache
  /// lock, then into memory. False (after one warning) when the file could not be written
  /// (disabled or unwritable cache, a newer version there); memory is updated either way.
  bool put(const std::vector<TuningRecord>& records);
  /// Forgets what was read, so the next lookup reads the file again.
  void reload();
  /// Changes whenever the records in memory may have (put, reload): memos compare it.
  std::uint64_t generation() const { return generation_.load(); }

  /// Parses a database file: nullopt, with `why`, when it is not one of this version; else its
  /// records, with `why` set when some were skipped (each bad record alone).
  static std::optional<std::map<std::string, TuningRecord>> parse(const std::string& text, std::string* why,
                                                                 bool* newer_version = nullptr);
  static std::string serialize(const std::map<std::string, TuningRecord>& records);

 private:
  // The file's records (a bad one skipped), or none; one warning per process for a file that
  // is not all readable. Sets keep_file_.
  std::map<std::string, TuningRecord> read_file();
  void ensure_loaded();  // with mu_ held

  cache::DiskCache& disk_;
  std::mutex mu_;
  bool loaded_ = false;
  bool keep_file_ = false;  // the file may not be replaced (unreadable, or a newer version)
  std::map<std::string, TuningRecord> records_;
  std::atomic<std::uint64_t> generation_{0};
};

}  // namespace qjit::jit
