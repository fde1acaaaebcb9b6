// Safetensors I/O: round trips of every dtype and odd shapes, metadata, get_single, a golden
// file written byte for byte from the format's description, atomic saves, and every kind of
// malformed file, each rejected with a qjit::Error naming the file, the tensor and the
// problem. Every file is read both through mmap and through the read fallback.

#include "runtime/safetensors.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <optional>
#include <random>
#include <sstream>

#include "common/error.hpp"
#include "fake_driver.hpp"

namespace qjit {
namespace {

namespace fs = std::filesystem;
using Access = SafetensorsFile::Access;

constexpr std::array kAccesses = {Access::kMap, Access::kRead};
constexpr std::array kTensorDTypes = {DType::kF32, DType::kF16, DType::kBF16, DType::kE4M3,
                                      DType::kE5M2, DType::kI8,  DType::kI32};

std::string le64(std::uint64_t v) {
  std::string s(8, '\0');
  std::memcpy(s.data(), &v, sizeof v);
  return s;
}

// A file as the format lays it out: length, header, data.
std::string file_bytes(std::string_view header, std::string_view data = {}) {
  return le64(header.size()) + std::string(header) + std::string(data);
}

std::string tensor_bytes(const Tensor& t) {
  const Tensor c = t.to(Device::cpu()).contiguous();
  return std::string(static_cast<const char*>(c.raw_data_ptr()), c.nbytes());
}

// Deterministic arbitrary bytes (NaN and Inf patterns included: they round trip as bits).
Tensor random_tensor(std::vector<std::int64_t> shape, DType dtype, std::uint32_t seed) {
  std::int64_t numel = 1;
  for (const std::int64_t d : shape) numel *= d;
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(numel) * dtype_size(dtype));
  std::mt19937 rng(seed);
  for (auto& b : bytes) b = static_cast<std::uint8_t>(rng());
  return Tensor::from_raw(std::move(shape), dtype, bytes.data());
}

void expect_same_tensor(const Tensor& got, const Tensor& want, const std::string& what) {
  EXPECT_EQ(got.dtype(), want.dtype()) << what;
  EXPECT_EQ(got.shape(), want.shape()) << what;
  EXPECT_TRUE(got.device().is_host()) << what;
  EXPECT_TRUE(got.is_contiguous()) << what;
  EXPECT_EQ(tensor_bytes(got), tensor_bytes(want)) << what;
}

class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "qjit_safetensors_XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path write(const std::string& name, std::string_view bytes) const {
    const fs::path p = dir_ / name;
    std::ofstream(p, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return p;
  }
  static std::string read(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  }
  std::vector<std::string> dir_entries() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir_)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }

  // `bytes` must be refused by both access paths with a safetensors error naming the file
  // and containing every one of `parts`.
  void expect_rejected(std::string_view bytes, std::initializer_list<std::string_view> parts) {
    const fs::path p = write("bad.safetensors", bytes);
    for (const Access access : kAccesses) {
      SCOPED_TRACE(access == Access::kMap ? "mmap" : "read");
      try {
        SafetensorsFile::open(p, access);
        ADD_FAILURE() << "accepted a malformed file";
      } catch (const Error& e) {
        EXPECT_EQ(e.subsystem(), "safetensors");
        EXPECT_NE(e.message().find(p.string()), std::string::npos) << e.message();
        for (const std::string_view part : parts) {
          EXPECT_NE(e.message().find(part), std::string::npos) << "no \"" << part << "\" in: " << e.message();
        }
      }
    }
  }

  fs::path dir_;
};

// --- round trips ---------------------------------------------------------------------------

TEST_F(SafetensorsTest, RoundTripsEveryDTypeWithOddShapes) {
  const std::vector<std::vector<std::int64_t>> shapes = {{}, {0}, {1}, {7}, {3, 5}, {2, 0, 3}, {2, 3, 1, 5}, {1, 1, 1}};
  std::vector<std::pair<std::string, Tensor>> tensors;
  std::uint32_t seed = 1;
  for (const DType dtype : kTensorDTypes) {
    for (std::size_t i = 0; i < shapes.size(); ++i) {
      tensors.emplace_back(fmt::format("{}.{}", dtype_name(dtype), i), random_tensor(shapes[i], dtype, seed++));
    }
  }
  const fs::path p = dir_ / "all.safetensors";
  save_safetensors(p, tensors);
  for (const Access access : kAccesses) {
    const SafetensorsFile f = SafetensorsFile::open(p, access);
    EXPECT_EQ(f.memory_mapped(), access == Access::kMap);
    ASSERT_EQ(f.size(), tensors.size());
    std::uint64_t offset = 0;
    for (std::size_t i = 0; i < tensors.size(); ++i) {
      const auto& [name, want] = tensors[i];
      EXPECT_EQ(f.names()[i], name);  // file order is the order given
      ASSERT_TRUE(f.has(name));
      const SafetensorsTensorInfo& info = f.info(name);
      EXPECT_EQ(info.dtype, safetensors_dtype_name(want.dtype()));
      EXPECT_EQ(info.tensor_dtype, want.dtype());
      EXPECT_EQ(info.shape, want.shape());
      EXPECT_EQ(info.nbytes, want.nbytes());
      EXPECT_EQ(info.data_begin, offset);  // data offsets increase in order
      offset += want.nbytes();
      expect_same_tensor(f.get(name), want, name);
      EXPECT_EQ(f.bytes(name).size(), want.nbytes());
    }
    EXPECT_FALSE(f.has("F32.99"));
    EXPECT_TRUE(f.metadata().empty());
  }
}

