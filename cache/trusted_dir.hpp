#pragma once
// The one place the cache touches files (DESIGN.md section 4: nothing that runs, and nothing
// written or deleted, outside a directory the current user owns and only it can write).
//
// A TrustedDir is a directory held open and checked through its descriptor: owned by the
// effective user, not writable by group or others, and reached without following a symbolic
// link (the cache root itself excepted: a relocated ~/.cache may be a link, but what it
// points to must be ours). Every file the cache reads, creates, renames or removes is named by
// one path component relative to one of these, and no call follows a link there, so nothing
// swapped in after the check is ever followed. Directories it creates get mode 0700 whatever
// the umask. Private to cache/.

#include <sys/stat.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cache/file_system.hpp"
#include "cache/unique_fd.hpp"

namespace qjit::cache {

// Why a file or directory with status `st` at `path` is not trusted, or "" when it is owned
// by the effective uid and not writable by group or others.
std::string trust_problem(const struct stat& st, const std::filesystem::path& path);

class TrustedDir {
 public:
  enum class Status {
    kOk,
    kMissing,    // does not exist (and was not to be created)
    kUntrusted,  // exists but is a link, not a directory, or not ours alone: never used
    kFailed,     // could not be opened or created (errno in error())
  };

  // The cache root. With `create`, it and its missing parents are made (mode 0700).
  static TrustedDir open_root(const std::filesystem::path& dir, bool create, std::shared_ptr<FileSystem> fs);
  // A directory `name` (one component) inside this one; never a link.
  TrustedDir child(const std::string& name, bool create) const;

  Status status() const { return status_; }
  bool ok() const { return status_ == Status::kOk; }
  int error() const { return error_; }
  // What is wrong, naming the path (empty when ok).
  const std::string& problem() const { return problem_; }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path path_of(const std::string& name) const { return path_ / name; }

  // File operations on one component `name`; each returns 0 or an errno value. read()
  // refuses (EPERM, with `untrusted` set) a file that is not ours alone, and a link (ELOOP).
  int read(const std::string& name, std::uint64_t max_bytes, std::string& out, std::string* untrusted) const;
  int write_temp(const std::string& prefix, const std::string& data, std::string& tmp_name) const;
  int rename(const std::string& from, const TrustedDir& to_dir, const std::string& to) const;
  int remove(const std::string& name) const;
  int set_mtime(const std::string& name, std::int64_t ns_since_epoch) const;
  int fsync() const;
  int open_lock(const std::string& name, bool create, UniqueFd& fd) const;
  // lstat-like: the status of `name` itself, never what a link points to.
  std::optional<struct stat> stat(const std::string& name) const;

  struct Child {
    std::string name;
    struct stat st;  // of the name itself (a link is reported as a link)
  };
  // Every name in the directory but "." and "..", with its status; never throws.
  std::vector<Child> list() const;

 private:
  TrustedDir(std::filesystem::path path, std::shared_ptr<FileSystem> fs) : path_(std::move(path)), fs_(std::move(fs)) {}
  TrustedDir& fail(Status status, int error, std::string problem);
  TrustedDir& check_opened(int fd);
  int fd() const { return fd_ ? fd_->get() : -1; }

  std::filesystem::path path_;
  std::shared_ptr<FileSystem> fs_;
  std::shared_ptr<UniqueFd> fd_;  // shared: copies of a TrustedDir name one open directory
  Status status_ = Status::kFailed;
  int error_ = 0;
  std::string problem_;
};

}  // namespace qjit::cache
