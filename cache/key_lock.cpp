// DiskCache::lock: a per-key flock on <shard>/<key>.lock. Advisory only: it saves duplicate
// compiles across processes; every failure yields an unlocked guard and the caller goes on.

#include "cache/key_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "cache/disk_cache.hpp"
#include "cache/layout.hpp"
#include "common/log.hpp"

namespace qjit::cache {

namespace fs = std::filesystem;

namespace {

class FlockKeyLock final : public DiskCache::KeyLock {
 public:
  explicit FlockKeyLock(int fd) : fd_(fd) {}
  ~FlockKeyLock() override {
    ::flock(fd_, LOCK_UN);
    ::close(fd_);
  }
  bool held() const override { return true; }

 private:
  int fd_;
};

// True when `fd` is still the file at `path` (not unlinked or replaced by eviction).
bool still_linked(int fd, const fs::path& path) {
  struct stat a {}, b {};
  return ::fstat(fd, &a) == 0 && ::lstat(path.c_str(), &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

}  // namespace

std::unique_ptr<DiskCache::KeyLock> DiskCache::lock(const std::string& key) {
  entry_path(key);  // validates the key before it becomes a file name
  const fs::path path = layout::lock_path(options_.dir, key);
  if (!options_.enabled) return std::make_unique<KeyLock>();
  if (options_.fs->create_dirs(path.parent_path()) != 0) return std::make_unique<KeyLock>();

  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::milliseconds(options_.lock_timeout_ms);
  // Polling rather than a blocking flock, so a hung holder cannot hang us past the
  // deadline; a waiter notices a release within kMaxBackoff.
  constexpr auto kMaxBackoff = std::chrono::milliseconds(10);
  auto backoff = std::chrono::microseconds(200);
  for (;;) {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
      log(LogLevel::kDebug, "cache: cannot open lock {}: {}", path.string(), std::strerror(errno));
      return std::make_unique<KeyLock>();
    }
    for (;;) {
      if (::flock(fd, LOCK_EX | LOCK_NB) == 0) break;
      if (errno != EWOULDBLOCK && errno != EINTR) {
        ::close(fd);
        return std::make_unique<KeyLock>();
      }
      if (Clock::now() >= deadline) {
        ::close(fd);
        log(LogLevel::kInfo, "cache: gave up waiting for {} after {} ms; compiling anyway", path.string(),
            options_.lock_timeout_ms);
        return std::make_unique<KeyLock>();
      }
      std::this_thread::sleep_for(backoff);
      backoff = std::min<std::chrono::microseconds>(backoff * 2, kMaxBackoff);
    }
    if (still_linked(fd, path)) return std::make_unique<FlockKeyLock>(fd);
    ::close(fd);  // eviction removed the file we locked: lock the one at the path now
  }
}

void remove_lock_if_free(const fs::path& lock_file) {
  int fd = ::open(lock_file.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return;
  // NOTE: unlink while holding the lock, so a waiter that then gets it sees that its file
  // is no longer linked and retries on a fresh one.
  if (::flock(fd, LOCK_EX | LOCK_NB) == 0 && still_linked(fd, lock_file)) ::unlink(lock_file.c_str());
  ::close(fd);
}

}  // namespace qjit::cache
