// What an outside attack (issue 10) found in the cache, each case held closed: links planted
// where the cache writes or deletes, special and huge files where it reads, a umask that
// made the root group-writable, a stopped lock holder, and a clear that could not clear.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <thread>

#include "cache/disk_cache.hpp"
#include "common/error.hpp"
#include "fault_fs.hpp"
#include "test_util.hpp"

namespace qjit::cache::testing {
namespace {

namespace fs = std::filesystem;

// Runs `body` in a forked child that must exit 0 within `seconds` (a hang is a failure, not
// a stuck test run).
void expect_child_ok(const std::function<void()>& body, unsigned seconds = 20) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::alarm(seconds);
    try {
      body();
    } catch (...) {
      ::_exit(2);
    }
    std::fflush(stdout);  // the child's gtest messages, before _exit drops them
    ::_exit(::testing::Test::HasFailure() ? 1 : 0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << (WIFSIGNALED(status) ? "killed by signal " + std::to_string(WTERMSIG(status)) + " (14: timed out)"
                              : "exit " + std::to_string(WEXITSTATUS(status)));
}

class AttackTest : public CacheTest {
 protected:
  void SetUp() override {
    CacheTest::SetUp();
    ASSERT_TRUE(cache_.store(key_, entry_));
    path_ = cache_.entry_path(key_);
    fs::create_directories(outside_);
    write_bytes(outside_ / "precious", "do not touch");
  }

  bool outside_intact() const {
    return read_bytes(outside_ / "precious") == "do not touch" && count_files(outside_) == 1;
  }

  DiskCache cache_{options()};
  Entry entry_ = make_entry("attack");
  std::string key_ = key_of(entry_);
  fs::path path_;
  fs::path outside_ = dir_.path() / "outside";
};

TEST_F(AttackTest, PlantedQuarantineLinkSendsNothingElsewhere) {
  fs::create_directory_symlink(outside_, options().dir / "corrupt");
  write_bytes(path_, "junk");
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(cache_.load(key_, entry_.manifest).status, LoadStatus::kCorrupt);
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_TRUE(outside_intact()) << "the bad entry went through the planted link";
  EXPECT_FALSE(fs::exists(fs::symlink_status(path_))) << "the bad entry is removed instead";
  EXPECT_NE(err.find((options().dir / "corrupt").string() + " is a symbolic link"), std::string::npos) << err;
  // Pruning the quarantine never follows it either, nor does clear.
  for (int i = 0; i < 20; ++i) {
    const Entry e = make_entry("bad" + std::to_string(i));
    ASSERT_TRUE(cache_.store(key_of(e), e));
    write_bytes(cache_.entry_path(key_of(e)), "junk");
    cache_.load(key_of(e), e.manifest);
  }
  cache_.clear();
  EXPECT_TRUE(outside_intact());
}

TEST_F(AttackTest, ClearNeverFollowsALinkedShard) {
  // A shard directory replaced by a link to a directory holding files named like entries.
  const std::string shard = key_.substr(0, 2);
  const fs::path victim = outside_ / (key_ + ".qjit");
  write_bytes(victim, "someone else's file");
  fs::remove_all(options().dir / shard);
  fs::create_directory_symlink(outside_, options().dir / shard);
  const ClearResult r = cache_.clear();
  EXPECT_TRUE(fs::exists(victim)) << "clear deleted through a link";
  EXPECT_TRUE(fs::exists(outside_ / "precious"));
  EXPECT_EQ(r.removed, 0u);
  ASSERT_EQ(r.failed, 1u);
  EXPECT_NE(r.problems.at(0).find("symbolic link"), std::string::npos) << r.problems.at(0);
  EXPECT_EQ(cache_.load(key_, entry_.manifest).status, LoadStatus::kUntrusted);
  EXPECT_TRUE(cache_.list().empty()) << "a linked shard is not listed either";
}

TEST_F(AttackTest, ClearRemovesLinksNotTheirTargets) {
  fs::remove(path_);
  fs::create_symlink(outside_ / "precious", path_);
  fs::create_symlink(outside_ / "precious", path_.string() + ".tmp.abcdef");
  const ClearResult r = cache_.clear();
  EXPECT_EQ(r.failed, 0u);
  EXPECT_TRUE(outside_intact());
  EXPECT_FALSE(fs::exists(fs::symlink_status(path_))) << "the link itself is removed";
}

TEST_F(AttackTest, FifoEntryIsAMissNotAHang) {
  fs::remove(path_);
  ASSERT_EQ(::mkfifo(path_.c_str(), 0600), 0);
  expect_child_ok([&] {
    DiskCache cache(options());
    const LoadResult r = cache.load(key_, entry_.manifest);
    EXPECT_EQ(r.status, LoadStatus::kCorrupt) << r.detail;
    EXPECT_NE(r.detail.find("not a regular file"), std::string::npos) << r.detail;
    EXPECT_TRUE(cache.store(key_, entry_));
    EXPECT_EQ(cache.load(key_, entry_.manifest).status, LoadStatus::kHit);
    EXPECT_EQ(cache.verify().size(), 1u);
  });
}

TEST_F(AttackTest, HugeSparseEntryIsAMissBeforeAnyAllocation) {
  {
    const int fd = ::open(path_.c_str(), O_WRONLY | O_TRUNC);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, off_t(64) << 30), 0);  // 64 GiB, no blocks
    ::close(fd);
  }
  LoadResult r;
  EXPECT_NO_THROW(r = cache_.load(key_, entry_.manifest));
  EXPECT_EQ(r.status, LoadStatus::kCorrupt);
  EXPECT_NE(r.detail.find("larger than any entry"), std::string::npos) << r.detail;
  EXPECT_TRUE(cache_.store(key_, entry_));
  EXPECT_EQ(cache_.load(key_, entry_.manifest).status, LoadStatus::kHit);
}

