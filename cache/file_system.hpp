#pragma once
// The file operations the cache performs, behind an interface so tests can inject faults
// (full disk, read-only directory, a kill in the middle of a publish) where the machine
// cannot make them for real. Methods report errors as errno values, never throw.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

namespace qjit::cache {

class FileSystem {
 public:
  virtual ~FileSystem() = default;
  // Each returns 0 or an errno value.

  // Creates `dir` and any missing parents with mode 0700; existing directories are kept.
  virtual int create_dirs(const std::filesystem::path& dir);
  // Reads a whole regular file; never follows a symbolic link at `path`.
  virtual int read_file(const std::filesystem::path& path, std::string& out);
  // Creates a new unique file next to `like` (mkstemp, mode 0600), writes `data` and
  // fsyncs it; sets `tmp_path` as soon as the file exists, so a caller can remove it.
  virtual int write_temp(const std::filesystem::path& like, const std::string& data,
                         std::filesystem::path& tmp_path);
  virtual int rename(const std::filesystem::path& from, const std::filesystem::path& to);
  virtual int fsync_dir(const std::filesystem::path& dir);
  virtual int remove(const std::filesystem::path& path);
  // Sets the modification time, which the cache uses as its explicit last-used stamp.
  virtual int set_mtime(const std::filesystem::path& path, std::int64_t ns_since_epoch);
};

// The process-wide real file system.
std::shared_ptr<FileSystem> real_file_system();

}  // namespace qjit::cache