TEST_F(SafetensorsTest, EachDTypeAloneAndTheScalarOfEach) {
  for (const DType dtype : kTensorDTypes) {
    const Tensor scalar = random_tensor({}, dtype, 7);
    const fs::path p = dir_ / fmt::format("{}.safetensors", dtype_name(dtype));
    save_safetensors(p, {{"x", scalar}});
    const std::string bytes = read(p);
    // Length field, header padded to 8, then exactly one element.
    ASSERT_GE(bytes.size(), 8u);
    std::uint64_t n = 0;
    std::memcpy(&n, bytes.data(), 8);
    EXPECT_EQ(n % 8, 0u);
    EXPECT_EQ(bytes.size(), 8 + n + dtype_size(dtype));
    expect_same_tensor(SafetensorsFile::open(p).get_single(), scalar, std::string(dtype_name(dtype)));
  }
}

TEST_F(SafetensorsTest, SavesStridedAndDeviceTensorsAsContiguousCpuData) {
  const Tensor base = random_tensor({3, 4}, DType::kF32, 3);
  const Tensor transposed = base.transpose(0, 1);  // [4, 3], not contiguous
  ASSERT_FALSE(transposed.is_contiguous());
  auto driver = std::make_shared<test_support::FakeDriver>(Device::sim());
  const Tensor on_device = random_tensor({5, 2}, DType::kBF16, 4).to(Device::sim(), driver);

  const fs::path p = dir_ / "mixed.safetensors";
  save_safetensors(p, {{"t", transposed}, {"d", on_device}});
  const SafetensorsFile f = SafetensorsFile::open(p);
  expect_same_tensor(f.get("t"), transposed.contiguous(), "t");
  expect_same_tensor(f.get("d"), on_device.to(Device::cpu()), "d");
}

TEST_F(SafetensorsTest, MetadataRoundTrips) {
  const std::map<std::string, std::string> metadata = {
      {"format", "pt"},
      {"empty", ""},
      {"quote\"and\\slash", "line\nbreak\ttab"},
      {"unicode", "h\xc3\xa9llo \xe2\x9c\x93"}};
  const fs::path p = dir_ / "meta.safetensors";
  save_safetensors(p, {{"w", random_tensor({2}, DType::kF32, 5)}}, metadata);
  for (const Access access : kAccesses) {
    const SafetensorsFile f = SafetensorsFile::open(p, access);
    EXPECT_EQ(f.metadata(), metadata);
    EXPECT_EQ(f.names(), std::vector<std::string>{"w"});  // "__metadata__" is no tensor
  }
  // No metadata: no "__metadata__" key at all, as the reference writes it.
  save_safetensors(p, {{"w", random_tensor({2}, DType::kF32, 5)}});
  EXPECT_EQ(read(p).find("__metadata__"), std::string::npos);
  // A null metadata value is read as none (the reference's Option).
  const fs::path q = write("null_meta.safetensors", file_bytes(R"({"__metadata__":null})"));
  EXPECT_TRUE(SafetensorsFile::open(q).metadata().empty());
}

TEST_F(SafetensorsTest, EmptyFileOfNoTensors) {
  const fs::path p = dir_ / "empty.safetensors";
  save_safetensors(p, {});
  EXPECT_EQ(read(p), le64(8) + "{}      ");
  const SafetensorsFile f = SafetensorsFile::open(p);
  EXPECT_EQ(f.size(), 0u);
}

// --- golden bytes ---------------------------------------------------------------------------

// The file spelled out from the format's description: little-endian u64 header length; the
// compact JSON header (metadata first, then the tensors in order, each with dtype, shape,
// data_offsets), padded with spaces to a multiple of 8; the row-major little-endian data.
// 139 bytes of JSON + 5 spaces = 144 = 0x90.
const std::string kGolden = std::string("\x90\x00\x00\x00\x00\x00\x00\x00", 8) +
                            R"({"__metadata__":{"format":"qjit"},)"
                            R"("w":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},)"
                            R"("s":{"dtype":"I32","shape":[],"data_offsets":[4,8]}})"
                            "     " +
                            std::string("\x00\x3c\x00\xc0"  // f16 1.0, -2.0
                                        "\x07\x00\x00\x00",  // i32 7
                                        8);

