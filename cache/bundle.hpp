#pragma once
// A relocatable bundle of cache entries: one file that `qjit compile --bundle` writes and
// `qjit cache import` (or QJIT_CACHE_BUNDLE) loads into another cache, so a deployment runs
// with QJIT_OFFLINE=1 and never compiles.
//
//   "QJITBNDL" | u32 format version | u64 index bytes | index (JSON) | entries | sha256
//
// The index lists each entry's key, its offset and size in the entries region, and a summary
// (family / arch); the entries are the cache's own entry encoding (entry_format.cpp), each
// with its manifest; the last 32 bytes are the sha256 of everything before them. Reading
// checks all of it before handing out one entry: the checksum, every offset and size, each
// entry's own checksum and that its key is the sha256 of its manifest. Bundles hold code
// (cubins, host objects), so one is read only when it is a regular file owned by the
// current user and not writable by group or others, as cache entries are.

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "cache/disk_cache.hpp"

namespace qjit::cache {

inline constexpr std::uint32_t kBundleFormatVersion = 1;
// A bundle is at most this large (it is read whole; a model's kernels for three archs are ~50 MB).
inline constexpr std::uint64_t kMaxBundleBytes = 1ull << 30;

struct BundleEntry {
  std::string key;      // sha256_hex(entry.manifest)
  std::string summary;  // e.g. "qgemm sm_90"
  Entry entry;
};

/// The bundle's bytes. Throws qjit::Error for an entry whose key is not its manifest's sha256,
/// or a key given twice.
std::string encode_bundle(const std::vector<BundleEntry>& entries);
/// Every entry of `bytes`, checked as the header says. Throws qjit::Error naming what is
/// wrong (`what` names the file in messages).
std::vector<BundleEntry> decode_bundle(const std::string& bytes, const std::string& what);

/// Writes a bundle atomically (a temporary file beside `path`, fsync, rename). Throws
/// qjit::Error naming the path when it cannot.
void write_bundle(const std::filesystem::path& path, const std::vector<BundleEntry>& entries);
/// Reads and checks a bundle file (trust, size, format). Throws qjit::Error naming the path.
std::vector<BundleEntry> read_bundle(const std::filesystem::path& path);

struct ImportResult {
  std::uint64_t imported = 0;  // stored now
  std::uint64_t present = 0;   // already in the cache, the same bytes
  std::uint64_t failed = 0;    // the cache could not store them (it warned)
};
/// Stores every entry of a read bundle in `disk` (atomically, as compiles do).
ImportResult import_bundle(DiskCache& disk, const std::vector<BundleEntry>& entries);

}  // namespace qjit::cache
