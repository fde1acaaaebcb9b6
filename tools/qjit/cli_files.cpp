#include "cli_files.hpp"

#include <sys/stat.h>

#include <filesystem>
#include <optional>

#include "common/error.hpp"

namespace qjit::cli {

namespace {

namespace fs = std::filesystem;

struct FileId {
  dev_t dev;
  ino_t ino;
  bool operator==(const FileId&) const = default;
};

// The file `path` names (through links), if it exists.
std::optional<FileId> id_of(const fs::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return FileId{st.st_dev, st.st_ino};
}

const char* kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

// Every file an input names: the file itself, the files directly in a directory input (a
// sharded checkpoint), and beside a shard index (*.index.json) the shards it lists there.
std::vector<std::pair<FileId, std::string>> input_files(const NamedPath& in) {
  std::vector<std::pair<FileId, std::string>> out;
  std::error_code ec;
  if (fs::is_directory(in.path, ec)) {
    for (fs::directory_iterator it(in.path, ec), end; !ec && it != end; it.increment(ec)) {
      if (auto id = id_of(it->path())) out.emplace_back(*id, it->path().string());
    }
  } else if (auto id = id_of(in.path)) {
    out.emplace_back(*id, in.path);
    if (in.path.ends_with(".index.json")) {
      const fs::path dir = fs::path(in.path).parent_path().empty() ? fs::path(".") : fs::path(in.path).parent_path();
      for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        if (auto sid = id_of(it->path())) out.emplace_back(*sid, it->path().string());
      }
    }
  }
  return out;
}

}  // namespace

void check_outputs(const char* sub, const std::vector<NamedPath>& outputs, const std::vector<NamedPath>& inputs) {
  std::vector<std::pair<const NamedPath*, fs::path>> seen;  // outputs checked so far, canonical
  for (const NamedPath& o : outputs) {
    if (o.path.empty()) continue;
    struct stat st {};
    if (::stat(o.path.c_str(), &st) == 0) {
      QJIT_CHECK_GEN(sub, S_ISREG(st.st_mode), "{} {}: is {}; give the path of a regular file to write", o.option,
                     o.path, kind_of(st.st_mode));
    }
    std::error_code ec;
    const fs::path dir = fs::absolute(o.path, ec).parent_path();
    QJIT_CHECK_GEN(sub, fs::is_directory(dir, ec), "{} {}: the directory {} does not exist", o.option, o.path,
                   dir.string());
    const fs::path canonical = fs::weakly_canonical(fs::absolute(o.path, ec), ec);
    const auto id = id_of(o.path);
    for (const auto& [other, other_canonical] : seen) {
      QJIT_CHECK_GEN(sub, canonical != other_canonical && !(id && id == id_of(other->path)),
                     "{} {} and {} {} are the same file: one would overwrite the other", other->option, other->path,
                     o.option, o.path);
    }
    if (id) {
      for (const NamedPath& in : inputs) {
        if (in.path.empty()) continue;
        for (const auto& [in_id, in_path] : input_files(in)) {
          QJIT_CHECK_GEN(sub, !(in_id == *id), "{} {} is the input {} {}: writing it would destroy the input",
                         o.option, o.path, in.option, in_path);
        }
      }
    }
    seen.emplace_back(&o, canonical);
  }
}

}  // namespace qjit::cli