TEST_F(SafetensorsTest, WritesTheGoldenFileByteForByte) {
  const std::vector<float> w = {1.0f, -2.0f};
  const std::vector<std::int64_t> s = {7};
  const fs::path p = dir_ / "golden.safetensors";
  save_safetensors(p, {{"w", Tensor::from_f32({2}, w, DType::kF16)}, {"s", Tensor::from_i64({}, s, DType::kI32)}},
                   {{"format", "qjit"}});
  EXPECT_EQ(read(p), kGolden);
}

TEST_F(SafetensorsTest, ReadsTheGoldenFile) {
  const fs::path p = write("golden.safetensors", kGolden);
  for (const Access access : kAccesses) {
    const SafetensorsFile f = SafetensorsFile::open(p, access);
    EXPECT_EQ(f.names(), (std::vector<std::string>{"w", "s"}));
    EXPECT_EQ(f.metadata(), (std::map<std::string, std::string>{{"format", "qjit"}}));
    EXPECT_EQ(f.get("w").to_f32_vector(), (std::vector<float>{1.0f, -2.0f}));
    const Tensor s = f.get("s");
    EXPECT_EQ(s.dim(), 0);
    EXPECT_EQ(s.dtype(), DType::kI32);
    EXPECT_EQ(s.item_f32(), 7.0f);
  }
}

TEST_F(SafetensorsTest, ReadsUnpaddedHeadersAndUnalignedData) {
  // Other writers need not pad: the data may start at any byte. Whitespace around the
  // object is valid JSON. Tensors may be listed out of data order.
  const float values[3] = {0.5f, -1.25f, 3.0f};
  const std::string data = std::string("\x2a", 1) + std::string(reinterpret_cast<const char*>(values), 12);
  const std::string header =
      R"( {"b":{"dtype":"F32","shape":[3],"data_offsets":[1,13]},)"
      R"("a":{"dtype":"I8","shape":[1],"data_offsets":[0,1]}}  )";
  ASSERT_NE(header.size() % 8, 0u);
  const fs::path p = write("unaligned.safetensors", file_bytes(header, data));
  for (const Access access : kAccesses) {
    const SafetensorsFile f = SafetensorsFile::open(p, access);
    EXPECT_EQ(f.names(), (std::vector<std::string>{"b", "a"}));  // header order
    EXPECT_EQ(f.get("b").to_f32_vector(), (std::vector<float>{0.5f, -1.25f, 3.0f}));
    EXPECT_EQ(f.get("a").to_f32_vector(), (std::vector<float>{42.0f}));
  }
}

// --- get_single, missing names, unsupported dtypes -------------------------------------------

TEST_F(SafetensorsTest, GetSingleReadsTheOnlyTensorWhateverItsName) {
  const Tensor t = random_tensor({3, 2}, DType::kBF16, 9);
  const fs::path one = dir_ / "one.safetensors";
  save_safetensors(one, {{"model.blocks.0.weight", t}});
  expect_same_tensor(SafetensorsFile::open(one).get_single(), t, "single");

  const fs::path two = dir_ / "two.safetensors";
  save_safetensors(two, {{"alpha", t}, {"beta", t}});
  try {
    SafetensorsFile::open(two).get_single();
    ADD_FAILURE() << "get_single accepted two tensors";
  } catch (const Error& e) {
    EXPECT_EQ(e.subsystem(), "safetensors");
    for (const std::string_view part : {two.string(), std::string("exactly one"), std::string("found 2"),
                                        std::string("'alpha'"), std::string("'beta'")}) {
      EXPECT_NE(e.message().find(part), std::string::npos) << e.message();
    }
  }

  const fs::path none = dir_ / "none.safetensors";
  save_safetensors(none, {});
  EXPECT_THROW(SafetensorsFile::open(none).get_single(), Error);
}

TEST_F(SafetensorsTest, MissingTensorIsNamedWithTheFilesNames) {
  const fs::path p = dir_ / "names.safetensors";
  save_safetensors(p, {{"x", random_tensor({1}, DType::kF32, 1)}, {"y", random_tensor({1}, DType::kF32, 2)}});
  const SafetensorsFile f = SafetensorsFile::open(p);
  for (const auto& call : std::vector<std::function<void()>>{[&] { f.get("z"); }, [&] { f.info("z"); },
                                                             [&] { f.bytes("z"); }}) {
    try {
      call();
      ADD_FAILURE() << "found a missing tensor";
    } catch (const Error& e) {
      EXPECT_EQ(e.subsystem(), "safetensors");
      EXPECT_NE(e.message().find(p.string()), std::string::npos) << e.message();
      EXPECT_NE(e.message().find("no tensor 'z'"), std::string::npos) << e.message();
      EXPECT_NE(e.message().find("'x', 'y'"), std::string::npos) << e.message();
    }
  }
}

