// SafetensorsFile::open: maps the file and validates its whole header, so that every later
// access (get, bytes) only indexes ranges already proven to lie inside the file.

#include <fcntl.h>
#include <fmt/ranges.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <numeric>
#include <set>
#include <system_error>

#include "common/error.hpp"
#include "common/log.hpp"
#include "runtime/safetensors.hpp"

namespace qjit {

// NOTE: the format is little-endian and get() copies tensor bytes verbatim.
static_assert(std::endian::native == std::endian::little, "safetensors I/O assumes a little-endian host");

namespace {

using Json = nlohmann::ordered_json;  // keeps the header's key order: names() is file order

// The deepest container the format has: the header object (depth 0) holds entries and the
// metadata (1), which hold the shape and data_offsets arrays (2). Anything deeper is
// discarded while parsing instead of being built, so a hostile header cannot make us build
// a huge nested document.
constexpr int kMaxDepth = 2;

std::string known_dtypes() {
  std::string out;
  for (const SafetensorsDType& d : safetensors_dtypes()) out += (out.empty() ? "" : " ") + std::string(d.name);
  return out;
}

std::string errno_text(int err) { return std::error_code(err, std::generic_category()).message(); }

// A JSON value for an error message, cut short: the header may be 100 MB.
std::string describe(const Json& v) {
  std::string s = v.dump(-1, ' ', false, Json::error_handler_t::replace);
  constexpr std::size_t kMax = 40;
  if (s.size() > kMax) s = s.substr(0, kMax) + "...";
  return s;
}

struct Header {
  std::vector<std::string> names;
  std::vector<SafetensorsTensorInfo> infos;
  std::map<std::string, std::string> metadata;
  std::uint64_t data_begin = 0;  // in the file
  std::uint64_t data_size = 0;
};

// Parses and validates the header of the whole file `bytes`.
class HeaderReader {
 public:
  HeaderReader(const std::filesystem::path& path, std::span<const std::byte> bytes)
      : path_(path), bytes_(bytes) {}

  Header read() {
    if (bytes_.size() < kSafetensorsLengthBytes) {
      fail(fmt::format("the file is {} bytes, shorter than the 8-byte header length", bytes_.size()));
    }
    std::uint64_t n = 0;
    std::memcpy(&n, bytes_.data(), sizeof n);
    const std::uint64_t after_length = bytes_.size() - kSafetensorsLengthBytes;
    if (n > kSafetensorsMaxHeaderBytes) {
      fail(fmt::format("header length {} exceeds the {}-byte limit (corrupt length field?)", n,
                       kSafetensorsMaxHeaderBytes));
    }
    if (n > after_length) {
      fail(fmt::format("header length {} exceeds the {} bytes after the length field (file truncated?)", n,
                       after_length));
    }
    header_.data_begin = kSafetensorsLengthBytes + n;
    header_.data_size = after_length - n;

    const std::string_view text(reinterpret_cast<const char*>(bytes_.data() + kSafetensorsLengthBytes), n);
    // NOTE: nlohmann's lexer takes a NUL byte for the end of the input, so "{}\0<anything>"
    // would parse; a raw NUL is never valid JSON, so refuse it first.
    if (const auto nul = text.find('\0'); nul != std::string_view::npos) {
      fail(fmt::format("the header contains a NUL byte (at header byte {}), which JSON does not allow", nul));
    }
    const Json doc = parse_json(text);
    if (!doc.is_object()) fail(fmt::format("the header is a JSON {}, not an object", doc.type_name()));
    for (auto it = doc.begin(); it != doc.end(); ++it) {
      if (it.key() == kSafetensorsMetadataKey) {
        read_metadata(it.value());
      } else {
        header_.infos.push_back(read_entry(it.key(), it.value()));
        header_.names.push_back(it.key());
      }
    }
    check_layout();
    return std::move(header_);
  }

 private:
  [[noreturn]] void fail(const std::string& problem) const {
    QJIT_THROW("safetensors", "{}: {}", path_.string(), problem);
  }
  [[noreturn]] void fail(const std::string& tensor, const std::string& problem) const {
    QJIT_THROW("safetensors", "{}: tensor '{}': {}", path_.string(), tensor, problem);
  }

