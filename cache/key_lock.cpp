// DiskCache::lock: a per-key flock on <shard>/<key>.lock. Advisory only: it saves duplicate
// compiles across processes; every failure yields an unlocked guard and the caller goes on.
// The holder writes its pid into the file, so a waiter can say whom it waits for.

#include "cache/key_lock.hpp"

#include <sys/file.h>
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

namespace {

class FlockKeyLock final : public DiskCache::KeyLock {
 public:
  explicit FlockKeyLock(UniqueFd fd) : fd_(std::move(fd)) {}
  ~FlockKeyLock() override { ::flock(fd_.get(), LOCK_UN); }
  bool held() const override { return true; }

 private:
  UniqueFd fd_;
};

// True when `fd` is still the file named `name` in `dir` (not unlinked or replaced).
bool still_linked(int fd, const TrustedDir& dir, const std::string& name) {
  struct stat a {};
  const auto b = dir.stat(name);
  return ::fstat(fd, &a) == 0 && b && a.st_dev == b->st_dev && a.st_ino == b->st_ino;
}

// The pid the holder wrote, or "another process" when there is none to read.
std::string holder_of(int fd) {
  char buf[32] = {};
  const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  std::string pid(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
  pid.erase(std::find_if(pid.begin(), pid.end(), [](char c) { return c < '0' || c > '9'; }), pid.end());
  return pid.empty() ? "another process" : "process " + pid;
}

void write_pid(int fd) {
  const std::string pid = std::to_string(::getpid());
  if (::ftruncate(fd, 0) == 0) (void)!::pwrite(fd, pid.data(), pid.size(), 0);
}

}  // namespace

std::unique_ptr<DiskCache::KeyLock> DiskCache::lock(const std::string& key, const std::string& what) {
  entry_path(key);  // validates the key before it becomes a file name
  if (!options_.enabled) return std::make_unique<KeyLock>();
  const TrustedDir dir = shard(key, /*create=*/true);
  if (!dir.ok()) return std::make_unique<KeyLock>();
  const std::string name = layout::lock_name(key);
  const std::string doing = what.empty() ? key.substr(0, 16) : what;

  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const auto notice = start + std::chrono::milliseconds(options_.lock_notice_ms);
  const auto deadline = start + std::chrono::milliseconds(options_.lock_timeout_ms);
  bool noticed = false;
  // Polling rather than a blocking flock, so a hung or stopped holder cannot hold us past
  // the deadline; a waiter notices a release within kMaxBackoff.
  constexpr auto kMaxBackoff = std::chrono::milliseconds(10);
  auto backoff = std::chrono::microseconds(200);
  for (;;) {
    UniqueFd fd;
    if (int err = dir.open_lock(name, /*create=*/true, fd)) {
      log(LogLevel::kDebug, "cache: cannot open lock {}: {}", dir.path_of(name).string(), std::strerror(err));
      return std::make_unique<KeyLock>();
    }
    for (;;) {
      if (::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) break;
      if (errno != EWOULDBLOCK && errno != EINTR) return std::make_unique<KeyLock>();
      const auto now = Clock::now();
      if (now >= deadline) {
        log(LogLevel::kWarn, "cache: {} still holds {} after {} ms; {} without the lock", holder_of(fd.get()),
            dir.path_of(name).string(), options_.lock_timeout_ms, what.empty() ? "going on" : doing);
        return std::make_unique<KeyLock>();
      }
      if (!noticed && now >= notice) {
        noticed = true;
        log(LogLevel::kWarn, "cache: waiting for {} ({} holds {}); giving up after {} ms", doing,
            holder_of(fd.get()), dir.path_of(name).string(), options_.lock_timeout_ms);
      }
      std::this_thread::sleep_for(backoff);
      backoff = std::min<std::chrono::microseconds>(backoff * 2, kMaxBackoff);
    }
    if (still_linked(fd.get(), dir, name)) {
      write_pid(fd.get());
      return std::make_unique<FlockKeyLock>(std::move(fd));
    }
    // Eviction removed the file we locked: lock the one at the name now.
  }
}

int remove_lock_if_free(const TrustedDir& dir, const std::string& name) {
  UniqueFd fd;
  if (int err = dir.open_lock(name, /*create=*/false, fd)) return err == ENOENT ? 0 : err;
  // NOTE: unlink while holding the lock, so a waiter that then gets it sees that its file
  // is no longer linked and retries on a fresh one.
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) return EBUSY;
  if (!still_linked(fd.get(), dir, name)) return 0;
  const int err = dir.remove(name);
  return err == ENOENT ? 0 : err;
}

}  // namespace qjit::cache
