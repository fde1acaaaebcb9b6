#include "cache/trusted_dir.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace qjit::cache {

namespace fs = std::filesystem;

namespace {

// Makes the missing directories of `dir` (mode 0700), following links on the way: only the
// cache root and what is below it must be ours, not the parents it sits in.
int make_parents(const fs::path& dir, FileSystem& fsys) {
  UniqueFd cur(::open(dir.is_absolute() ? "/" : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (cur.get() < 0) return errno;
  for (const auto& part : dir.relative_path()) {
    const std::string name = part.string();
    if (name.empty() || name == ".") continue;
    int next = ::openat(cur.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (next < 0 && errno == ENOENT) {
      if (int err = fsys.make_dir(cur.get(), name); err != 0 && err != EEXIST) return err;
      next = ::openat(cur.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    }
    if (next < 0) return errno;
    cur = UniqueFd(next);
  }
  return 0;
}

// Why an ancestor of the cache root could let someone else swap the root (StrictModes, as
// sshd checks a home directory): each must be owned by the user or by root, and writable by
// nobody else unless sticky (as /tmp is: others cannot rename what is ours in it).
std::string ancestor_problem(int root_fd) {
  char buf[4096];
  const std::string link = "/proc/self/fd/" + std::to_string(root_fd);
  const ssize_t n = ::readlink(link.c_str(), buf, sizeof buf - 1);
  if (n <= 0) return {};  // no /proc: nothing to walk, the root's own check stands
  const fs::path real(std::string(buf, static_cast<std::size_t>(n)));
  fs::path at = "/";
  for (auto it = real.begin(); it != real.end(); ++it) {
    if (it != real.begin()) at /= *it;
    if (at == real) break;  // the root itself is checked on its descriptor
    struct stat st {};
    if (::lstat(at.c_str(), &st) != 0) continue;
    if (st.st_uid != ::geteuid() && st.st_uid != 0) {
      return fmt::format("{} (an ancestor of the cache directory {}) is owned by uid {}, not by the current user "
                         "(uid {}) or root",
                         at.string(), real.string(), st.st_uid, ::geteuid());
    }
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX)) {
      return fmt::format("{} (an ancestor of the cache directory {}) is writable by group or others (mode {:04o})",
                         at.string(), real.string(), st.st_mode & 07777);
    }
  }
  return {};
}

}  // namespace

std::string trust_problem(const struct stat& st, const fs::path& path) {
  if (S_ISLNK(st.st_mode)) return fmt::format("{} is a symbolic link", path.string());
  if (st.st_uid != ::geteuid()) {
    return fmt::format("{} is owned by uid {}, not by the current user (uid {})", path.string(), st.st_uid,
                       ::geteuid());
  }
  if (st.st_mode & (S_IWGRP | S_IWOTH)) {
    return fmt::format("{} is writable by group or others (mode {:04o}; chmod go-w it to use it)", path.string(),
                       st.st_mode & 07777);
  }
  return {};
}

TrustedDir& TrustedDir::fail(Status status, int error, std::string problem) {
  status_ = status;
  error_ = error;
  problem_ = std::move(problem);
  fd_.reset();
  return *this;
}

TrustedDir& TrustedDir::check_opened(int raw) {
  fd_ = std::make_shared<UniqueFd>(raw);
  struct stat st {};
  if (::fstat(raw, &st) != 0) return fail(Status::kFailed, errno, fmt::format("cannot stat {}", path_.string()));
  if (!S_ISDIR(st.st_mode)) return fail(Status::kUntrusted, ENOTDIR, fmt::format("{} is not a directory", path_.string()));
  if (auto why = trust_problem(st, path_); !why.empty()) return fail(Status::kUntrusted, EPERM, std::move(why));
  status_ = Status::kOk;
  return *this;
}

TrustedDir TrustedDir::open_root(const fs::path& dir, bool create, std::shared_ptr<FileSystem> fs) {
  TrustedDir d(dir, fs ? std::move(fs) : real_file_system());
  int raw = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (raw < 0 && errno == ENOENT && create) {
    if (int err = make_parents(dir, *d.fs_)) {
      return d.fail(Status::kFailed, err, fmt::format("cannot create {}: {}", dir.string(), std::strerror(err)));
    }
    raw = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  }
  if (raw < 0) {
    const int err = errno;
    if (err == ENOENT) return d.fail(Status::kMissing, err, fmt::format("{} does not exist", dir.string()));
    if (err == ENOTDIR) return d.fail(Status::kUntrusted, err, fmt::format("{} is not a directory", dir.string()));
    return d.fail(Status::kFailed, err, fmt::format("cannot open {}: {}", dir.string(), std::strerror(err)));
  }
  d.check_opened(raw);
  if (d.ok()) {
    if (auto why = ancestor_problem(d.fd()); !why.empty()) return d.fail(Status::kUntrusted, EPERM, std::move(why));
  }
  return d;
}

TrustedDir TrustedDir::child(const std::string& name, bool create) const {
  TrustedDir c(path_ / name, fs_);
  if (!ok()) return c.fail(status_, error_, problem_);
  int raw = -1;
  int err = fs_->open_dir(fd(), name, raw);
  if (err == ENOENT && create) {
    if (int made = fs_->make_dir(fd(), name); made != 0 && made != EEXIST) {
      return c.fail(Status::kFailed, made,
                    fmt::format("cannot create {}: {}", c.path_.string(), std::strerror(made)));
    }
    err = fs_->open_dir(fd(), name, raw);
  }
  if (err == ENOENT) return c.fail(Status::kMissing, err, fmt::format("{} does not exist", c.path_.string()));
  if (err == ELOOP || err == ENOTDIR) {
    const auto st = stat(name);
    const bool link = st && S_ISLNK(st->st_mode);
    return c.fail(Status::kUntrusted, err,
                  fmt::format("{} is {}", c.path_.string(), link ? "a symbolic link" : "not a directory"));
  }
  if (err) return c.fail(Status::kFailed, err, fmt::format("cannot open {}: {}", c.path_.string(), std::strerror(err)));
  return c.check_opened(raw);
}

int TrustedDir::read(const std::string& name, std::uint64_t max_bytes, std::string& out, std::string* untrusted) const {
  if (!ok()) return error_ ? error_ : EBADF;
  struct stat st {};
  const int err = fs_->read_file(fd(), name, max_bytes, out, st);
  if (err == ELOOP) {
    if (untrusted) *untrusted = fmt::format("{} is a symbolic link", path_of(name).string());
    return err;
  }
  if (err == 0 || err == EINVAL || err == EFBIG) {
    // NOTE: checked on the descriptor that was read, so the file cannot change in between.
    if (auto why = trust_problem(st, path_of(name)); !why.empty()) {
      out.clear();
      if (untrusted) *untrusted = std::move(why);
      return EPERM;
    }
  }
  return err;
}

int TrustedDir::write_temp(const std::string& prefix, const std::string& data, std::string& tmp_name) const {
  return ok() ? fs_->write_temp(fd(), prefix, data, tmp_name) : (error_ ? error_ : EBADF);
}

int TrustedDir::rename(const std::string& from, const TrustedDir& to_dir, const std::string& to) const {
  if (!ok() || !to_dir.ok()) return EBADF;
  return fs_->rename(fd(), from, to_dir.fd(), to);
}

int TrustedDir::remove(const std::string& name) const { return ok() ? fs_->remove(fd(), name) : EBADF; }

int TrustedDir::set_mtime(const std::string& name, std::int64_t ns_since_epoch) const {
  return ok() ? fs_->set_mtime(fd(), name, ns_since_epoch) : EBADF;
}

int TrustedDir::fsync() const { return ok() ? fs_->fsync_dir(fd()) : EBADF; }

int TrustedDir::open_lock(const std::string& name, bool create, UniqueFd& out) const {
  if (!ok()) return EBADF;
  int raw = -1;
  if (int err = fs_->open_lock(fd(), name, create, raw)) return err;
  out = UniqueFd(raw);
  return 0;
}

std::optional<struct stat> TrustedDir::stat(const std::string& name) const {
  struct stat st {};
  if (!ok() || ::fstatat(fd(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return std::nullopt;
  return st;
}

std::vector<TrustedDir::Child> TrustedDir::list() const {
  std::vector<Child> out;
  if (!ok()) return out;
  // A descriptor of its own: readdir moves the offset of the one it reads.
  const int raw = ::openat(fd(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (raw < 0) return out;
  DIR* d = ::fdopendir(raw);
  if (d == nullptr) {
    ::close(raw);
    return out;
  }
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    struct stat st {};
    if (::fstatat(fd(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) out.push_back({name, st});
  }
  ::closedir(d);
  return out;
}

}  // namespace qjit::cache
