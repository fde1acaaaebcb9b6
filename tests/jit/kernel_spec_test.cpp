#include "jit/kernel_spec.hpp"

#include <gtest/gtest.h>

#include "common/error.hpp"

namespace qjit::jit {
namespace {

KernelSpec sample() {
  KernelSpec s("act_quant", Arch::parse("sm_90"));
  s.set("kIn", EnumValue{"qjit::dev::DType", "kBF16"})
      .set("kOut", EnumValue{"qjit::dev::DType", "kI8"})
      .set("kThreads", 256);
  return s;
}

TEST(KernelSpec, CanonicalJsonIsSortedAndCompact) {
  EXPECT_EQ(sample().canonical(),
            R"({"arch":"sm_90","family":"act_quant","params":{"kIn":{"enum":"qjit::dev::DType","value":"kBF16"},)"
            R"("kOut":{"enum":"qjit::dev::DType","value":"kI8"},"kThreads":{"int":256}}})");
}

TEST(KernelSpec, HashIsStableAcrossRunsAndInsertionOrder) {
  KernelSpec b("act_quant", Arch::parse("sm_90"));
  b.set("kThreads", 256).set("kOut", EnumValue{"qjit::dev::DType", "kI8"}).set("kIn", EnumValue{"qjit::dev::DType", "kBF16"});
  EXPECT_EQ(sample().hash(), b.hash());
  // Golden value (sha256 of the canonical JSON above, computed independently).
  EXPECT_EQ(sample().hash(), "7eb8da0ffc7d9546a93995fd1bedd879e4ffcbfe907b7c04f626e6e9bcd7f0aa");
}

TEST(KernelSpec, HashChangesWithEveryInput) {
  const std::string base = sample().hash();
  KernelSpec s = sample();
  s.set("kThreads", 128);
  EXPECT_NE(s.hash(), base);
  s = sample();
  s.set("kOut", EnumValue{"qjit::dev::DType", "kE4M3"});
  EXPECT_NE(s.hash(), base);
  s = sample();
  s.set_arch(Arch::parse("sm_90a"));
  EXPECT_NE(s.hash(), base);
  s = sample();
  s.set("kExtra", true);
  EXPECT_NE(s.hash(), base);
}

TEST(KernelSpec, JsonRoundTrip) {
  KernelSpec s = sample();
  s.set("kFlag", false);
  EXPECT_EQ(KernelSpec::from_json(s.to_json()), s);
}

TEST(KernelSpec, RejectsBadNamesAndJson) {
  KernelSpec s("act_quant", Arch{});
  EXPECT_THROW(s.set("not an identifier", 1), Error);
  EXPECT_THROW(s.set("kIn", EnumValue{"T", "1bad"}), Error);
  EXPECT_THROW(KernelSpec::from_json(nlohmann::json::parse(R"({"family":"x"})")), Error);
  EXPECT_THROW(sample().param("kMissing"), Error);
  try {
    sample().param("kMissing");
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("kMissing"), std::string::npos);
  }
}

TEST(Arch, ParsesCommonSpellings) {
  EXPECT_EQ(Arch::parse("sm_90a").str(), "sm_90a");
  EXPECT_EQ(Arch::parse("sm89").str(), "sm_89");
  EXPECT_EQ(Arch::parse("80").str(), "sm_80");
  EXPECT_EQ(Arch::parse("9.0").str(), "sm_90");
  EXPECT_THROW(Arch::parse("gfx90a"), Error);
  EXPECT_THROW(Arch::parse(""), Error);
}

TEST(Arch, SupportedListsShippedArchsAndNvrtcs) {
  const auto archs = supported_archs();
  for (const char* a : {"sm_80", "sm_86", "sm_89", "sm_90", "sm_90a"}) {
    EXPECT_NE(std::find(archs.begin(), archs.end(), Arch::parse(a)), archs.end()) << a;
  }
}

}  // namespace
}  // namespace qjit::jit
