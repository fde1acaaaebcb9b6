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

// One strict parser per kind: no wrap-around, no prefix read as a number, no "stoi".
TEST(Knobs, StrictParsersNameTheKnob) {
  auto message = [](const char* name, const char* value, auto&& read) {
    ::setenv(name, value, 1);
    std::string m;
    try {
      read();
    } catch (const Error& e) {
      m = e.message();
    }
    ::unsetenv(name);
    return m;
  };
  const std::string wrap = message("QJIT_CACHE_MAX_BYTES", "-1", [] { knobs::cache_max_bytes(); });
  EXPECT_NE(wrap.find("QJIT_CACHE_MAX_BYTES='-1' is not a whole number"), std::string::npos) << wrap;
  const std::string prefix = message("QJIT_COMPILE_THREADS", "4abc", [] { knobs::compile_threads(); });
  EXPECT_NE(prefix.find("QJIT_COMPILE_THREADS='4abc'"), std::string::npos) << prefix;
  const std::string sim = message("QJIT_SIM_THREADS", "abc", [] { knobs::sim_threads(); });
  EXPECT_NE(sim.find("QJIT_SIM_THREADS='abc' is not a whole number (expected 1 to 1024)"), std::string::npos) << sim;
  const std::string range = message("QJIT_COMPILE_THREADS", "0", [] { knobs::compile_threads(); });
  EXPECT_NE(range.find("out of range"), std::string::npos) << range;
  const std::string huge = message("QJIT_CACHE_MAX_BYTES", "99999999999999999999999", [] { knobs::cache_max_bytes(); });
  EXPECT_NE(huge.find("out of range"), std::string::npos) << huge;
  const std::string flag = message("QJIT_DUMP", "maybe", [] { knobs::dump(); });
  EXPECT_NE(flag.find("QJIT_DUMP='maybe' is not a flag"), std::string::npos) << flag;
  const std::string level = message("QJIT_LOG", "loud", [] { knobs::check_all(); });
  EXPECT_NE(level.find("QJIT_LOG='loud' is not one of"), std::string::npos) << level;
  const std::string arch = message("QJIT_SIM_ARCH", "sm_75", [] { knobs::check_all(); });
  EXPECT_NE(arch.find("QJIT_SIM_ARCH"), std::string::npos) << arch;
  const std::string upper = message("QJIT_SIM_ARCH", "SM_89", [] { knobs::check_all(); });
  EXPECT_NE(upper.find("QJIT_SIM_ARCH='SM_89' is not one of"), std::string::npos) << "exact, as the sim reads it";
  const std::string target = message("QJIT_ARCH", "sm90", [] { knobs::check_all(); });
  EXPECT_NE(target.find("QJIT_ARCH='sm90' is not an arch"), std::string::npos) << target;
  ::setenv("QJIT_ARCH", "sm_90a", 1);
  EXPECT_NO_THROW(knobs::check_all());
  ::unsetenv("QJIT_ARCH");
  ::setenv("QJIT_COMPILE_THREADS", "3", 1);
  EXPECT_EQ(knobs::compile_threads(), 3u);
  EXPECT_NO_THROW(knobs::check_all());
  ::unsetenv("QJIT_COMPILE_THREADS");
}

TEST(Knobs, EveryKnobIsDocumented) {
  for (const auto& k : knobs::all()) {
    EXPECT_EQ(std::string(k.name).rfind("QJIT_", 0), 0u);
    EXPECT_GT(std::string(k.meaning).size(), 10u);
  }
}

}  // namespace
}  // namespace qjit