  // nlohmann keeps the last of duplicate keys silently; the format forbids duplicates, so a
  // parse callback tracks the keys of every open object.
  Json parse_json(std::string_view text) const {
    std::vector<std::set<std::string>> open_objects;
    std::string last_name;  // the latest key of the header object
    std::string duplicate, duplicate_owner;
    int duplicate_depth = -1;
    bool too_deep = false;
    const Json::parser_callback_t callback = [&](int depth, Json::parse_event_t event, Json& parsed) {
      switch (event) {
        case Json::parse_event_t::object_start:
        case Json::parse_event_t::array_start:
          if (depth > kMaxDepth) {
            too_deep = true;
            return false;  // discard: nothing below is built
          }
          if (event == Json::parse_event_t::object_start) open_objects.emplace_back();
          return true;
        case Json::parse_event_t::object_end:
          if (!open_objects.empty()) open_objects.pop_back();
          return true;
        case Json::parse_event_t::key: {
          if (open_objects.empty() || !parsed.is_string()) return true;
          const auto& key = parsed.get_ref<const std::string&>();
          if (!open_objects.back().insert(key).second && duplicate_depth < 0) {
            duplicate = key;
            duplicate_owner = last_name;
            duplicate_depth = depth;
          }
          if (depth == 1) last_name = key;
          return true;
        }
        default:
          return true;
      }
    };
    Json doc;
    try {
      doc = Json::parse(text.begin(), text.end(), callback, /*allow_exceptions=*/true, /*ignore_comments=*/false);
    } catch (const nlohmann::json::exception& e) {
      fail(fmt::format("the header is not valid JSON: {}", e.what()));
    }
    if (too_deep) fail("the header nests deeper than the format's object of objects of arrays");
    if (duplicate_depth == 1) {
      if (duplicate == kSafetensorsMetadataKey) fail("\"__metadata__\" appears twice in the header");
      fail(duplicate, "the name appears twice in the header");
    }
    if (duplicate_depth > 1) {
      if (duplicate_owner == kSafetensorsMetadataKey) {
        fail(fmt::format("\"__metadata__\": key '{}' appears twice", duplicate));
      }
      fail(duplicate_owner, fmt::format("key \"{}\" appears twice in the entry", duplicate));
    }
    return doc;
  }

  void read_metadata(const Json& value) {
    if (value.is_null()) return;  // the reference reads null as "no metadata"
    if (!value.is_object()) {
      fail(fmt::format("\"__metadata__\" is a JSON {}, not an object of strings", value.type_name()));
    }
    for (auto it = value.begin(); it != value.end(); ++it) {
      if (!it.value().is_string()) {
        fail(fmt::format("\"__metadata__\" value of '{}' is {}, not a string", it.key(), describe(it.value())));
      }
      header_.metadata.emplace(it.key(), it.value().get<std::string>());
    }
  }

  const Json& member(const std::string& name, const Json& entry, const char* key) const {
    const auto it = entry.find(key);
    if (it == entry.end()) fail(name, fmt::format("the entry has no \"{}\"", key));
    return *it;
  }

  std::uint64_t count(const std::string& name, const std::string& what, const Json& v) const {
    if (v.is_number_unsigned()) return v.get<std::uint64_t>();
    if (v.is_number_integer()) {
      const auto i = v.get<std::int64_t>();
      if (i >= 0) return static_cast<std::uint64_t>(i);  // "-0"
      fail(name, fmt::format("{} is {}, a negative number", what, i));
    }
    fail(name, fmt::format("{} is {}, not a non-negative integer", what, describe(v)));
  }

  SafetensorsTensorInfo read_entry(const std::string& name, const Json& entry) const {
    if (!entry.is_object()) fail(name, fmt::format("the entry is a JSON {}, not an object", entry.type_name()));
    SafetensorsTensorInfo info;

    const Json& dtype = member(name, entry, "dtype");
    if (!dtype.is_string()) fail(name, fmt::format("\"dtype\" is {}, not a string", describe(dtype)));
    info.dtype = dtype.get<std::string>();
    const SafetensorsDType* file_dtype = find_safetensors_dtype(info.dtype);
    if (file_dtype == nullptr) {
      fail(name, fmt::format("unknown dtype \"{}\" (known: {})", info.dtype, known_dtypes()));
    }
    info.tensor_dtype = file_dtype->dtype;

    const Json& shape = member(name, entry, "shape");
    if (!shape.is_array()) fail(name, fmt::format("\"shape\" is {}, not an array", describe(shape)));
    for (std::size_t i = 0; i < shape.size(); ++i) {
      const std::uint64_t d = count(name, fmt::format("shape[{}]", i), shape[i]);
      if (d > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        fail(name, fmt::format("shape[{}] = {} is too large", i, d));
      }
      info.shape.push_back(static_cast<std::int64_t>(d));
    }

    const Json& offsets = member(name, entry, "data_offsets");
    if (!offsets.is_array() || offsets.size() != 2) {
      fail(name, fmt::format("\"data_offsets\" is {}, not an array [begin, end]", describe(offsets)));
    }
    const std::uint64_t begin = count(name, "data_offsets[0]", offsets[0]);
    const std::uint64_t end = count(name, "data_offsets[1]", offsets[1]);
    if (begin > end) fail(name, fmt::format("data_offsets [{}, {}] begin after they end", begin, end));

    // A zero-size tensor holds no bytes however large its other dimensions are.
    std::uint64_t numel = 1;
    bool overflow = false;
    if (std::find(info.shape.begin(), info.shape.end(), 0) != info.shape.end()) {
      numel = 0;
    } else {
      for (const std::int64_t d : info.shape) {
        overflow = overflow || __builtin_mul_overflow(numel, static_cast<std::uint64_t>(d), &numel);
      }
    }
    overflow = overflow || __builtin_mul_overflow(numel, file_dtype->size, &info.nbytes);
    if (overflow) {
      fail(name, fmt::format("shape [{}] of {} takes more than 2^64 bytes", fmt::join(info.shape, ", "), info.dtype));
    }
    if (end - begin != info.nbytes) {
      fail(name, fmt::format("data_offsets [{}, {}] hold {} bytes, but shape [{}] of {} takes {}", begin, end,
                             end - begin, fmt::join(info.shape, ", "), info.dtype, info.nbytes));
    }
    if (end > header_.data_size) {
      fail(name, fmt::format("data_offsets [{}, {}] run past the end of the {}-byte data buffer (file truncated?)",
                             begin, end, header_.data_size));
    }
    info.data_begin = begin;
    return info;
  }

