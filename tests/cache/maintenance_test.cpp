// LRU eviction by the explicit stamp, stats, list, verify, clear, and the key lock.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <thread>

#include "cache/disk_cache.hpp"
#include "test_util.hpp"

namespace qjit::cache::testing {
namespace {

constexpr std::int64_t kSecond = 1'000'000'000;

// The stamp is the entry file's mtime, set explicitly (never atime).
void set_stamp(const std::filesystem::path& path, std::int64_t seconds) {
  struct timespec times[2] = {{0, UTIME_OMIT}, {static_cast<time_t>(seconds), 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
}

TEST_F(CacheTest, EvictsTheLeastRecentlyLoadedFirst) {
  const Entry a = make_entry("a"), b = make_entry("b"), c = make_entry("c"), d = make_entry("d");
  const std::uint64_t size = encode_entry(a).size();
  Options o = options();
  o.max_bytes = size * 3 + size / 2;  // room for three
  DiskCache cache(o);
  for (const Entry* e : {&a, &b, &c}) ASSERT_TRUE(cache.store(key_of(*e), *e));
  ASSERT_EQ(cache.stats().bytes, 3 * size) << "equal sizes keep the arithmetic exact";

  // a was stored first, b and c later; then a is loaded, so b is now the least recently used.
  set_stamp(cache.entry_path(key_of(a)), 1000);
  set_stamp(cache.entry_path(key_of(b)), 2000);
  set_stamp(cache.entry_path(key_of(c)), 3000);
  ASSERT_EQ(cache.load(key_of(a), a.manifest).status, LoadStatus::kHit);
  const auto stamp_a = cache.list();
  for (const auto& info : stamp_a) {
    if (info.key == key_of(a)) {
      EXPECT_GT(info.last_used_ns, 3000 * kSecond) << "a hit refreshes the stamp";
    }
  }

  ASSERT_TRUE(cache.store(key_of(d), d));  // four entries: one must go
  EXPECT_EQ(cache.load(key_of(b), b.manifest).status, LoadStatus::kMiss);
  for (const Entry* e : {&a, &c, &d}) EXPECT_EQ(cache.load(key_of(*e), e->manifest).status, LoadStatus::kHit);
  EXPECT_EQ(cache.stats().entries, 3u);
}

TEST_F(CacheTest, EvictToBudgetWithALowerBudget) {
  std::vector<Entry> entries;
  for (const char* n : {"p", "q", "r", "s"}) entries.push_back(make_entry(n));
  {
    DiskCache cache(options());
    for (std::size_t i = 0; i < entries.size(); ++i) {
      ASSERT_TRUE(cache.store(key_of(entries[i]), entries[i]));
      set_stamp(cache.entry_path(key_of(entries[i])), 1000 + static_cast<std::int64_t>(i));
    }
  }
  Options o = options();
  o.max_bytes = encode_entry(entries[0]).size() * 2;
  DiskCache small(o);
  small.evict_to_budget();
  EXPECT_EQ(small.stats().entries, 2u);
  EXPECT_LE(small.stats().bytes, o.max_bytes);
  EXPECT_EQ(small.load(key_of(entries[0]), entries[0].manifest).status, LoadStatus::kMiss);
  EXPECT_EQ(small.load(key_of(entries[1]), entries[1].manifest).status, LoadStatus::kMiss);
  EXPECT_EQ(small.load(key_of(entries[3]), entries[3].manifest).status, LoadStatus::kHit);
}

TEST_F(CacheTest, TheEntryJustStoredIsNeverEvicted) {
  Options o = options();
  o.max_bytes = 10;  // smaller than any entry
  DiskCache cache(o);
  const Entry a = make_entry("a"), b = make_entry("b");
  ASSERT_TRUE(cache.store(key_of(a), a));
  ASSERT_TRUE(cache.store(key_of(b), b));
  EXPECT_EQ(cache.load(key_of(b), b.manifest).status, LoadStatus::kHit);
  EXPECT_EQ(cache.load(key_of(a), a.manifest).status, LoadStatus::kMiss);
}

TEST_F(CacheTest, StatsAndList) {
  Options o = options();
  o.max_bytes = 1 << 20;
  DiskCache cache(o);
  EXPECT_EQ(cache.stats().entries, 0u);  // no directory yet is an empty cache
  EXPECT_TRUE(cache.list().empty());
  const Entry a = make_entry("a", 100), b = make_entry("bb", 300);
  ASSERT_TRUE(cache.store(key_of(a), a));
  ASSERT_TRUE(cache.store(key_of(b), b));
  const Stats s = cache.stats();
  EXPECT_EQ(s.entries, 2u);
  EXPECT_EQ(s.bytes, encode_entry(a).size() + encode_entry(b).size());
  EXPECT_EQ(s.max_bytes, 1u << 20);
  EXPECT_EQ(s.quarantined, 0u);
  const auto infos = cache.list();
  ASSERT_EQ(infos.size(), 2u);
  for (const auto& info : infos) {
    EXPECT_EQ(info.path, cache.entry_path(info.key));
    EXPECT_EQ(info.bytes, std::filesystem::file_size(info.path));
    EXPECT_GT(info.last_used_ns, 0);
    EXPECT_TRUE(info.summary == "a sm_90a" || info.summary == "bb sm_90a") << info.summary;
  }
}

TEST_F(CacheTest, VerifyReportsAndMovesAsideBadEntries) {
  DiskCache cache(options());
  const Entry good = make_entry("good"), bad = make_entry("bad"), open = make_entry("open");
  for (const Entry* e : {&good, &bad, &open}) ASSERT_TRUE(cache.store(key_of(*e), *e));
  std::string bytes = read_bytes(cache.entry_path(key_of(bad)));
  bytes[bytes.size() / 2] ^= 1;
  write_bytes(cache.entry_path(key_of(bad)), bytes);
  ASSERT_EQ(::chmod(cache.entry_path(key_of(open)).c_str(), 0666), 0);

  const auto results = cache.verify();
  ASSERT_EQ(results.size(), 3u);
  for (const auto& r : results) {
    if (r.key == key_of(good)) {
      EXPECT_TRUE(r.ok) << r.problem;
      EXPECT_TRUE(r.problem.empty());
    } else if (r.key == key_of(bad)) {
      EXPECT_FALSE(r.ok);
      EXPECT_NE(r.problem.find("checksum mismatch"), std::string::npos) << r.problem;
      EXPECT_FALSE(std::filesystem::exists(r.path)) << "moved aside";
    } else {
      EXPECT_FALSE(r.ok);
      EXPECT_NE(r.problem.find("untrusted"), std::string::npos) << r.problem;
      EXPECT_TRUE(std::filesystem::exists(r.path)) << "left in place";
    }
  }
  EXPECT_EQ(cache.stats().quarantined, 1u);
  EXPECT_EQ(cache.verify().size(), 2u);
}

TEST_F(CacheTest, ClearRemovesEverything) {
  DiskCache cache(options());
  const Entry a = make_entry("a"), b = make_entry("b"), c = make_entry("c");
  for (const Entry* e : {&a, &b, &c}) ASSERT_TRUE(cache.store(key_of(*e), *e));
  { auto held = cache.lock(key_of(a)); }  // leaves a lock file
  write_bytes(cache.entry_path(key_of(c)), "junk");
  ASSERT_EQ(cache.load(key_of(c), c.manifest).status, LoadStatus::kCorrupt);

  const ClearResult cleared = cache.clear();
  EXPECT_EQ(cleared.removed, 2u);
  EXPECT_EQ(cleared.failed, 0u);
  EXPECT_TRUE(cache.list().empty());
  const Stats s = cache.stats();
  EXPECT_EQ(s.entries, 0u);
  EXPECT_EQ(s.bytes, 0u);
  EXPECT_EQ(s.quarantined, 0u);
  EXPECT_EQ(count_files(cache.entry_path(key_of(a)).parent_path()), 0u) << "lock files go too";
  EXPECT_EQ(cache.load(key_of(a), a.manifest).status, LoadStatus::kMiss);
  EXPECT_TRUE(cache.store(key_of(a), a));
}

TEST_F(CacheTest, LockExcludesAndTimesOut) {
  Options o = options();
  o.lock_timeout_ms = 100;
  DiskCache cache(o);
  const std::string key = key_of(make_entry("locked"));
  auto first = cache.lock(key);
  ASSERT_TRUE(first->held());

  // flock belongs to the open file, so another thread of this process is excluded too.
  const auto start = std::chrono::steady_clock::now();
  std::unique_ptr<DiskCache::KeyLock> second;
  std::thread([&] { second = cache.lock(key); }).join();
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_FALSE(second->held()) << "a wait past the timeout gives an unlocked guard";
  EXPECT_GE(waited, std::chrono::milliseconds(100));

  first.reset();
  EXPECT_TRUE(cache.lock(key)->held());
}

TEST_F(CacheTest, EvictionRemovesTheLockFileOfAnEvictedKey) {
  Options o = options();
  o.max_bytes = 10;
  DiskCache cache(o);
  const Entry a = make_entry("a"), b = make_entry("b");
  { auto held = cache.lock(key_of(a)); }
  ASSERT_TRUE(cache.store(key_of(a), a));
  ASSERT_TRUE(std::filesystem::exists(cache.entry_path(key_of(a)).replace_extension(".lock")));
  ASSERT_TRUE(cache.store(key_of(b), b));
  EXPECT_FALSE(std::filesystem::exists(cache.entry_path(key_of(a)).replace_extension(".lock")));
  // A lock taken again afterwards works on a fresh file.
  EXPECT_TRUE(cache.lock(key_of(a))->held());
}

}  // namespace
}  // namespace qjit::cache::testing