TEST_F(CacheTest, DirectoriesArePrivateWhateverTheUmask) {
  for (mode_t mask : {mode_t(002), mode_t(000), mode_t(0277)}) {
    Options o = options();
    o.dir = dir_.path() / ("umask" + std::to_string(mask)) / "parent" / "cache";
    const Entry e = make_entry("umask");
    const mode_t old = ::umask(mask);
    const bool stored = DiskCache(o).store(key_of(e), e);
    ::umask(old);
    ASSERT_TRUE(stored) << "umask " << mask;
    for (const fs::path& d : {o.dir.parent_path(), o.dir, DiskCache(o).entry_path(key_of(e)).parent_path()}) {
      EXPECT_EQ(mode_of(d), 0700u) << d << " under umask " << std::oct << mask;
    }
    EXPECT_EQ(DiskCache(o).load(key_of(e), e.manifest).status, LoadStatus::kHit);
  }
}

// A holder stopped with SIGSTOP: the waiter says whom it waits for within a few seconds, and
// goes on without the lock at the timeout instead of waiting five minutes in silence.
TEST_F(CacheTest, StoppedLockHolderIsNamedThenBypassed) {
  Options o = options();
  o.lock_notice_ms = 300;
  o.lock_timeout_ms = 1500;
  const std::string key = key_of(make_entry("stopped"));
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t holder = ::fork();
  if (holder == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    auto held = DiskCache(o).lock(key, "compiling the held kernel");
    (void)!::write(ready[1], held->held() ? "1" : "0", 1);
    ::raise(SIGSTOP);
    ::_exit(0);
  }
  // The stopped holder is killed however this test ends (an ASSERT returns early).
  struct Reaper {
    pid_t pid;
    ~Reaper() {
      if (pid > 0) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
      }
    }
  } reaper{holder};
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ASSERT_EQ(c, '1');
  ::testing::internal::CaptureStderr();
  const auto start = std::chrono::steady_clock::now();
  auto lock = DiskCache(o).lock(key, "compiling the waited kernel");
  const auto waited = std::chrono::steady_clock::now() - start;
  const std::string err = ::testing::internal::GetCapturedStderr();
  ::kill(holder, SIGKILL);
  ::waitpid(holder, nullptr, 0);
  reaper.pid = -1;
  ::close(ready[0]);
  ::close(ready[1]);
  EXPECT_FALSE(lock->held());
  EXPECT_GE(waited, std::chrono::milliseconds(1500));
  EXPECT_LT(waited, std::chrono::seconds(10));
  EXPECT_NE(err.find("waiting for compiling the waited kernel (process " + std::to_string(holder)), std::string::npos)
      << err;
  EXPECT_NE(err.find("without the lock"), std::string::npos) << err;
  EXPECT_TRUE(DiskCache(o).lock(key)->held()) << "the dead holder's lock is free again";
}