TEST_F(SafetensorsTest, UnsupportedDTypesAreListedButNotLoaded) {
  struct Case {
    const char* dtype;
    std::uint64_t size;
  };
  const std::vector<Case> cases = {{"U8", 1}, {"I16", 2}, {"I64", 8}, {"F64", 8}, {"BOOL", 1},
                                   {"U16", 2}, {"U32", 4}, {"U64", 8}, {"F8_E8M0", 1}};
  std::string header = "{";
  std::string data;
  for (const Case& c : cases) {
    const std::uint64_t n = 3 * c.size;
    header += fmt::format(R"({}"t_{}":{{"dtype":"{}","shape":[3],"data_offsets":[{},{}]}})",
                          header.size() > 1 ? "," : "", c.dtype, c.dtype, data.size(), data.size() + n);
    for (std::uint64_t i = 0; i < n; ++i) data.push_back(static_cast<char>(i + 1));
  }
  header += "}";
  const fs::path p = write("unsupported.safetensors", file_bytes(header, data));
  for (const Access access : kAccesses) {
    const SafetensorsFile f = SafetensorsFile::open(p, access);
    ASSERT_EQ(f.size(), cases.size());
    for (const Case& c : cases) {
      const std::string name = fmt::format("t_{}", c.dtype);
      const SafetensorsTensorInfo& info = f.info(name);
      EXPECT_EQ(info.dtype, c.dtype);
      EXPECT_FALSE(info.tensor_dtype.has_value());
      EXPECT_EQ(info.shape, std::vector<std::int64_t>{3});
      EXPECT_EQ(info.nbytes, 3 * c.size);
      const auto raw = f.bytes(name);
      ASSERT_EQ(raw.size(), 3 * c.size);
      EXPECT_EQ(std::to_integer<int>(raw[0]), 1);
      try {
        f.get(name);
        ADD_FAILURE() << "loaded " << c.dtype;
      } catch (const Error& e) {
        EXPECT_EQ(e.subsystem(), "safetensors");
        EXPECT_NE(e.message().find(fmt::format("tensor '{}' has dtype {}", name, c.dtype)), std::string::npos)
            << e.message();
        EXPECT_NE(e.message().find("not support"), std::string::npos) << e.message();
      }
    }
  }
}

TEST_F(SafetensorsTest, ZeroSizeTensorTooLargeForATensorIsAnErrorOnGet) {
  // Valid in the format (it holds no bytes) but its shape overflows a Tensor's element count.
  const fs::path p = write(
      "huge_empty.safetensors",
      file_bytes(R"({"e":{"dtype":"F32","shape":[4611686018427387904,4611686018427387904,0],"data_offsets":[0,0]}})"));
  const SafetensorsFile f = SafetensorsFile::open(p);
  EXPECT_EQ(f.info("e").nbytes, 0u);
  try {
    f.get("e");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.subsystem(), "safetensors");
    EXPECT_NE(e.message().find("tensor 'e'"), std::string::npos) << e.message();
  }
}

// --- writing --------------------------------------------------------------------------------

TEST_F(SafetensorsTest, SaveReplacesAtomicallyAndLeavesNoTemporaryFile) {
  const fs::path p = dir_ / "model.safetensors";
  save_safetensors(p, {{"a", random_tensor({4}, DType::kF32, 1)}});
  const Tensor b = random_tensor({2, 2}, DType::kI8, 2);
  save_safetensors(p, {{"b", b}});
  EXPECT_EQ(dir_entries(), std::vector<std::string>{"model.safetensors"});
  const SafetensorsFile f = SafetensorsFile::open(p);
  EXPECT_EQ(f.names(), std::vector<std::string>{"b"});
  expect_same_tensor(f.get("b"), b, "b");
}

TEST_F(SafetensorsTest, FailedSaveKeepsTheOldFile) {
  const fs::path p = dir_ / "model.safetensors";
  save_safetensors(p, {{"a", random_tensor({4}, DType::kF32, 1)}});
  const std::string before = read(p);

  // A device whose copies to the host fail: the error comes after the temporary file exists.
  struct BrokenDriver : test_support::FakeDriver {
    void copy_to_host(void*, DevicePtr, std::size_t) override { throw std::runtime_error("device lost"); }
  };
  const Tensor on_device = random_tensor({4}, DType::kF32, 2).to(Device::sim(), std::make_shared<BrokenDriver>());
  EXPECT_THROW(save_safetensors(p, {{"ok", random_tensor({2}, DType::kF32, 3)}, {"bad", on_device}}),
               std::runtime_error);
  EXPECT_EQ(read(p), before);
  EXPECT_EQ(dir_entries(), std::vector<std::string>{"model.safetensors"});
}

