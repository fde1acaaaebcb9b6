// A cache that cannot write: store() returns false, warns once per process, never throws,
// and leaves no partial file behind. Full disk and read-only directory are made for real
// with mount(2) where the test may mount (root in CI), else with the fault layer.

#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cstring>
#include <iostream>

#include "cache/disk_cache.hpp"
#include "fault_fs.hpp"
#include "test_util.hpp"

namespace qjit::cache::testing {
namespace {

// Unmounts (lazily, so an open file cannot block it) before the directory is removed.
class Mount {
 public:
  Mount(const char* source, const std::filesystem::path& target, const char* type, unsigned long flags,
        const char* data)
      : target_(target) {
    std::filesystem::create_directories(target);
    if (::mount(source, target.c_str(), type, flags, data) != 0) {
      error_ = errno;
      return;
    }
    mounted_ = true;
  }
  ~Mount() {
    if (mounted_) ::umount2(target_.c_str(), MNT_DETACH);
  }
  bool ok() const { return mounted_; }
  int error() const { return error_; }

 private:
  std::filesystem::path target_;
  bool mounted_ = false;
  int error_ = 0;
};

void note_path(const char* property, const std::string& how) {
  ::testing::Test::RecordProperty(property, how);
  std::cout << "[ " << property << " ] " << how << "\n";
}

// Stores twice and checks: false both times, exactly one warning, nothing thrown, no file
// left in the shard directory by the failed publishes.
void expect_store_fails_quietly(DiskCache& cache, const std::string& name, std::size_t payload) {
  const Entry e = make_entry(name + "1", payload), other = make_entry(name + "2", payload);
  ::testing::internal::CaptureStderr();
  bool first = true, second = true;
  EXPECT_NO_THROW(first = cache.store(key_of(e), e));
  EXPECT_NO_THROW(second = cache.store(key_of(other), other));
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_FALSE(first);
  EXPECT_FALSE(second);
  EXPECT_EQ(count_warnings(err), 1u) << err;
  EXPECT_NE(err.find("cannot write the kernel cache"), std::string::npos) << err;
  EXPECT_EQ(cache.stats().entries, 0u);
  for (const Entry* x : {&e, &other}) {
    EXPECT_EQ(count_files(cache.entry_path(key_of(*x)).parent_path()), 0u) << "no partial file left";
  }
}

TEST_F(CacheTest, FullDiskStoreReturnsFalseWithOneWarning) {
  const auto mnt = dir_.path() / "small";
  Mount tmpfs("tmpfs", mnt, "tmpfs", 0, "size=64k,mode=0700");
  Options o = options();
  if (tmpfs.ok()) {
    note_path("full_disk", "tmpfs size=64k");
    o.dir = mnt / "cache";
  } else {
    note_path("full_disk", std::string("fault layer ENOSPC (mount: ") + std::strerror(tmpfs.error()) + ")");
    o.fs = std::make_shared<FaultFs>(Step::kWriteTemp, ENOSPC);
  }
  DiskCache cache(o);
  expect_store_fails_quietly(cache, "huge", 256 << 10);
  // A small entry still fits: the cache keeps working where it can.
  const Entry small = make_entry("tiny", 100);
  if (tmpfs.ok()) {
    EXPECT_TRUE(cache.store(key_of(small), small));
  }
}

TEST_F(CacheTest, ReadOnlyDirectoryStoreFailsButLoadsStillHit) {
  // Fill a cache, then see it through a read-only bind mount (permission bits mean nothing
  // to root, so chmod cannot make a directory read-only here).
  const Entry kept = make_entry("kept");
  const auto src = dir_.path() / "src";
  {
    Options o = options();
    o.dir = src / "cache";
    ASSERT_TRUE(DiskCache(o).store(key_of(kept), kept));
  }
  const auto ro = dir_.path() / "ro";
  Mount bind(src.c_str(), ro, nullptr, MS_BIND, nullptr);
  const bool read_only =
      bind.ok() && ::mount(nullptr, ro.c_str(), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr) == 0;
  const int mount_error = bind.ok() ? errno : bind.error();
  Options o = options();
  if (read_only) {
    note_path("read_only", "read-only bind mount");
    o.dir = ro / "cache";
  } else {
    note_path("read_only", std::string("fault layer EROFS (mount: ") + std::strerror(mount_error) + ")");
    o.dir = src / "cache";
    o.fs = std::make_shared<FaultFs>(Step::kWriteTemp, EROFS);
  }
  DiskCache cache(o);
  LoadResult r = cache.load(key_of(kept), kept.manifest);
  EXPECT_EQ(r.status, LoadStatus::kHit) << r.detail << " (the stamp cannot be written; the hit stands)";

  ::testing::internal::CaptureStderr();
  const Entry a = make_entry("ro-a"), b = make_entry("ro-b");
  bool stored_a = true, stored_b = true;
  EXPECT_NO_THROW(stored_a = cache.store(key_of(a), a));
  EXPECT_NO_THROW(stored_b = cache.store(key_of(b), b));
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_FALSE(stored_a);
  EXPECT_FALSE(stored_b);
  EXPECT_EQ(count_warnings(err), 1u) << err;
  EXPECT_EQ(cache.stats().entries, 1u);
}

struct FaultCase {
  Step step;
  int err;
  const char* name;
};

class InjectedWriteFailureTest : public CacheTest, public ::testing::WithParamInterface<FaultCase> {};

TEST_P(InjectedWriteFailureTest, StoreReturnsFalseOnceWarnedNoPartialFile) {
  Options o = options();
  o.fs = std::make_shared<FaultFs>(GetParam().step, GetParam().err);
  DiskCache cache(o);
  expect_store_fails_quietly(cache, "f", 1000);
}

INSTANTIATE_TEST_SUITE_P(Cache, InjectedWriteFailureTest,
                         ::testing::Values(FaultCase{Step::kWriteTemp, ENOSPC, "WriteEnospc"},
                                           FaultCase{Step::kWriteTemp, EROFS, "WriteErofs"},
                                           FaultCase{Step::kWriteTemp, EDQUOT, "WriteEdquot"},
                                           FaultCase{Step::kCreateDirs, EACCES, "MkdirEacces"},
                                           FaultCase{Step::kCreateDirs, EROFS, "MkdirErofs"},
                                           FaultCase{Step::kRename, EACCES, "RenameEacces"}),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace qjit::cache::testing
