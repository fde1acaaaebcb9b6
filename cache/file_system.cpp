#include "cache/file_system.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "cache/unique_fd.hpp"

namespace qjit::cache {

namespace {

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

std::string random_suffix() {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  unsigned char raw[6];
  if (::getrandom(raw, sizeof raw, 0) != static_cast<ssize_t>(sizeof raw)) {
    // NOTE: only uniqueness matters (O_EXCL refuses a name that exists), not secrecy.
    const auto v = static_cast<unsigned long long>(::getpid()) * 2654435761ull ^ static_cast<unsigned long long>(
                                                                                    ::clock());
    for (std::size_t i = 0; i < sizeof raw; ++i) raw[i] = static_cast<unsigned char>(v >> (8 * i));
  }
  std::string out;
  for (unsigned char c : raw) out.push_back(kAlphabet[c % (sizeof kAlphabet - 1)]);
  return out;
}

}  // namespace

int FileSystem::open_dir(int dir, const std::string& name, int& fd) {
  fd = ::openat(dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  return fd >= 0 ? 0 : errno;
}

int FileSystem::make_dir(int dir, const std::string& name) {
  if (::mkdirat(dir, name.c_str(), 0700) != 0) return errno;
  // NOTE: the umask may have taken bits off 0700 (or left none); set the mode explicitly,
  // through the directory just made, never through a name someone could swap.
  int fd = -1;
  if (int err = open_dir(dir, name, fd)) return err;
  UniqueFd owned(fd);
  return ::fchmod(fd, 0700) == 0 ? 0 : errno;
}

int FileSystem::read_file(int dir, const std::string& name, std::uint64_t max_bytes, std::string& out,
                          struct stat& st) {
  // O_NONBLOCK: opening a FIFO with no writer would otherwise wait forever.
  UniqueFd fd(::openat(dir, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (fd.get() < 0) return errno;
  if (::fstat(fd.get(), &st) != 0) return errno;
  if (!S_ISREG(st.st_mode)) return EINVAL;
  if (static_cast<std::uint64_t>(st.st_size) > max_bytes) return EFBIG;
  out.assign(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t got = 0;
  while (got < out.size()) {
    ssize_t n = ::read(fd.get(), out.data() + got, out.size() - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) break;  // shrank while we read: a short entry, which decoding names
    got += static_cast<std::size_t>(n);
  }
  out.resize(got);
  return 0;
}

int FileSystem::write_temp(int dir, const std::string& prefix, const std::string& data, std::string& tmp_name) {
  int raw = -1;
  for (int attempt = 0; attempt < 64 && raw < 0; ++attempt) {
    const std::string name = prefix + random_suffix();
    raw = ::openat(dir, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (raw >= 0) tmp_name = name;
    else if (errno != EEXIST) return errno;
  }
  if (raw < 0) return EEXIST;
  UniqueFd fd(raw);
  if (int err = write_all(fd.get(), data)) return err;
  if (::fsync(fd.get()) != 0) return errno;
  return fd.close();
}

int FileSystem::rename(int from_dir, const std::string& from, int to_dir, const std::string& to) {
  return ::renameat(from_dir, from.c_str(), to_dir, to.c_str()) == 0 ? 0 : errno;
}

int FileSystem::fsync_dir(int dir) {
  // Some file systems cannot sync a directory (EINVAL); the rename is then as durable as
  // they make it, which is all we can ask.
  if (::fsync(dir) != 0 && errno != EINVAL) return errno;
  return 0;
}

int FileSystem::remove(int dir, const std::string& name) {
  return ::unlinkat(dir, name.c_str(), 0) == 0 ? 0 : errno;
}

int FileSystem::set_mtime(int dir, const std::string& name, std::int64_t ns_since_epoch) {
  struct timespec times[2];
  times[0].tv_sec = 0;
  times[0].tv_nsec = UTIME_OMIT;  // atime is never consulted
  times[1].tv_sec = static_cast<time_t>(ns_since_epoch / 1'000'000'000);
  times[1].tv_nsec = static_cast<long>(ns_since_epoch % 1'000'000'000);
  return ::utimensat(dir, name.c_str(), times, AT_SYMLINK_NOFOLLOW) == 0 ? 0 : errno;
}

int FileSystem::open_lock(int dir, const std::string& name, bool create, int& fd) {
  fd = ::openat(dir, name.c_str(), O_RDWR | (create ? O_CREAT : 0) | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
  if (fd < 0) return errno;
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fd = -1;
    return EINVAL;
  }
  return 0;
}

std::shared_ptr<FileSystem> real_file_system() {
  static const auto instance = std::make_shared<FileSystem>();
  return instance;
}

}  // namespace qjit::cache