  // The format requires the tensors to tile the data buffer exactly: no overlaps (a tensor
  // aliasing another), no holes and no trailing bytes (room for a polyglot payload).
  void check_layout() const {
    const auto& infos = header_.infos;
    std::vector<std::size_t> order(infos.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      const auto& x = infos[a];
      const auto& y = infos[b];
      return x.data_begin != y.data_begin ? x.data_begin < y.data_begin : x.nbytes < y.nbytes;
    });
    std::uint64_t pos = 0;
    std::size_t prev = 0;
    for (const std::size_t i : order) {
      const std::uint64_t begin = infos[i].data_begin;
      const std::uint64_t end = begin + infos[i].nbytes;
      if (begin < pos) {
        fail(header_.names[i], fmt::format("bytes [{}, {}) overlap tensor '{}' at [{}, {})", begin, end,
                                           header_.names[prev], infos[prev].data_begin,
                                           infos[prev].data_begin + infos[prev].nbytes));
      }
      if (begin > pos) {
        fail(header_.names[i], fmt::format("bytes [{}, {}) before it belong to no tensor (the format allows no holes)",
                                           pos, begin));
      }
      pos = end;
      prev = i;
    }
    if (pos != header_.data_size) {
      fail(fmt::format("{} bytes after the last tensor's data belong to no tensor (the data buffer is {} bytes, "
                       "the tensors end at {})",
                       header_.data_size - pos, header_.data_size, pos));
    }
  }

  const std::filesystem::path& path_;
  std::span<const std::byte> bytes_;
  Header header_;
};

// Closes a descriptor on every path out.
struct FdCloser {
  int fd;
  ~FdCloser() { ::close(fd); }
};

}  // namespace

class SafetensorsFile::Contents {
 public:
  Contents(const std::filesystem::path& path, Access access) {
    // NOTE: O_NONBLOCK so that a FIFO without a writer (or a device that waits) is reported as
    // "not a regular file" below instead of blocking open() forever; reads of a regular
    // file ignore the flag.
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) QJIT_THROW("safetensors", "{}: cannot open: {}", path.string(), errno_text(errno));
    const FdCloser closer{fd};
    struct stat st {};
    if (::fstat(fd, &st) != 0) QJIT_THROW("safetensors", "{}: cannot stat: {}", path.string(), errno_text(errno));
    if (!S_ISREG(st.st_mode)) QJIT_THROW("safetensors", "{}: not a regular file", path.string());
    const auto size = static_cast<std::size_t>(st.st_size);
    if (access == Access::kMap && size > 0) {
      void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
      if (map != MAP_FAILED) {
        map_ = map;
        bytes_ = {static_cast<const std::byte*>(map), size};
        return;
      }
      log(LogLevel::kDebug, "safetensors: cannot map {} ({}), reading it instead", path.string(), errno_text(errno));
    }
    copy_.resize(size);
    std::size_t done = 0;
    while (done < size) {
      const ssize_t n = ::read(fd, copy_.data() + done, size - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) QJIT_THROW("safetensors", "{}: read failed: {}", path.string(), errno_text(errno));
      if (n == 0) break;  // the file shrank since fstat: validation reports what is missing
      done += static_cast<std::size_t>(n);
    }
    copy_.resize(done);
    bytes_ = copy_;
  }
  ~Contents() {
    if (map_ != nullptr) ::munmap(map_, bytes_.size());
  }
  Contents(const Contents&) = delete;
  Contents& operator=(const Contents&) = delete;

  std::span<const std::byte> bytes() const { return bytes_; }
  bool mapped() const { return map_ != nullptr; }

 private:
  void* map_ = nullptr;
  std::vector<std::byte> copy_;
  std::span<const std::byte> bytes_;
};

SafetensorsFile SafetensorsFile::open(const std::filesystem::path& path, Access access) {
  auto contents = std::make_shared<const Contents>(path, access);
  Header header = HeaderReader(path, contents->bytes()).read();

  SafetensorsFile file;
  file.path_ = path;
  file.data_ = contents->bytes().data() + header.data_begin;
  file.data_size_ = header.data_size;
  file.mapped_ = contents->mapped();
  file.contents_ = std::move(contents);
  file.names_ = std::move(header.names);
  file.infos_ = std::move(header.infos);
  file.metadata_ = std::move(header.metadata);
  for (std::size_t i = 0; i < file.names_.size(); ++i) file.index_.emplace(file.names_[i], i);
  return file;
}

}  // namespace qjit