// The rename would replace a FIFO or device node with a regular file (as root, --out
// /dev/null would replace /dev/null): such a destination is refused and left as it is.
TEST_F(SafetensorsTest, SaveNeverReplacesASpecialFile) {
  const fs::path fifo = dir_ / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  try {
    save_safetensors(fifo, {{"a", random_tensor({4}, DType::kF32, 1)}});
    ADD_FAILURE() << "saved over a FIFO";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("not a regular file"), std::string::npos) << e.message();
  }
  EXPECT_TRUE(fs::is_fifo(fifo));
  EXPECT_EQ(dir_entries(), std::vector<std::string>{"fifo"});
}

TEST_F(SafetensorsTest, SaveRejectsBadInputsBeforeWriting) {
  const fs::path p = dir_ / "x.safetensors";
  const Tensor t = random_tensor({2}, DType::kF32, 1);
  auto expect_refused = [&](const fs::path& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                            std::string_view part) {
    try {
      save_safetensors(path, tensors);
      ADD_FAILURE() << "saved: " << part;
    } catch (const Error& e) {
      EXPECT_EQ(e.subsystem(), "safetensors");
      EXPECT_NE(e.message().find(path.string()), std::string::npos) << e.message();
      EXPECT_NE(e.message().find(part), std::string::npos) << e.message();
    }
  };
  expect_refused(p, {{"a", t}, {"a", t}}, "tensor 'a' is given twice");
  expect_refused(p, {{"__metadata__", t}}, "not a tensor name");
  expect_refused(p, {{"u", Tensor()}}, "tensor 'u' is undefined");
  expect_refused(p, {{"\xff", t}}, "not valid UTF-8");
  expect_refused(dir_ / "no_such_dir" / "x.safetensors", {{"a", t}}, "temporary file");
  EXPECT_TRUE(dir_entries().empty());
}

// --- files that cannot be opened ---------------------------------------------------------------

TEST_F(SafetensorsTest, MissingFileAndDirectoryAreErrors) {
  const fs::path missing = dir_ / "missing.safetensors";
  try {
    SafetensorsFile::open(missing);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.subsystem(), "safetensors");
    EXPECT_NE(e.message().find(missing.string()), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("cannot open"), std::string::npos) << e.message();
  }
  try {
    SafetensorsFile::open(dir_);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("not a regular file"), std::string::npos) << e.message();
  }
}

// --- malformed files ----------------------------------------------------------------------------

// One valid entry to build malformed files around: 2 x F32 at [0, 8).
constexpr std::string_view kEntryA = R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
const std::string kData8(8, '\x11');

TEST_F(SafetensorsTest, RejectsTruncatedFiles) {
  expect_rejected("", {"0 bytes", "shorter than the 8-byte header length"});
  expect_rejected(std::string_view("\x05\x00\x00", 3), {"3 bytes", "shorter than the 8-byte header length"});
  // The header promises 100 bytes; 20 follow.
  expect_rejected(le64(100) + std::string(20, ' '), {"header length 100", "exceeds the 20 bytes", "truncated"});
  // The data stops short of the offsets.
  const std::string header = "{" + std::string(kEntryA) + "}";
  expect_rejected(file_bytes(header, kData8.substr(0, 5)),
                  {"tensor 'a'", "data_offsets [0, 8]", "past the end of the 5-byte data buffer"});
}

TEST_F(SafetensorsTest, RejectsAbsurdHeaderLengths) {
  expect_rejected(le64(kSafetensorsMaxHeaderBytes + 1) + "{}", {"header length 100000001", "limit"});
  expect_rejected(le64(~std::uint64_t{0}) + "{}", {"header length 18446744073709551615", "limit"});
  expect_rejected(le64(1ull << 40) + "{}", {"limit"});
}

TEST_F(SafetensorsTest, RejectsHeadersThatAreNotAJsonObject) {
  expect_rejected(file_bytes("{not json}"), {"not valid JSON"});
  expect_rejected(file_bytes(R"({"a":)"), {"not valid JSON"});
  // NUL padding is not whitespace (and would end the input early for some parsers).
  expect_rejected(file_bytes(std::string_view("{}\x00\x00", 4)), {"NUL byte"});
  expect_rejected(file_bytes(std::string_view("{}\x00{\"a\":3}", 10)), {"NUL byte"});
  expect_rejected(file_bytes(R"({"a":1} // comment)"), {"not valid JSON"});
  expect_rejected(file_bytes("{\"\xff\xfe\":1}"), {"not valid JSON"});  // invalid UTF-8
  expect_rejected(file_bytes(""), {"not valid JSON"});
  expect_rejected(file_bytes("[1,2]"), {"the header is a JSON array, not an object"});
  expect_rejected(file_bytes(R"("text")"), {"the header is a JSON string, not an object"});
  expect_rejected(file_bytes("42"), {"the header is a JSON number, not an object"});
}

