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

  int make_dir(int dir, const std::string& name) override {
    return step_ == Step::kCreateDirs ? err_ : FileSystem::make_dir(dir, name);
  }
  int write_temp(int dir, const std::string& prefix, const std::string& data, std::string& tmp_name) override {
    if (step_ != Step::kWriteTemp) return FileSystem::write_temp(dir, prefix, data, tmp_name);
    // As a full disk does: the temp file exists and holds part of the data.
    FileSystem::write_temp(dir, prefix, data.substr(0, data.size() / 3), tmp_name);
    return err_;
  }
  int rename(int from_dir, const std::string& from, int to_dir, const std::string& to) override {
    return step_ == Step::kRename ? err_ : FileSystem::rename(from_dir, from, to_dir, to);
  }

 private:
  Step step_;
  int err_;
};

}  // namespace qjit::cache::testing
