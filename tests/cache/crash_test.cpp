// A process killed in the middle of a publish leaves nothing that is later read as an entry.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>

#include "cache/disk_cache.hpp"
#include "test_util.hpp"

namespace qjit::cache::testing {
namespace {

// Writes half of the entry into the temp file, then dies as `kill -9` would make it.
class KilledMidWrite : public FileSystem {
 public:
  int write_temp(int dir, const std::string& prefix, const std::string& data, std::string& tmp_name) override {
    FileSystem::write_temp(dir, prefix, data.substr(0, data.size() / 2), tmp_name);
    ::raise(SIGKILL);
    return EIO;  // not reached
  }
};

// Runs store() in a forked child with the killing file system; returns the wait status.
int store_in_killed_child(const Options& base, const Entry& e) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    Options o = base;
    o.fs = std::make_shared<KilledMidWrite>();
    try {
      DiskCache(o).store(key_of(e), e);
    } catch (...) {
    }
    ::_exit(3);  // store returned: the fault layer did not kill us
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

std::vector<std::filesystem::path> temp_files(const std::filesystem::path& shard) {
  std::vector<std::filesystem::path> out;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(shard, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().filename().string().find(".tmp.") != std::string::npos) out.push_back(it->path());
  }
  return out;
}

TEST_F(CacheTest, KillMidPublishLeavesNoValidLookingEntry) {
  const Entry e = make_entry("killed", 50000);
  const int status = store_in_killed_child(options(), e);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "status " << status;

  DiskCache cache(options());
  LoadResult r = cache.load(key_of(e), e.manifest);
  EXPECT_EQ(r.status, LoadStatus::kMiss) << r.detail;
  const auto stray = temp_files(cache.entry_path(key_of(e)).parent_path());
  ASSERT_EQ(stray.size(), 1u) << "the half-written temp file is there";
  EXPECT_TRUE(cache.list().empty()) << "and never listed as an entry";
  EXPECT_TRUE(cache.verify().empty());
  EXPECT_EQ(cache.stats().entries, 0u);

  ASSERT_TRUE(cache.store(key_of(e), e));
  EXPECT_EQ(cache.load(key_of(e), e.manifest).status, LoadStatus::kHit);

  // A temp file older than any live publish is swept by eviction.
  struct timespec old[2] = {{0, UTIME_OMIT}, {::time(nullptr) - 7200, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, stray[0].c_str(), old, 0), 0);
  cache.evict_to_budget();
  EXPECT_FALSE(std::filesystem::exists(stray[0]));
}

TEST_F(CacheTest, KillWhileReplacingKeepsTheOldEntry) {
  Entry old_entry = make_entry("replaced", 50000);
  DiskCache cache(options());
  ASSERT_TRUE(cache.store(key_of(old_entry), old_entry));
  Entry new_entry = old_entry;
  new_entry.sections["ptx"] = "a rebuild with other bytes";
  const int status = store_in_killed_child(options(), new_entry);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "status " << status;

  LoadResult r = cache.load(key_of(old_entry), old_entry.manifest);
  ASSERT_EQ(r.status, LoadStatus::kHit) << r.detail;
  EXPECT_EQ(*r.entry, old_entry);
  EXPECT_EQ(cache.list().size(), 1u);
}

}  // namespace
}  // namespace qjit::cache::testing
