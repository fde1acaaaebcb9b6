#pragma once
// A FileSystem that fails chosen operations with a chosen errno, for the cases a machine
// cannot produce for real (no mount permission) and to cover every step of a publish.

#include <cerrno>

#include "cache/file_system.hpp"

namespace qjit::cache::testing {

enum class Step { kCreateDirs, kWriteTemp, kRename };

class FaultFs : public FileSystem {
 public:
  FaultFs(Step step, int err) : step_(step), err_(err) {}

  int create_dirs(const std::filesystem::path& dir) override {
    return step_ == Step::kCreateDirs ? err_ : FileSystem::create_dirs(dir);
  }
  int write_temp(const std::filesystem::path& like, const std::string& data,
                 std::filesystem::path& tmp_path) override {
    if (step_ != Step::kWriteTemp) return FileSystem::write_temp(like, data, tmp_path);
    // As a full disk does: the temp file exists and holds part of the data.
    FileSystem::write_temp(like, data.substr(0, data.size() / 3), tmp_path);
    return err_;
  }
  int rename(const std::filesystem::path& from, const std::filesystem::path& to) override {
    return step_ == Step::kRename ? err_ : FileSystem::rename(from, to);
  }

 private:
  Step step_;
  int err_;
};

}  // namespace qjit::cache::testing
