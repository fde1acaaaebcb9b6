#include <gtest/gtest.h>

#include "common/error.hpp"
#include "common/knobs.hpp"
#include "common/sha256.hpp"

namespace qjit {
namespace {

TEST(Error, CarriesSubsystemFileAndLine) {
  try {
    QJIT_CHECK_GEN("cache", 1 + 1 == 3, "entry {} is {}", "abc", "bad");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.subsystem(), "cache");
    EXPECT_EQ(e.message(), "entry abc is bad");
    EXPECT_GT(e.line(), 0);
    EXPECT_NE(std::string(e.what()).find("[cache] entry abc is bad"), std::string::npos);
    EXPECT_NE(e.file().find("common_test.cpp"), std::string::npos);
  }
}

TEST(Sha256, KnownAnswers) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256().update("a").update("bc").hex(), sha256_hex("abc"));
}

TEST(Knobs, FlagsAndNumbers) {
  ::setenv("QJIT_ALWAYS_COMPILE", "0", 1);
  EXPECT_FALSE(knobs::always_compile());
  ::setenv("QJIT_ALWAYS_COMPILE", "yes", 1);
  EXPECT_TRUE(knobs::always_compile());
  ::unsetenv("QJIT_ALWAYS_COMPILE");
  ::setenv("QJIT_CACHE_MAX_BYTES", "12x", 1);
  EXPECT_THROW(knobs::cache_max_bytes(), Error);
  ::setenv("QJIT_CACHE_MAX_BYTES", "4096", 1);
  EXPECT_EQ(knobs::cache_max_bytes(), 4096u);
  ::unsetenv("QJIT_CACHE_MAX_BYTES");
  ::setenv("QJIT_CACHE_DIR", "/tmp/somewhere", 1);
  EXPECT_EQ(knobs::cache_dir(), "/tmp/somewhere");
  ::unsetenv("QJIT_CACHE_DIR");
  ::setenv("XDG_CACHE_HOME", "/tmp/xdg", 1);
  EXPECT_EQ(knobs::cache_dir(), "/tmp/xdg/qjit");
  ::unsetenv("XDG_CACHE_HOME");
  ::setenv("QJIT_ARCH", "sm_90a", 1);
  EXPECT_EQ(knobs::code_affecting(), std::vector<std::string>{"QJIT_ARCH=sm_90a"});
  ::unsetenv("QJIT_ARCH");
}

TEST(Knobs, EveryKnobIsDocumented) {
  for (const auto& k : knobs::all()) {
    EXPECT_EQ(std::string(k.name).rfind("QJIT_", 0), 0u);
    EXPECT_GT(std::string(k.meaning).size(), 10u);
  }
}

}  // namespace
}  // namespace qjit