TEST_F(SafetensorsTest, RejectsMalformedEntries) {
  struct Case {
    std::string entry;
    std::vector<std::string_view> parts;
  };
  const std::vector<Case> cases = {
      {R"("a":3)", {"tensor 'a'", "the entry is a JSON number, not an object"}},
      {R"("a":{"shape":[2],"data_offsets":[0,8]})", {"tensor 'a'", "no \"dtype\""}},
      {R"("a":{"dtype":"F32","data_offsets":[0,8]})", {"tensor 'a'", "no \"shape\""}},
      {R"("a":{"dtype":"F32","shape":[2]})", {"tensor 'a'", "no \"data_offsets\""}},
      {R"("a":{"dtype":"F7","shape":[2],"data_offsets":[0,8]})", {"tensor 'a'", "unknown dtype \"F7\"", "F8_E4M3"}},
      {R"("a":{"dtype":"f32","shape":[2],"data_offsets":[0,8]})", {"tensor 'a'", "unknown dtype \"f32\""}},
      {R"("a":{"dtype":4,"shape":[2],"data_offsets":[0,8]})", {"tensor 'a'", "\"dtype\" is 4, not a string"}},
      {R"("a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]})", {"tensor 'a'", "shape[0] is -2, a negative"}},
      {R"("a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]})",
       {"tensor 'a'", "shape[0]", "not a non-negative integer"}},
      {R"("a":{"dtype":"F32","shape":[1,1.5],"data_offsets":[0,8]})", {"tensor 'a'", "shape[1] is 1.5"}},
      {R"("a":{"dtype":"F32","shape":["2"],"data_offsets":[0,8]})", {"tensor 'a'", "shape[0] is \"2\""}},
      {R"("a":{"dtype":"F32","shape":2,"data_offsets":[0,8]})", {"tensor 'a'", "\"shape\" is 2, not an array"}},
      {R"("a":{"dtype":"F32","shape":[9223372036854775808],"data_offsets":[0,8]})", {"tensor 'a'", "too large"}},
      {R"("a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]})",
       {"tensor 'a'", "more than 2^64 bytes"}},
      {R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0]})", {"tensor 'a'", "not an array [begin, end]"}},
      {R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8,8]})", {"tensor 'a'", "not an array [begin, end]"}},
      {R"("a":{"dtype":"F32","shape":[2],"data_offsets":{"0":8}})", {"tensor 'a'", "not an array [begin, end]"}},
      {R"("a":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]})", {"tensor 'a'", "data_offsets[0] is -8"}},
      {R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8.0]})",
       {"tensor 'a'", "data_offsets[1]", "not a non-negative"}},
      {R"("a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]})", {"tensor 'a'", "[8, 0]", "begin after they end"}},
      // Offsets not matching shape * dtype size, in both directions.
      {R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]})", {"tensor 'a'", "hold 4 bytes", "F32 takes 8"}},
      {R"("a":{"dtype":"F16","shape":[2],"data_offsets":[0,8]})", {"tensor 'a'", "hold 8 bytes", "F16 takes 4"}},
      // Offsets past the data (and past any sane size).
      {R"("a":{"dtype":"U8","shape":[8],"data_offsets":[18446744073709551607,18446744073709551615]})",
       {"tensor 'a'", "past the end of the 8-byte data buffer"}},
      // A key twice inside an entry.
      {R"("a":{"dtype":"F32","dtype":"F16","shape":[2],"data_offsets":[0,8]})",
       {"tensor 'a'", "key \"dtype\" appears twice"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.entry);
    const std::string header = "{" + c.entry + "}";
    const fs::path p = write("bad.safetensors", file_bytes(header, kData8));
    for (const Access access : kAccesses) {
      try {
        SafetensorsFile::open(p, access);
        ADD_FAILURE() << "accepted";
      } catch (const Error& e) {
        EXPECT_EQ(e.subsystem(), "safetensors");
        EXPECT_NE(e.message().find(p.string()), std::string::npos) << e.message();
        for (const std::string_view part : c.parts) {
          EXPECT_NE(e.message().find(part), std::string::npos) << "no \"" << part << "\" in: " << e.message();
        }
      }
    }
  }
}

