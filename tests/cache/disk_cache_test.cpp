// load/store: miss, store, hit, restart, every kind of bad entry, disabled, bad keys, knobs.

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>

#include "cache/disk_cache.hpp"
#include "common/error.hpp"
#include "common/sha256.hpp"
#include "test_util.hpp"

namespace qjit::cache::testing {
namespace {

TEST_F(CacheTest, MissStoreHitAndHitAfterRestart) {
  const Entry e = make_entry("gemm");
  const std::string key = key_of(e);
  {
    DiskCache cache(options());
    EXPECT_EQ(cache.load(key, e.manifest).status, LoadStatus::kMiss);
    ASSERT_TRUE(cache.store(key, e));
    LoadResult r = cache.load(key, e.manifest);
    ASSERT_EQ(r.status, LoadStatus::kHit) << r.detail;
    EXPECT_EQ(*r.entry, e);
  }
  DiskCache restarted(options());  // a fresh object, as a new process would make
  LoadResult r = restarted.load(key, e.manifest);
  ASSERT_EQ(r.status, LoadStatus::kHit) << r.detail;
  EXPECT_EQ(*r.entry, e);
  EXPECT_EQ(restarted.entry_path(key), options().dir / key.substr(0, 2) / (key + ".qjit"));
}

TEST_F(CacheTest, CreatesPrivateDirectoriesAndFiles) {
  DiskCache cache(options());
  const Entry e = make_entry("modes");
  ASSERT_TRUE(cache.store(key_of(e), e));
  const auto path = cache.entry_path(key_of(e));
  EXPECT_EQ(mode_of(options().dir), 0700u);
  EXPECT_EQ(mode_of(path.parent_path()), 0700u);
  EXPECT_EQ(mode_of(path), 0600u);
  EXPECT_EQ(count_files(path.parent_path()), 1u) << "no temp file left behind";
}

TEST_F(CacheTest, StoreReplacesAnExistingEntry) {
  DiskCache cache(options());
  Entry e = make_entry("replace");
  ASSERT_TRUE(cache.store(key_of(e), e));
  e.sections["ptx"] = "rebuilt";
  ASSERT_TRUE(cache.store(key_of(e), e));
  EXPECT_EQ(cache.load(key_of(e), e.manifest).entry->sections.at("ptx"), "rebuilt");
}

TEST_F(CacheTest, DisabledNeverReadsOrWrites) {
  Options o = options();
  o.enabled = false;
  DiskCache cache(o);
  const Entry e = make_entry("off");
  ::testing::internal::CaptureStderr();
  EXPECT_FALSE(cache.store(key_of(e), e));
  EXPECT_EQ(cache.load(key_of(e), e.manifest).status, LoadStatus::kDisabled);
  EXPECT_FALSE(cache.lock(key_of(e))->held());
  EXPECT_EQ(count_warnings(::testing::internal::GetCapturedStderr()), 0u);
  EXPECT_FALSE(std::filesystem::exists(o.dir));
}

TEST_F(CacheTest, KeysMustBeTheManifestHash) {
  DiskCache cache(options());
  const Entry e = make_entry("k");
  EXPECT_THROW(cache.store(sha256_hex("something else"), e), Error);
  EXPECT_THROW(cache.load(sha256_hex("something else"), e.manifest), Error);
  EXPECT_THROW(cache.entry_path("../../etc/passwd"), Error);
  EXPECT_THROW(cache.entry_path(std::string(64, 'A')), Error);  // upper case is not sha256_hex
}

TEST_F(CacheTest, OptionsFromEnv) {
  ::setenv("QJIT_CACHE_DIR", dir_.path().c_str(), 1);
  ::setenv("QJIT_CACHE_DISABLE", "1", 1);
  ::setenv("QJIT_CACHE_MAX_BYTES", "12345", 1);
  Options o = Options::from_env();
  EXPECT_EQ(o.dir, dir_.path());
  EXPECT_FALSE(o.enabled);
  EXPECT_EQ(o.max_bytes, 12345u);

  ::setenv("QJIT_CACHE_MAX_BYTES", "lots", 1);
  ::testing::internal::CaptureStderr();
  o = Options::from_env();  // a bad knob is a warning, not a failure
  EXPECT_EQ(count_warnings(::testing::internal::GetCapturedStderr()), 1u);
  EXPECT_EQ(o.max_bytes, 2ull << 30);
  ::unsetenv("QJIT_CACHE_DIR");
  ::unsetenv("QJIT_CACHE_DISABLE");
  ::unsetenv("QJIT_CACHE_MAX_BYTES");
  EXPECT_TRUE(Options::from_env().enabled);
}

// Each way an entry file goes bad on disk.
enum class Damage { kTruncated, kBitFlip, kZeroLength, kWrongVersion, kBadMagic, kOtherManifest };

struct DamageCase {
  Damage damage;
  const char* name;
  const char* detail;  // expected in LoadResult::detail
};

class DamagedEntryTest : public CacheTest, public ::testing::WithParamInterface<DamageCase> {};

void damage(const std::filesystem::path& path, Damage kind) {
  std::string bytes = read_bytes(path);
  switch (kind) {
    case Damage::kTruncated: bytes.resize(bytes.size() / 2); break;
    case Damage::kBitFlip: bytes[bytes.size() / 2] ^= 0x04; break;
    case Damage::kZeroLength: bytes.clear(); break;
    case Damage::kWrongVersion: {
      bytes[8] = static_cast<char>(kEntryFormatVersion + 1);
      const std::size_t body = bytes.size() - 64;
      bytes.replace(body, 64, sha256_hex(std::string_view(bytes).substr(0, body)));
      break;
    }
    case Damage::kBadMagic: bytes[1] = 'Z'; break;
    case Damage::kOtherManifest: bytes = encode_entry(make_entry("an impostor")); break;
  }
  write_bytes(path, bytes);
}

TEST_P(DamagedEntryTest, IsCorruptMovedAsideReportedOnceThenRebuilt) {
  DiskCache cache(options());
  const Entry e = make_entry("damaged");
  const std::string key = key_of(e);
  ASSERT_TRUE(cache.store(key, e));
  const auto path = cache.entry_path(key);
  damage(path, GetParam().damage);

  ::testing::internal::CaptureStderr();
  LoadResult r = cache.load(key, e.manifest);
  EXPECT_EQ(r.status, LoadStatus::kCorrupt);
  EXPECT_FALSE(r.entry.has_value());
  EXPECT_NE(r.detail.find(GetParam().detail), std::string::npos) << r.detail;
  EXPECT_FALSE(std::filesystem::exists(path)) << "the bad entry is moved aside";
  EXPECT_EQ(count_files(cache.quarantine_dir()), 1u);
  EXPECT_EQ(cache.stats().quarantined, 1u);
  EXPECT_EQ(cache.load(key, e.manifest).status, LoadStatus::kMiss);

  // The same key going bad again in this process is not reported a second time.
  ASSERT_TRUE(cache.store(key, e));
  damage(path, GetParam().damage);
  EXPECT_EQ(cache.load(key, e.manifest).status, LoadStatus::kCorrupt);
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(count_warnings(err), 1u) << err;
  EXPECT_NE(err.find("corrupt entry"), std::string::npos) << err;

  ASSERT_TRUE(cache.store(key, e));  // the caller rebuilds
  r = cache.load(key, e.manifest);
  ASSERT_EQ(r.status, LoadStatus::kHit) << r.detail;
  EXPECT_EQ(*r.entry, e);
}

INSTANTIATE_TEST_SUITE_P(Cache, DamagedEntryTest,
                         ::testing::Values(DamageCase{Damage::kTruncated, "Truncated", "short read"},
                                           DamageCase{Damage::kBitFlip, "BitFlip", "checksum mismatch"},
                                           DamageCase{Damage::kZeroLength, "ZeroLength", "empty entry"},
                                           DamageCase{Damage::kWrongVersion, "WrongVersion", "wrong version"},
                                           DamageCase{Damage::kBadMagic, "BadMagic", "bad magic"},
                                           DamageCase{Damage::kOtherManifest, "OtherManifest", "manifest"}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST_F(CacheTest, QuarantineIsBounded) {
  DiskCache cache(options());
  const Entry e = make_entry("again");
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE(cache.store(key_of(e), e));
    write_bytes(cache.entry_path(key_of(e)), "junk");
    ASSERT_EQ(cache.load(key_of(e), e.manifest).status, LoadStatus::kCorrupt);
  }
  EXPECT_LE(cache.stats().quarantined, 16u);
}

}  // namespace
}  // namespace qjit::cache::testing
