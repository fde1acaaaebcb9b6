#include "cache/bundle.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cstdlib>
#include <cstring>
#include <string_view>
#include <nlohmann/json.hpp>
#include <set>

#include "cache/trusted_dir.hpp"
#include "cache/unique_fd.hpp"
#include "common/error.hpp"
#include "common/sha256.hpp"

namespace qjit::cache {

namespace {

constexpr char kMagic[8] = {'Q', 'J', 'I', 'T', 'B', 'N', 'D', 'L'};
constexpr std::size_t kHeader = 8 + 4 + 8;
constexpr std::size_t kDigest = 32;
constexpr std::uint64_t kMaxIndexBytes = 64ull << 20;

template <typename T>
void put_le(std::string& out, T v) {
  for (std::size_t i = 0; i < sizeof(T); ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

template <typename T>
T get_le(const std::string& in, std::size_t at) {
  T v = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i) v |= static_cast<T>(static_cast<unsigned char>(in[at + i])) << (8 * i);
  return v;
}

std::string raw_sha256(std::string_view data) {
  const std::string hex = sha256_hex(data);
  std::string raw(kDigest, '\0');
  for (std::size_t i = 0; i < kDigest; ++i) raw[i] = static_cast<char>(std::stoi(hex.substr(2 * i, 2), nullptr, 16));
  return raw;
}

bool is_key(const std::string& s) {
  return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

}  // namespace

std::string encode_bundle(const std::vector<BundleEntry>& entries) {
  std::string body;
  nlohmann::json index = nlohmann::json::array();
  std::set<std::string> keys;
  for (const BundleEntry& e : entries) {
    QJIT_CHECK_GEN("cache", sha256_hex(e.entry.manifest) == e.key, "bundle entry {} is not its manifest's key",
                   e.key.substr(0, 16));
    QJIT_CHECK_GEN("cache", keys.insert(e.key).second, "bundle entry {} given twice", e.key.substr(0, 16));
    const std::string bytes = encode_entry(e.entry);
    QJIT_CHECK_GEN("cache", bytes.size() <= kMaxEntryBytes, "bundle entry {} is {} bytes, more than an entry can be",
                   e.key.substr(0, 16), bytes.size());
    index.push_back({{"key", e.key}, {"offset", body.size()}, {"size", bytes.size()}, {"summary", e.summary}});
    body += bytes;
  }
  const std::string index_text =
      nlohmann::json{{"format", "qjit-bundle"}, {"version", kBundleFormatVersion}, {"entries", index}}.dump();
  QJIT_CHECK_GEN("cache", body.size() + index_text.size() + kHeader + kDigest <= kMaxBundleBytes,
                 "the bundle would be {} bytes, more than a bundle can be ({})", body.size() + index_text.size(),
                 kMaxBundleBytes);
  std::string out(kMagic, sizeof kMagic);
  put_le<std::uint32_t>(out, kBundleFormatVersion);
  put_le<std::uint64_t>(out, index_text.size());
  out += index_text;
  out += body;
  out += raw_sha256(out);
  return out;
}

std::vector<BundleEntry> decode_bundle(const std::string& bytes, const std::string& what) {
  QJIT_CHECK_GEN("cache", bytes.size() >= kHeader + kDigest && std::memcmp(bytes.data(), kMagic, sizeof kMagic) == 0,
                 "{} is not a qjit bundle (no QJITBNDL header)", what);
  const auto version = get_le<std::uint32_t>(bytes, 8);
  QJIT_CHECK_GEN("cache", version == kBundleFormatVersion, "{} is bundle format {}, this qjit reads {}", what, version,
                 kBundleFormatVersion);
  const std::size_t body_end = bytes.size() - kDigest;
  QJIT_CHECK_GEN("cache", raw_sha256(std::string_view(bytes).substr(0, body_end)) == std::string_view(bytes).substr(body_end),
                 "{} is damaged: its checksum does not match its contents", what);
  const auto index_bytes = get_le<std::uint64_t>(bytes, 12);
  QJIT_CHECK_GEN("cache", index_bytes <= kMaxIndexBytes && kHeader + index_bytes <= body_end,
                 "{}: its index size {} is out of bounds", what, index_bytes);
  const nlohmann::json index =
      nlohmann::json::parse(bytes.substr(kHeader, static_cast<std::size_t>(index_bytes)), nullptr, false);
  // NOTE: every field's type is checked before it is read (a JSON type error is not a qjit::Error).
  QJIT_CHECK_GEN("cache",
                 !index.is_discarded() && index.is_object() && index.contains("format") && index["format"].is_string() &&
                     index["format"].get_ref<const std::string&>() == "qjit-bundle" && index.contains("entries") &&
                     index["entries"].is_array(),
                 "{}: its index is not a qjit bundle index", what);
  const std::size_t base = kHeader + static_cast<std::size_t>(index_bytes);
  const std::uint64_t region = body_end - base;
  std::vector<BundleEntry> out;
  std::set<std::string> keys;
  for (const auto& e : index["entries"]) {
    QJIT_CHECK_GEN("cache",
                   e.is_object() && e.contains("key") && e["key"].is_string() && e.contains("offset") &&
                       e["offset"].is_number_unsigned() && e.contains("size") && e["size"].is_number_unsigned(),
                   "{}: an index entry lacks its key, offset or size", what);
    const std::string key = e["key"].get<std::string>();
    const auto offset = e["offset"].get<std::uint64_t>(), size = e["size"].get<std::uint64_t>();
    QJIT_CHECK_GEN("cache", is_key(key), "{}: an index key is not a sha256", what);
    QJIT_CHECK_GEN("cache", keys.insert(key).second, "{}: entry {} is listed twice", what, key.substr(0, 16));
    QJIT_CHECK_GEN("cache", offset <= region && size <= region - offset && size <= kMaxEntryBytes,
                   "{}: entry {} lies outside the bundle", what, key.substr(0, 16));
    BundleEntry b;
    b.key = key;
    b.summary = e.contains("summary") && e["summary"].is_string() ? e["summary"].get<std::string>().substr(0, 200) : "";
    try {
      b.entry = decode_entry(bytes.substr(base + static_cast<std::size_t>(offset), static_cast<std::size_t>(size)));
    } catch (const Error& err) {
      QJIT_THROW("cache", "{}: entry {} is damaged: {}", what, key.substr(0, 16), err.message());
    }
    QJIT_CHECK_GEN("cache", sha256_hex(b.entry.manifest) == key, "{}: entry {} is not its manifest's key", what,
                   key.substr(0, 16));
    out.push_back(std::move(b));
  }
  return out;
}

void write_bundle(const std::filesystem::path& path, const std::vector<BundleEntry>& entries) {
  const std::string bytes = encode_bundle(entries);
  std::string tmpl = path.string() + ".tmp-XXXXXX";
  UniqueFd created(::mkostemp(tmpl.data(), O_CLOEXEC));
  QJIT_CHECK_GEN("cache", created.get() >= 0, "cannot write the bundle {}: {}", path.string(), std::strerror(errno));
  const std::filesystem::path tmp = tmpl;
  {
    UniqueFd fd = std::move(created);
    auto fail = [&](int err) {
      ::unlink(tmp.c_str());
      QJIT_THROW("cache", "cannot write the bundle {}: {}", tmp.string(), std::strerror(err));
    };
    std::size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = ::write(fd.get(), bytes.data() + done, bytes.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) fail(n == 0 ? EIO : errno);
      done += static_cast<std::size_t>(n);
    }
    if (::fsync(fd.get()) != 0) fail(errno);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    QJIT_THROW("cache", "cannot write the bundle {}: {}", path.string(), std::strerror(err));
  }
  // The rename itself made durable.
  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  UniqueFd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (d.get() >= 0) ::fsync(d.get());
}

std::vector<BundleEntry> read_bundle(const std::filesystem::path& path) {
  // NOTE: O_NONBLOCK so that a FIFO named as a bundle cannot block the open; the regular
  // file's reads below are unaffected.
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  QJIT_CHECK_GEN("cache", fd.get() >= 0, "cannot read the bundle {}: {}", path.string(),
                 errno == ELOOP ? "it is a symbolic link" : std::strerror(errno));
  struct stat st {};
  QJIT_CHECK_GEN("cache", ::fstat(fd.get(), &st) == 0 && S_ISREG(st.st_mode), "the bundle {} is not a regular file",
                 path.string());
  const std::string untrusted = trust_problem(st, path);
  QJIT_CHECK_GEN("cache", untrusted.empty(), "the bundle {} holds code and is not trusted: {}", path.string(), untrusted);
  QJIT_CHECK_GEN("cache", static_cast<std::uint64_t>(st.st_size) <= kMaxBundleBytes,
                 "the bundle {} is {} bytes, more than a bundle can be", path.string(), st.st_size);
  std::string bytes(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::read(fd.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    QJIT_CHECK_GEN("cache", n > 0, "cannot read the bundle {}: {}", path.string(), n == 0 ? "it shrank" : std::strerror(errno));
    done += static_cast<std::size_t>(n);
  }
  return decode_bundle(bytes, path.string());
}

ImportResult import_bundle(DiskCache& disk, const std::vector<BundleEntry>& entries) {
  ImportResult r;
  for (const BundleEntry& e : entries) {
    const LoadResult have = disk.load(e.key, e.entry.manifest);
    if (have.status == LoadStatus::kHit && have.entry && *have.entry == e.entry) {
      ++r.present;
      continue;
    }
    if (disk.store(e.key, e.entry)) ++r.imported;
    else ++r.failed;
  }
  return r;
}

}  // namespace qjit::cache
