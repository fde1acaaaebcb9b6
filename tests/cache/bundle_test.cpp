// Bundles: entries round-trip; every kind of damage (header, version, checksum, truncation,
// an index entry out of bounds or listed twice, a damaged entry, a key that is not its
// manifest's) is a clear error before any entry is handed out; a file someone else can write,
// a link or a directory is refused; importing stores each entry once.

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "cache/bundle.hpp"
#include "common/error.hpp"
#include "common/sha256.hpp"
#include "test_util.hpp"

namespace qjit::cache::testing {
namespace {

BundleEntry entry(int i) {
  Entry e;
  e.manifest = nlohmann::json{{"family", "test"}, {"i", i}}.dump();
  e.sections = {{"ptx", std::string(100 + i, static_cast<char>('a' + i % 26))}, {"meta", "{}"}};
  return {sha256_hex(e.manifest), "test sm_90", e};
}

std::vector<BundleEntry> entries(int n) {
  std::vector<BundleEntry> out;
  for (int i = 0; i < n; ++i) out.push_back(entry(i));
  return out;
}

std::string message_of(const std::string& bytes) {
  try {
    decode_bundle(bytes, "b.qjb");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// `bytes` with its trailing checksum recomputed (so a later check is what fails).
std::string resealed(std::string bytes) {
  bytes.resize(bytes.size() - 32);
  const std::string hex = sha256_hex(bytes);
  for (std::size_t i = 0; i < 32; ++i) bytes.push_back(static_cast<char>(std::stoi(hex.substr(2 * i, 2), nullptr, 16)));
  return bytes;
}

// The bundle of `list` with its index replaced by `index` (resealed).
std::string with_index(const std::vector<BundleEntry>& list, const nlohmann::json& index) {
  const std::string b = encode_bundle(list);
  std::uint64_t len = 0;
  for (int i = 0; i < 8; ++i) len |= static_cast<std::uint64_t>(static_cast<unsigned char>(b[12 + i])) << (8 * i);
  const std::string text = index.dump();
  std::string out = b.substr(0, 12);
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((text.size() >> (8 * i)) & 0xff));
  out += text;
  out += b.substr(20 + len);
  return resealed(out);
}

TEST(Bundle, EntriesRoundTrip) {
  const auto list = entries(5);
  const auto back = decode_bundle(encode_bundle(list), "b.qjb");
  ASSERT_EQ(back.size(), list.size());
  for (std::size_t i = 0; i < list.size(); ++i) {
    EXPECT_EQ(back[i].key, list[i].key);
    EXPECT_EQ(back[i].summary, list[i].summary);
    EXPECT_EQ(back[i].entry, list[i].entry);
  }
  EXPECT_TRUE(decode_bundle(encode_bundle({}), "b.qjb").empty());
}

TEST(Bundle, EncodingRefusesAWrongKeyOrATwiceListedOne) {
  auto bad = entries(1);
  bad[0].key = std::string(64, '0');
  EXPECT_THROW(encode_bundle(bad), Error);
  auto twice = entries(1);
  twice.push_back(twice[0]);
  EXPECT_THROW(encode_bundle(twice), Error);
}

TEST(Bundle, EveryDamageIsAClearError) {
  const auto list = entries(3);
  const std::string good = encode_bundle(list);
  std::string magic = good;
  magic[0] = 'X';
  EXPECT_NE(message_of(magic).find("not a qjit bundle"), std::string::npos) << message_of(magic);
  std::string version = good;
  version[8] = 9;
  EXPECT_NE(message_of(resealed(version)).find("bundle format 9"), std::string::npos);
  std::string flipped = good;
  flipped[good.size() / 2] ^= 1;
  EXPECT_NE(message_of(flipped).find("checksum does not match"), std::string::npos) << message_of(flipped);
  EXPECT_NE(message_of(good.substr(0, good.size() - 10)).find("checksum"), std::string::npos);
  EXPECT_NE(message_of(good.substr(0, 10)).find("not a qjit bundle"), std::string::npos);

  nlohmann::json index = {{"format", "qjit-bundle"}, {"version", 1}, {"entries", nlohmann::json::array()}};
  index["entries"].push_back({{"key", list[0].key}, {"offset", 1u << 30}, {"size", 10}});
  EXPECT_NE(message_of(with_index(list, index)).find("outside the bundle"), std::string::npos)
      << message_of(with_index(list, index));
  index["entries"] = {{{"key", list[0].key}, {"offset", 0}, {"size", 5}}};
  EXPECT_NE(message_of(with_index(list, index)).find("is damaged"), std::string::npos);
  const std::string b0 = encode_entry(list[0].entry);
  index["entries"] = {{{"key", list[0].key}, {"offset", 0}, {"size", b0.size()}},
                      {{"key", list[0].key}, {"offset", 0}, {"size", b0.size()}}};
  EXPECT_NE(message_of(with_index(list, index)).find("listed twice"), std::string::npos);
  index["entries"] = {{{"key", list[1].key}, {"offset", 0}, {"size", b0.size()}}};
  EXPECT_NE(message_of(with_index(list, index)).find("not its manifest's key"), std::string::npos);
  index["entries"] = {{{"key", "../../etc/passwd"}, {"offset", 0}, {"size", b0.size()}}};
  EXPECT_NE(message_of(with_index(list, index)).find("not a sha256"), std::string::npos);
  index["entries"] = {{{"key", list[0].key}, {"offset", -1}, {"size", b0.size()}}};
  EXPECT_NE(message_of(with_index(list, index)).find("lacks"), std::string::npos);
  EXPECT_NE(message_of(with_index(list, nlohmann::json::array())).find("not a qjit bundle index"), std::string::npos);
  // Fields of the wrong JSON type are qjit errors too, never JSON exceptions.
  nlohmann::json typed = {{"format", 1}, {"version", 1}, {"entries", nlohmann::json::array()}};
  EXPECT_NE(message_of(with_index(list, typed)).find("not a qjit bundle index"), std::string::npos);
  typed = {{"format", "qjit-bundle"}, {"entries", {{{"key", list[0].key}, {"offset", "0"}, {"size", b0.size()}}}}};
  EXPECT_NE(message_of(with_index(list, typed)).find("lacks"), std::string::npos);
  typed["entries"] = {{{"key", list[0].key}, {"offset", 0}, {"size", b0.size()}, {"summary", 5}}};
  EXPECT_EQ(message_of(with_index(list, typed)), "") << "a summary of another type is dropped";
  // An offset and size that wrap around 2^64.
  index["entries"] = {{{"key", list[0].key}, {"offset", 1}, {"size", ~std::uint64_t{0}}}};
  EXPECT_NE(message_of(with_index(list, index)).find("outside the bundle"), std::string::npos);
}

TEST(Bundle, FilesAreWrittenAtomicallyAndReadOnlyWhenTrusted) {
  TempDir dir;
  const auto list = entries(2);
  const auto path = dir.path() / "b.qjb";
  write_bundle(path, list);
  EXPECT_EQ(read_bundle(path).size(), 2u);
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    EXPECT_EQ(e.path().filename(), "b.qjb") << "no temporary file is left";
  }
  ::chmod(path.c_str(), 0666);
  EXPECT_THROW(read_bundle(path), Error);
  ::chmod(path.c_str(), 0600);
  std::filesystem::create_symlink(path, dir.path() / "link.qjb");
  EXPECT_THROW(read_bundle(dir.path() / "link.qjb"), Error);
  EXPECT_THROW(read_bundle(dir.path()), Error);
  EXPECT_THROW(read_bundle(dir.path() / "missing.qjb"), Error);
  EXPECT_THROW(write_bundle(dir.path() / "no" / "such" / "b.qjb", list), Error);
  // A write that fails (here: the target is a directory) keeps what was there and leaves no
  // temporary file.
  std::filesystem::create_directory(dir.path() / "taken");
  EXPECT_THROW(write_bundle(dir.path() / "taken", list), Error);
  EXPECT_TRUE(std::filesystem::is_directory(dir.path() / "taken"));
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();
  }
  // A FIFO is refused without blocking.
  ASSERT_EQ(::mkfifo((dir.path() / "fifo.qjb").c_str(), 0600), 0);
  EXPECT_THROW(read_bundle(dir.path() / "fifo.qjb"), Error);
}

TEST(Bundle, ImportStoresEachEntryOnce) {
  TempDir dir;
  Options o;
  o.dir = dir.path() / "cache";
  DiskCache disk(o);
  const auto list = entries(3);
  const ImportResult first = import_bundle(disk, list);
  EXPECT_EQ(first.imported, 3u);
  EXPECT_EQ(first.present, 0u);
  const ImportResult again = import_bundle(disk, list);
  EXPECT_EQ(again.imported, 0u);
  EXPECT_EQ(again.present, 3u);
  for (const auto& e : list) {
    const auto r = disk.load(e.key, e.entry.manifest);
    ASSERT_EQ(r.status, LoadStatus::kHit);
    EXPECT_EQ(*r.entry, e.entry);
  }
}

}  // namespace
}  // namespace qjit::cache::testing
