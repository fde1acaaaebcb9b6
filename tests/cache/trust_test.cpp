// Entries are loaded only from files and directories the current user owns and nobody else
// can write. As root chmod and chown still change what the checks see.

#include <gtest/gtest.h>
#include <unistd.h>

#include "cache/disk_cache.hpp"
#include "test_util.hpp"

namespace qjit::cache::testing {
namespace {

class TrustTest : public CacheTest {
 protected:
  void SetUp() override {
    CacheTest::SetUp();
    ASSERT_TRUE(cache_.store(key_, entry_));
    path_ = cache_.entry_path(key_);
  }

  // Loads expecting kUntrusted, one warning, and the file left in place.
  void expect_untrusted(const char* why) {
    ::testing::internal::CaptureStderr();
    LoadResult r = cache_.load(key_, entry_.manifest);
    const std::string err = ::testing::internal::GetCapturedStderr();
    EXPECT_EQ(r.status, LoadStatus::kUntrusted) << to_string(r.status);
    EXPECT_FALSE(r.entry.has_value());
    EXPECT_NE(r.detail.find(why), std::string::npos) << r.detail;
    EXPECT_EQ(count_warnings(err), 1u) << err;
    EXPECT_TRUE(std::filesystem::exists(path_)) << "an untrusted file is not ours to move";
  }

  void expect_hit() {
    LoadResult r = cache_.load(key_, entry_.manifest);
    EXPECT_EQ(r.status, LoadStatus::kHit) << r.detail;
  }

  DiskCache cache_{options()};
  Entry entry_ = make_entry("trust");
  std::string key_ = key_of(entry_);
  std::filesystem::path path_;
};

// "nobody", or another uid when the tests run as nobody.
uid_t other_uid() { return ::geteuid() == 65534 ? 65533 : 65534; }

TEST_F(TrustTest, WorldWritableEntryFile) {
  ASSERT_EQ(::chmod(path_.c_str(), 0666), 0);
  expect_untrusted("writable by group or others");
  ASSERT_EQ(::chmod(path_.c_str(), 0600), 0);
  expect_hit();
}

TEST_F(TrustTest, GroupWritableEntryFile) {
  ASSERT_EQ(::chmod(path_.c_str(), 0620), 0);
  expect_untrusted("mode 0620");
}

TEST_F(TrustTest, WorldWritableShardDirectory) {
  ASSERT_EQ(::chmod(path_.parent_path().c_str(), 0777), 0);
  expect_untrusted("writable by group or others");
  // store() does not write where load() would refuse to read.
  ::testing::internal::CaptureStderr();
  EXPECT_FALSE(cache_.store(key_, entry_));
  EXPECT_EQ(count_warnings(::testing::internal::GetCapturedStderr()), 1u);
  ASSERT_EQ(::chmod(path_.parent_path().c_str(), 0700), 0);
  expect_hit();
}

TEST_F(TrustTest, WorldWritableCacheDirectory) {
  ASSERT_EQ(::chmod(options().dir.c_str(), 0777), 0);
  expect_untrusted("writable by group or others");
  ::testing::internal::CaptureStderr();
  const Entry other = make_entry("untrusted dir");
  EXPECT_FALSE(cache_.store(key_of(other), other)) << "writing where nothing can be loaded is wasted";
  EXPECT_EQ(count_warnings(::testing::internal::GetCapturedStderr()), 1u);
}

TEST_F(TrustTest, EntryOwnedByAnotherUser) {
  if (::chown(path_.c_str(), other_uid(), other_uid()) != 0) GTEST_SKIP() << "chown needs root";
  expect_untrusted(("owned by uid " + std::to_string(other_uid())).c_str());
  EXPECT_EQ(cache_.verify().at(0).ok, false);
  EXPECT_TRUE(std::filesystem::exists(path_)) << "verify leaves untrusted files alone";
}

TEST_F(TrustTest, ShardOwnedByAnotherUser) {
  if (::chown(path_.parent_path().c_str(), other_uid(), other_uid()) != 0) GTEST_SKIP() << "chown needs root";
  expect_untrusted(("owned by uid " + std::to_string(other_uid())).c_str());
}

TEST_F(TrustTest, SymbolicLinkEntry) {
  const auto target = dir_.path() / "elsewhere.qjit";
  std::filesystem::rename(path_, target);
  std::filesystem::create_symlink(target, path_);
  expect_untrusted("symbolic link");
}

}  // namespace
}  // namespace qjit::cache::testing