TEST_F(SafetensorsTest, RejectsBadLayouts) {
  // Overlapping tensors: b starts inside a.
  expect_rejected(file_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                             R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                             std::string(12, '\0')),
                  {"tensor 'b'", "bytes [4, 12) overlap tensor 'a' at [0, 8)"});
  // The same bytes twice.
  expect_rejected(file_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                             R"("b":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}})",
                             kData8),
                  {"overlap tensor"});
  // An empty tensor inside another one.
  expect_rejected(file_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                             R"("z":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}})",
                             kData8),
                  {"tensor 'z'", "overlap tensor 'a'"});
  // A hole between tensors.
  expect_rejected(file_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                             R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                             std::string(12, '\0')),
                  {"tensor 'b'", "bytes [4, 8) before it belong to no tensor"});
  // Bytes after the last tensor.
  expect_rejected(file_bytes("{" + std::string(kEntryA) + "}", kData8 + "xyz"),
                  {"3 bytes after the last tensor's data belong to no tensor"});
  expect_rejected(file_bytes("{}", "x"), {"1 bytes after the last tensor"});
}

TEST_F(SafetensorsTest, RejectsDuplicateNames) {
  expect_rejected(file_bytes("{" + std::string(kEntryA) + "," + std::string(kEntryA) + "}", kData8),
                  {"tensor 'a'", "appears twice"});
  expect_rejected(file_bytes(R"({"__metadata__":{},"__metadata__":{}})"), {"\"__metadata__\" appears twice"});
  expect_rejected(file_bytes(R"({"__metadata__":{"k":"1","k":"2"}})"), {"key 'k' appears twice"});
}

TEST_F(SafetensorsTest, RejectsBadMetadata) {
  expect_rejected(file_bytes(R"({"__metadata__":["x"]})"), {"\"__metadata__\" is a JSON array"});
  expect_rejected(file_bytes(R"({"__metadata__":{"epoch":3}})"), {"value of 'epoch' is 3, not a string"});
  expect_rejected(file_bytes(R"({"__metadata__":{"nested":{"a":"b"}}})"), {"value of 'nested'", "not a string"});
  expect_rejected(file_bytes(R"({"__metadata__":{"nested":{"a":["b"]}}})"), {"deeper"});
}

TEST_F(SafetensorsTest, RejectsDeepNestingWithoutBuildingIt) {
  // A 1 MB header of nested arrays: parsed without recursion and never built.
  const std::size_t depth = 500'000;
  const std::string header = R"({"a":)" + std::string(depth, '[') + std::string(depth, ']') + "}";
  expect_rejected(file_bytes(header), {"deeper"});
}

TEST_F(SafetensorsTest, EveryPrefixOfAValidFileIsRejectedCleanly) {
  // Truncation at every byte: never a crash, always a safetensors error.
  const fs::path src = dir_ / "src.safetensors";
  save_safetensors(src, {{"a", random_tensor({3}, DType::kF32, 1)}, {"b", random_tensor({2, 2}, DType::kBF16, 2)}},
                   {{"k", "v"}});
  const std::string whole = read(src);
  for (std::size_t n = 0; n < whole.size(); ++n) {
    const fs::path p = write("prefix.safetensors", std::string_view(whole).substr(0, n));
    for (const Access access : kAccesses) {
      try {
        SafetensorsFile::open(p, access);
        ADD_FAILURE() << "accepted a prefix of " << n << " bytes";
      } catch (const Error& e) {
        EXPECT_EQ(e.subsystem(), "safetensors") << n;
      }
    }
  }
}

TEST_F(SafetensorsTest, RandomCorruptionsAreErrorsOrValidFiles) {
  // Bytes flipped anywhere (length, header, data): either a file that still validates, whose
  // every tensor then loads or is refused with an Error, or a safetensors Error; never a crash.
  const fs::path src = dir_ / "src.safetensors";
  save_safetensors(src, {{"a", random_tensor({3}, DType::kF32, 1)}, {"b", random_tensor({2, 2}, DType::kE4M3, 2)}},
                   {{"k", "v"}});
  const std::string whole = read(src);
  std::mt19937 rng(1234);
  int accepted = 0;
  for (int iter = 0; iter < 200; ++iter) {
    std::string bytes = whole;
    const int flips = 1 + static_cast<int>(rng() % 3);
    for (int i = 0; i < flips; ++i) bytes[rng() % bytes.size()] = static_cast<char>(rng());
    const fs::path p = write("fuzz.safetensors", bytes);
    for (const Access access : kAccesses) {
      try {
        const SafetensorsFile f = SafetensorsFile::open(p, access);
        ++accepted;
        for (const std::string& name : f.names()) {
          try {
            f.get(name);
          } catch (const Error& e) {
            EXPECT_EQ(e.subsystem(), "safetensors");
          }
        }
      } catch (const Error& e) {
        EXPECT_EQ(e.subsystem(), "safetensors") << e.what();
      }
    }
  }
  EXPECT_GT(accepted, 0);  // data-only flips keep the file valid
}


// --- hardening audit additions -------------------------------------------------------------------

