// The single-file entry layout. All integers are little-endian:
//
//   magic            8 bytes  "QJITENT\n"
//   format version   u32      kEntryFormatVersion
//   section count    u32
//   manifest         u64 size, bytes
//   sections         per section, in name order: u32 name size, name, u64 size, bytes
//   checksum         64 bytes: sha256_hex of every byte before it
//
// Decoding checks the structure before the checksum, so a truncated file is named a short
// read rather than a checksum mismatch.

#include <cstdint>
#include <string_view>

#include "cache/disk_cache.hpp"
#include "common/error.hpp"
#include "common/sha256.hpp"

namespace qjit::cache {

namespace {

constexpr std::string_view kMagic{"QJITENT\n", 8};
constexpr std::size_t kChecksumSize = 64;

template <typename T>
void put_uint(std::string& out, T value) {
  for (std::size_t i = 0; i < sizeof(T); ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}

  template <typename T>
  T uint(const char* what) {
    std::string_view raw = take(sizeof(T), what);
    T value = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i) value |= T(static_cast<unsigned char>(raw[i])) << (8 * i);
    return value;
  }

  std::string_view take(std::uint64_t n, const char* what) {
    // NOTE: compare against what is left, never pos_ + n, which a corrupt size overflows.
    QJIT_CHECK_GEN("cache", n <= bytes_.size() - pos_,
                   "short read: entry has {} bytes, {} needs {} more at offset {}", bytes_.size(), what,
                   n, pos_);
    std::string_view out = bytes_.substr(pos_, n);
    pos_ += n;
    return out;
  }

  std::size_t pos() const { return pos_; }
  std::size_t left() const { return bytes_.size() - pos_; }

 private:
  std::string_view bytes_;
  std::size_t pos_ = 0;
};

}  // namespace

std::string encode_entry(const Entry& entry) {
  std::string out;
  std::size_t size = kMagic.size() + 16 + entry.manifest.size() + kChecksumSize;
  for (const auto& [name, data] : entry.sections) size += 12 + name.size() + data.size();
  out.reserve(size);

  out.append(kMagic);
  put_uint<std::uint32_t>(out, kEntryFormatVersion);
  put_uint<std::uint32_t>(out, static_cast<std::uint32_t>(entry.sections.size()));
  put_uint<std::uint64_t>(out, entry.manifest.size());
  out.append(entry.manifest);
  for (const auto& [name, data] : entry.sections) {  // std::map: name order, so canonical
    put_uint<std::uint32_t>(out, static_cast<std::uint32_t>(name.size()));
    out.append(name);
    put_uint<std::uint64_t>(out, data.size());
    out.append(data);
  }
  out.append(sha256_hex(out));
  return out;
}

Entry decode_entry(const std::string& bytes) {
  QJIT_CHECK_GEN("cache", !bytes.empty(), "empty entry (0 bytes)");
  Reader in(bytes);
  QJIT_CHECK_GEN("cache", in.take(kMagic.size(), "the magic") == kMagic, "bad magic: not a qjit cache entry");
  const auto version = in.uint<std::uint32_t>("the format version");
  QJIT_CHECK_GEN("cache", version == kEntryFormatVersion, "wrong version: entry format version {}, expected {}",
                 version, kEntryFormatVersion);
  const auto count = in.uint<std::uint32_t>("the section count");

  Entry entry;
  entry.manifest = in.take(in.uint<std::uint64_t>("the manifest size"), "the manifest");
  for (std::uint32_t i = 0; i < count; ++i) {
    std::string name(in.take(in.uint<std::uint32_t>("a section name size"), "a section name"));
    std::string_view data = in.take(in.uint<std::uint64_t>("a section size"), "a section");
    QJIT_CHECK_GEN("cache", !entry.sections.contains(name), "duplicate section '{}'", name);
    entry.sections.emplace(std::move(name), std::string(data));
  }

  const std::size_t body = in.pos();
  std::string_view stored = in.take(kChecksumSize, "the checksum");
  QJIT_CHECK_GEN("cache", in.left() == 0, "{} trailing bytes after the checksum", in.left());
  const std::string actual = sha256_hex(std::string_view(bytes).substr(0, body));
  QJIT_CHECK_GEN("cache", stored == actual, "checksum mismatch: the {} bytes before the checksum hash to {}", body, actual);
  return entry;
}

}  // namespace qjit::cache
