#pragma once
// Helpers shared by the cache tests: a private temporary directory, sample entries, and a
// count of the warnings the library printed.

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "cache/disk_cache.hpp"
#include "cache/report_once.hpp"
#include "common/sha256.hpp"

namespace qjit::cache::testing {

namespace fs = std::filesystem;

// mkdtemp on construction, removed (with everything in it) on destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "qjit-cache-test-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// A manifest of fixed width for every `name` of the same length, so entries compare in size.
inline Entry make_entry(const std::string& name, std::size_t payload = 1000) {
  Entry e;
  e.manifest = R"({"arch":"sm_90a","family":")" + name + R"(","version":1})";
  std::string cubin(payload, '\0');
  for (std::size_t i = 0; i < payload; ++i) cubin[i] = static_cast<char>((i * 131 + name.size()) & 0xff);
  e.sections["cubin"] = cubin;
  e.sections["ptx"] = "// ptx for " + name + "\n.version 8.0\n";
  return e;
}

inline std::string key_of(const Entry& e) { return sha256_hex(e.manifest); }

inline std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void write_bytes(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline unsigned mode_of(const fs::path& p) {
  struct stat st {};
  ::lstat(p.c_str(), &st);
  return st.st_mode & 07777;
}

inline std::size_t count_files(const fs::path& dir) {
  std::size_t n = 0;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) n += it->is_regular_file();
  return n;
}

inline std::size_t count_warnings(const std::string& stderr_text) {
  std::size_t n = 0;
  for (std::size_t pos = 0; (pos = stderr_text.find("qjit warning:", pos)) != std::string::npos; ++pos) ++n;
  return n;
}

// Each test gets its own directory, and the once-per-process warnings are forgotten so a
// test can count its own.
class CacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    reset_reports_for_testing();
    ::setenv("QJIT_LOG", "warn", 1);
  }

  Options options() const {
    Options o;
    o.dir = dir_.path() / "cache";
    return o;
  }

  TempDir dir_;
};

}  // namespace qjit::cache::testing
