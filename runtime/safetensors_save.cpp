// save_safetensors: header built with nlohmann (compact, keys in the order given, as the
// reference's serde output), data streamed tensor by tensor into a temporary file that is
// fsynced and renamed over the destination.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <system_error>

#include "common/error.hpp"
#include "common/log.hpp"
#include "runtime/safetensors.hpp"

namespace qjit {

static_assert(std::endian::native == std::endian::little, "safetensors I/O assumes a little-endian host");

namespace {

using Json = nlohmann::ordered_json;

std::string errno_text(int err) { return std::error_code(err, std::generic_category()).message(); }

// A temporary file beside the destination, removed unless committed by rename.
class TempFile {
 public:
  explicit TempFile(const std::filesystem::path& dest) : dest_(dest) {
    // NOTE: the rename would replace whatever is at dest: a FIFO, a device node (as root,
    // /dev/null) or a socket is refused rather than replaced by a regular file.
    struct stat st {};
    if (::stat(dest.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
      QJIT_THROW("safetensors", "{}: exists and is not a regular file; not replacing it", dest.string());
    }
    dir_ = dest.parent_path().empty() ? std::filesystem::path(".") : dest.parent_path();
    std::random_device seed;
    std::mt19937_64 rng(seed() ^ (static_cast<std::uint64_t>(::getpid()) << 32));
    // NOTE: O_EXCL makes the name ours; mode 0666 lets the umask decide, as for any new file.
    for (int attempt = 0; attempt < 16 && fd_ < 0; ++attempt) {
      path_ = dir_ / fmt::format(".{}.tmp.{:016x}", dest.filename().string(), rng());
      fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
      if (fd_ < 0 && errno != EEXIST) break;
    }
    if (fd_ < 0) {
      QJIT_THROW("safetensors", "{}: cannot create a temporary file in {}: {}", dest.string(), dir_.string(),
                 errno_text(errno));
    }
  }
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(path_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  void write(const void* data, std::size_t bytes) {
    const auto* p = static_cast<const char*>(data);
    while (bytes > 0) {
      const ssize_t n = ::write(fd_, p, bytes);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) fail("write", errno);
      p += n;
      bytes -= static_cast<std::size_t>(n);
    }
  }

  // Makes the data durable, then the name: rename is the commit point.
  void commit() {
    if (::fsync(fd_) != 0) fail("fsync", errno);
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) fail("close", errno);
    if (::rename(path_.c_str(), dest_.c_str()) != 0) fail("rename", errno);
    committed_ = true;
    const int dir = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    // Some file systems cannot sync a directory; the file is then as durable as they allow.
    if (dir < 0 || (::fsync(dir) != 0 && errno != EINVAL)) {
      log(LogLevel::kDebug, "safetensors: fsync of directory {} failed: {}", dir_.string(), errno_text(errno));
    }
    if (dir >= 0) ::close(dir);
  }

 private:
  [[noreturn]] void fail(const char* what, int err) const {
    QJIT_THROW("safetensors", "{}: {} of {} failed: {}", dest_.string(), what, path_.string(), errno_text(err));
  }

  std::filesystem::path dest_;
  std::filesystem::path dir_;
  std::filesystem::path path_;
  int fd_ = -1;
  bool committed_ = false;
};

}  // namespace

void save_safetensors(const std::filesystem::path& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  // Everything that can be checked is checked before the temporary file exists.
  std::set<std::string_view> seen;
  for (const auto& [name, t] : tensors) {
    QJIT_CHECK_GEN("safetensors", name != kSafetensorsMetadataKey,
                   "{}: \"__metadata__\" is the header's metadata key, not a tensor name", path.string());
    QJIT_CHECK_GEN("safetensors", seen.insert(name).second, "{}: tensor '{}' is given twice", path.string(), name);
    QJIT_CHECK_GEN("safetensors", t.defined(), "{}: tensor '{}' is undefined", path.string(), name);
  }

  Json header = Json::object();
  if (!metadata.empty()) header[std::string(kSafetensorsMetadataKey)] = metadata;
  std::uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    Json entry = Json::object();
    entry["dtype"] = safetensors_dtype_name(t.dtype());
    entry["shape"] = t.shape();
    entry["data_offsets"] = Json::array({offset, offset + t.nbytes()});
    header[name] = std::move(entry);
    offset += t.nbytes();
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& e) {
    QJIT_THROW("safetensors", "{}: a tensor name or metadata string is not valid UTF-8: {}", path.string(),
               e.what());
  }
  // NOTE: padded with spaces (valid JSON whitespace) so the data starts 8-byte aligned in
  // the file, as the reference writer does.
  text.append((kSafetensorsLengthBytes - text.size() % kSafetensorsLengthBytes) % kSafetensorsLengthBytes, ' ');
  QJIT_CHECK_GEN("safetensors", text.size() <= kSafetensorsMaxHeaderBytes,
                 "{}: the header would be {} bytes, over the {}-byte limit readers accept", path.string(),
                 text.size(), kSafetensorsMaxHeaderBytes);

  TempFile file(path);
  const std::uint64_t length = text.size();  // NOTE: written as is: the host is little-endian
  file.write(&length, sizeof length);
  file.write(text.data(), text.size());
  for (const auto& [name, t] : tensors) {
    if (t.nbytes() == 0) continue;
    // One tensor at a time, so a model on a device never needs a second full copy on the host.
    const Tensor host = t.to(Device::cpu()).contiguous();
    file.write(host.raw_data_ptr(), host.nbytes());
  }
  file.commit();
}

}  // namespace qjit
