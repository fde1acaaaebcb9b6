#include "cache/file_system.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

namespace qjit::cache {

namespace fs = std::filesystem;

namespace {

// Closes on every path out, keeping the first error.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int close() {
    int rc = ::close(fd_);
    fd_ = -1;
    return rc == 0 ? 0 : errno;
  }

 private:
  int fd_;
};

int write_all(int fd, const std::string& data) {
  const char* p = data.data();
  std::size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  return 0;
}

}  // namespace

int FileSystem::create_dirs(const fs::path& dir) {
  // NOTE: not std::filesystem::create_directories, which makes 0777 & ~umask; the cache
  // makes every directory it creates private (0700), and leaves existing ones alone.
  fs::path prefix;
  for (const auto& part : dir) {
    prefix /= part;
    if (prefix == prefix.root_path()) continue;
    if (::mkdir(prefix.c_str(), 0700) == 0 || errno == EEXIST) continue;
    return errno;
  }
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return errno;
  return S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
}

int FileSystem::read_file(const fs::path& path, std::string& out) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() < 0) return errno;
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return errno;
  if (!S_ISREG(st.st_mode)) return EINVAL;
  out.clear();
  out.reserve(static_cast<std::size_t>(st.st_size));
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return 0;
}

int FileSystem::write_temp(const fs::path& like, const std::string& data, fs::path& tmp_path) {
  std::string name = like.string() + ".tmp.XXXXXX";
  int raw = ::mkostemp(name.data(), O_CLOEXEC);  // mode 0600
  if (raw < 0) return errno;
  tmp_path = name;
  Fd fd(raw);
  if (int err = write_all(fd.get(), data)) return err;
  if (::fsync(fd.get()) != 0) return errno;
  return fd.close();
}

int FileSystem::rename(const fs::path& from, const fs::path& to) {
  return ::rename(from.c_str(), to.c_str()) == 0 ? 0 : errno;
}

int FileSystem::fsync_dir(const fs::path& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return errno;
  // Some file systems cannot sync a directory (EINVAL); the rename is then as durable as
  // they make it, which is all we can ask.
  if (::fsync(fd.get()) != 0 && errno != EINVAL) return errno;
  return fd.close();
}

int FileSystem::remove(const fs::path& path) { return ::unlink(path.c_str()) == 0 ? 0 : errno; }

int FileSystem::set_mtime(const fs::path& path, std::int64_t ns_since_epoch) {
  struct timespec times[2];
  times[0].tv_sec = 0;
  times[0].tv_nsec = UTIME_OMIT;  // atime is never consulted
  times[1].tv_sec = static_cast<time_t>(ns_since_epoch / 1'000'000'000);
  times[1].tv_nsec = static_cast<long>(ns_since_epoch % 1'000'000'000);
  return ::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW) == 0 ? 0 : errno;
}

std::shared_ptr<FileSystem> real_file_system() {
  static const auto instance = std::make_shared<FileSystem>();
  return instance;
}

}  // namespace qjit::cache