TEST(LockDefaults, BypassWithinAMinute) {
  const Options o;
  EXPECT_LE(o.lock_timeout_ms, 60'000u);
  EXPECT_LE(o.lock_notice_ms, 2'000u);
}

// A cache whose parent someone else can write could be swapped for a link to anywhere (a
// root process with a user's HOME): StrictModes, as sshd checks a home directory. A sticky
// world-writable parent (/tmp) is fine.
TEST_F(CacheTest, AWritableAncestorMakesTheRootUntrusted) {
  const fs::path open_parent = dir_.path() / "open";
  fs::create_directories(open_parent);
  ASSERT_EQ(::chmod(open_parent.c_str(), 0777), 0);
  Options o = options();
  o.dir = open_parent / "cache";
  const Entry e = make_entry("ancestor");
  ::testing::internal::CaptureStderr();
  EXPECT_FALSE(DiskCache(o).store(key_of(e), e));
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("(an ancestor of the cache directory"), std::string::npos) << err;
  EXPECT_EQ(DiskCache(o).load(key_of(e), e.manifest).status, LoadStatus::kUntrusted);
  ASSERT_EQ(::chmod(open_parent.c_str(), 01777), 0);
  EXPECT_TRUE(DiskCache(o).store(key_of(e), e)) << "sticky, as /tmp: fine";
  EXPECT_EQ(DiskCache(o).load(key_of(e), e.manifest).status, LoadStatus::kHit);
}

// A failure of the moment (out of descriptors, an I/O error) is a miss: the entry is fine
// and stays where it is.
class ReadFails : public FileSystem {
 public:
  explicit ReadFails(int err) : err_(err) {}
  int read_file(int, const std::string&, std::uint64_t, std::string&, struct stat&) override { return err_; }

 private:
  int err_;
};

TEST_F(AttackTest, TransientReadErrorsAreMissesNotCorruption) {
  for (int err : {EMFILE, ENOMEM, EIO, EACCES}) {
    Options o = options();
    o.fs = std::make_shared<ReadFails>(err);
    EXPECT_EQ(DiskCache(o).load(key_, entry_.manifest).status, LoadStatus::kMiss) << err;
    EXPECT_TRUE(fs::exists(path_)) << "not moved aside after " << std::strerror(err);
  }
  EXPECT_EQ(cache_.load(key_, entry_.manifest).status, LoadStatus::kHit);
}

// Clear and pruning delete only what quarantine() named: other files someone put in
// corrupt/ are not the cache's to remove.
TEST_F(AttackTest, QuarantineKeepsWhatItDidNotName) {
  fs::create_directories(options().dir / "corrupt");
  write_bytes(options().dir / "corrupt" / "notes.txt", "mine");
  write_bytes(path_, "junk");
  EXPECT_EQ(cache_.load(key_, entry_.manifest).status, LoadStatus::kCorrupt);
  EXPECT_EQ(cache_.stats().quarantined, 1u);
  EXPECT_EQ(cache_.clear().failed, 0u);
  EXPECT_EQ(cache_.stats().quarantined, 0u);
  EXPECT_EQ(read_bytes(options().dir / "corrupt" / "notes.txt"), "mine");
}

class RemoveFails : public FileSystem {
 public:
  int remove(int, const std::string&) override { return EROFS; }
  int open_lock(int, const std::string&, bool, int&) override { return EROFS; }
};

TEST_F(CacheTest, ClearOfAReadOnlyCacheFailsNamingWhy) {
  {
    DiskCache cache(options());
    const Entry a = make_entry("a"), b = make_entry("b");
    ASSERT_TRUE(cache.store(key_of(a), a));
    ASSERT_TRUE(cache.store(key_of(b), b));
  }
  Options o = options();
  o.fs = std::make_shared<RemoveFails>();
  const ClearResult r = DiskCache(o).clear();
  EXPECT_EQ(r.removed, 0u);
  EXPECT_EQ(r.failed, 2u);
  ASSERT_FALSE(r.problems.empty());
  EXPECT_NE(r.problems[0].find("Read-only file system"), std::string::npos) << r.problems[0];
  EXPECT_NE(r.problems[0].find(options().dir.string()), std::string::npos) << r.problems[0];
  EXPECT_EQ(DiskCache(options()).stats().entries, 2u);
}

TEST_F(CacheTest, AuxFilesStayInsideATrustedRoot) {
  DiskCache cache(options());
  EXPECT_FALSE(cache.read_aux("memo.txt").has_value());
  ASSERT_TRUE(cache.write_aux("memo.txt", "hello"));
  EXPECT_EQ(cache.read_aux("memo.txt"), "hello");
  EXPECT_EQ(mode_of(options().dir / "memo.txt"), 0600u);
  for (const char* bad : {"../x", "a/b", ".hidden", ""}) {
    EXPECT_THROW(cache.write_aux(bad, "x"), Error) << bad;
  }
  // A linked aux file is not read through; an untrusted root takes no writes.
  const fs::path outside = dir_.path() / "secret";
  write_bytes(outside, "secret");
  fs::create_symlink(outside, options().dir / "linked.txt");
  EXPECT_FALSE(cache.read_aux("linked.txt").has_value());
  ASSERT_EQ(::chmod(options().dir.c_str(), 0777), 0);
  ::testing::internal::CaptureStderr();
  EXPECT_FALSE(cache.write_aux("other.txt", "x"));
  EXPECT_FALSE(cache.write_beside(key_of(make_entry("x")), ".cu", "x"));
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_FALSE(fs::exists(options().dir / "other.txt"));
  EXPECT_NE(err.find("untrusted directory"), std::string::npos) << err;
  EXPECT_FALSE(cache.read_aux("memo.txt").has_value());
}

TEST_F(CacheTest, WriteBesideReplacesALinkInsteadOfWritingThroughIt) {
  DiskCache cache(options());
  const Entry e = make_entry("dump");
  ASSERT_TRUE(cache.store(key_of(e), e));
  const fs::path outside = dir_.path() / "victim";
  write_bytes(outside, "victim");
  const fs::path beside = cache.entry_path(key_of(e)).string() + ".cu";
  fs::create_symlink(outside, beside);
  ASSERT_TRUE(cache.write_beside(key_of(e), ".cu", "source"));
  EXPECT_EQ(read_bytes(outside), "victim");
  EXPECT_TRUE(fs::is_regular_file(fs::symlink_status(beside)));
  EXPECT_EQ(read_bytes(beside), "source");
  EXPECT_EQ(cache.clear().failed, 0u);
  EXPECT_FALSE(fs::exists(beside)) << "clear removes dumps too";
}

}  // namespace
}  // namespace qjit::cache::testing
