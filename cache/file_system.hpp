#pragma once
// The system calls the cache makes, behind an interface so tests can inject faults (full
// disk, read-only directory, a kill in the middle of a publish) where the machine cannot
// make them for real. Every call names one path component relative to an open directory
// (`dir`, a file descriptor that TrustedDir has checked) and never follows a symbolic link
// there. Methods report errors as errno values, never throw.

#include <sys/stat.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

namespace qjit::cache {

class FileSystem {
 public:
  virtual ~FileSystem() = default;
  // Each returns 0 or an errno value.

  // Opens the directory `name` under `dir` (O_NOFOLLOW) into `fd`.
  virtual int open_dir(int dir, const std::string& name, int& fd);
  // Creates the directory `name` under `dir` with mode 0700, whatever the umask.
  virtual int make_dir(int dir, const std::string& name);
  // Reads the whole file `name` without blocking on a FIFO or following a link; `st` is the
  // opened file's status. A file that is not regular is EINVAL, one over `max_bytes` EFBIG
  // (checked before anything is allocated).
  virtual int read_file(int dir, const std::string& name, std::uint64_t max_bytes, std::string& out,
                        struct stat& st);
  // Creates a new unique file `<prefix>XXXXXX` under `dir` (mode 0600), writes `data` and
  // fsyncs it; sets `tmp_name` as soon as the file exists, so a caller can remove it.
  virtual int write_temp(int dir, const std::string& prefix, const std::string& data, std::string& tmp_name);
  virtual int rename(int from_dir, const std::string& from, int to_dir, const std::string& to);
  virtual int fsync_dir(int dir);
  // Removes a file (never a directory; a symbolic link itself, never what it points to).
  virtual int remove(int dir, const std::string& name);
  // Sets the modification time, which the cache uses as its explicit last-used stamp.
  virtual int set_mtime(int dir, const std::string& name, std::int64_t ns_since_epoch);
  // Opens a lock file for reading and writing into `fd` (with `create`, making it: mode 0600).
  virtual int open_lock(int dir, const std::string& name, bool create, int& fd);
};

// The process-wide real file system.
std::shared_ptr<FileSystem> real_file_system();

}  // namespace qjit::cache