TEST_F(SafetensorsTest, MappedTensorsAreCopiesThatOutliveTheFile) {
  const fs::path p = dir_ / "mapped.safetensors";
  const Tensor a = random_tensor({5, 3}, DType::kBF16, 1);
  save_safetensors(p, {{"a", a}, {"b", random_tensor({4}, DType::kF32, 2)}});
  Tensor got;
  std::span<const std::byte> raw;
  std::optional<SafetensorsFile> copy;
  {
    const SafetensorsFile f = SafetensorsFile::open(p, Access::kMap);
    ASSERT_TRUE(f.memory_mapped());
    got = f.get("a");
    raw = f.bytes("a");
    copy = f;  // shares the mapping: raw stays valid while a copy lives
  }
  // Replaced on disk (a new file renamed over it): the mapping still shows the old bytes.
  save_safetensors(p, {{"a", random_tensor({5, 3}, DType::kBF16, 3)}});
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(raw.data()), raw.size()), tensor_bytes(a));
  // get() copied: writing the tensor changes neither the mapping nor a second get().
  std::memset(got.raw_data_ptr(), 0, got.nbytes());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(raw.data()), raw.size()), tensor_bytes(a));
  expect_same_tensor(copy->get("a"), a, "a again");
  copy.reset();
  fs::remove(p);
  EXPECT_EQ(tensor_bytes(got), std::string(got.nbytes(), '\0'));  // still ours after unmap
}

TEST_F(SafetensorsTest, SpecialFilesAreRefusedWithoutBlocking) {
  // A FIFO nobody writes to would block a plain open() forever.
  const fs::path fifo = dir_ / "pipe.safetensors";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  for (const fs::path& p : {fifo, fs::path("/dev/null")}) {
    for (const Access access : kAccesses) {
      try {
        SafetensorsFile::open(p, access);
        ADD_FAILURE() << "opened " << p;
      } catch (const Error& e) {
        EXPECT_EQ(e.subsystem(), "safetensors");
        EXPECT_NE(e.message().find(p.string() + ": not a regular file"), std::string::npos) << e.message();
      }
    }
  }
}

TEST_F(SafetensorsTest, UnsupportedDTypeErrorNamesTheFile) {
  const fs::path p =
      write("i64.safetensors", file_bytes(R"({"steps":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})", kData8));
  try {
    SafetensorsFile::open(p).get("steps");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.subsystem(), "safetensors");
    EXPECT_NE(e.message().find(p.string() + ": tensor 'steps' has dtype I64"), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("supported: F32 F16 BF16 F8_E4M3 F8_E5M2 I8 I32"), std::string::npos) << e.message();
  }
}

TEST_F(SafetensorsTest, RejectsMoreOutOfRangeOffsetsAndOverlaps) {
  // One tensor entirely inside another.
  expect_rejected(file_bytes(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},)"
                             R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                             std::string(12, '\0')),
                  {"tensor 'b'", "bytes [4, 8) overlap tensor 'a' at [0, 12)"});
  // The end one byte past the data.
  expect_rejected(file_bytes("{" + std::string(kEntryA) + "}", kData8.substr(0, 7)),
                  {"tensor 'a'", "data_offsets [0, 8] run past the end of the 7-byte data buffer"});
  // An empty tensor placed past the data.
  expect_rejected(file_bytes("{" + std::string(kEntryA) + R"(,"z":{"dtype":"F32","shape":[0],"data_offsets":[100,100]}})",
                             kData8),
                  {"tensor 'z'", "past the end of the 8-byte data buffer"});
  // Offsets beyond 2^64 - 1 (JSON numbers any size; a parser reads them as floats).
  expect_rejected(file_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,18446744073709551616]}})", kData8),
                  {"tensor 'a'", "data_offsets[1]", "not a non-negative integer"});
  expect_rejected(file_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[1e3,1e3]}})", kData8),
                  {"tensor 'a'", "data_offsets[0]", "not a non-negative integer"});
  // A shape whose byte count overflows only through the element size.
  expect_rejected(file_bytes(R"({"a":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,8]}})", kData8),
                  {"tensor 'a'", "more than 2^64 bytes"});
}

TEST_F(SafetensorsTest, RejectsDTypesQjitDoesNotKnow) {
  // Names newer writers use (sub-byte floats), other libraries' spellings, and none at all.
  for (const char* dtype : {"F4", "F6_E2M3", "F6_E3M2", "F8_E4M3FNUZ", "C64", "float32", ""}) {
    SCOPED_TRACE(dtype);
    expect_rejected(file_bytes(fmt::format(R"({{"a":{{"dtype":"{}","shape":[2],"data_offsets":[0,8]}}}})", dtype),
                               kData8),
                    {"tensor 'a'", fmt::format("unknown dtype \"{}\"", dtype), "known: F32 F16 BF16"});
  }
}

}  // namespace
}  // namespace qjit
