// Which NVRTC built a cache's GPU kernels, for a machine without NVRTC: read from a bundle's
// manifests (the most common identity; host objects and unparsable manifests ignored),
// recorded by an import, and a clear error naming what to do when nothing says, or when
// the record is not an identity.

#include "jit/offline_identity.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "tests/jit/test_util.hpp"

namespace qjit::jit {
namespace {

cache::BundleEntry entry_with(const nlohmann::json& nvrtc_member) {
  cache::BundleEntry e;
  e.entry.manifest = nlohmann::json({{"family", "qgemm"}, {"nvrtc", nvrtc_member}}).dump();
  return e;
}

const nlohmann::json kA = {{"version", "13.0"}, {"nvrtc", "aa"}};
const nlohmann::json kB = {{"version", "12.8"}};

TEST(OfflineIdentity, ABundleGivesItsMostCommonNvrtc) {
  std::vector<cache::BundleEntry> entries = {entry_with(kB), entry_with(kA), entry_with(kA),
                                             entry_with({{"host_compiler", "clang 14"}})};
  cache::BundleEntry garbage;
  garbage.entry.manifest = "{not json";
  entries.push_back(garbage);
  EXPECT_EQ(bundle_nvrtc_identity(entries), kA.dump());
  EXPECT_EQ(bundle_nvrtc_identity({entry_with({{"host_compiler", "clang 14"}})}), std::nullopt) << "host objects only";
  EXPECT_EQ(bundle_nvrtc_identity({}), std::nullopt);
}

TEST(OfflineIdentity, AnImportRecordsItAndNothingIsAClearError) {
  test::TempDir dir;
  test::ScopedEnv env("QJIT_CACHE_DIR", dir.path().string());
  test::ScopedEnv no_bundle("QJIT_CACHE_BUNDLE", "");
  try {
    offline_nvrtc_identity("not opened");
    ADD_FAILURE() << "no record: must throw";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("NVRTC is not available (not opened)"), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("no `qjit cache import` recorded one in " + dir.path().string()), std::string::npos)
        << e.message();
  }
  cache::DiskCache disk(cache::Options::from_env());
  EXPECT_TRUE(record_imported_nvrtc_identity(disk, kA.dump()));
  EXPECT_EQ(offline_nvrtc_identity("not opened"), kA.dump());
  // A second import of another NVRTC's bundle: its identity from now on.
  EXPECT_TRUE(record_imported_nvrtc_identity(disk, kB.dump()));
  EXPECT_EQ(offline_nvrtc_identity("not opened"), kB.dump());

  // A record someone replaced with something else is refused, naming it.
  ASSERT_TRUE(disk.write_aux("nvrtc-identity-import.json", "[1, 2]"));
  try {
    offline_nvrtc_identity("not opened");
    ADD_FAILURE() << "a record that is not an identity: must throw";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("nvrtc-identity-import.json in " + dir.path().string() + " is not an NVRTC identity"),
              std::string::npos)
        << e.message();
  }
}

TEST(OfflineIdentity, AnUnreadableBundleIsSaidAndTheRecordStillServes) {
  test::TempDir dir;
  test::ScopedEnv env("QJIT_CACHE_DIR", dir.path().string());
  test::ScopedEnv bundle("QJIT_CACHE_BUNDLE", (dir.path() / "missing.qjb").string());
  cache::DiskCache disk(cache::Options::from_env());
  record_imported_nvrtc_identity(disk, kB.dump());
  EXPECT_EQ(offline_nvrtc_identity("not opened"), kB.dump());
  ASSERT_TRUE(disk.write_aux("nvrtc-identity-import.json", "{}"));
  try {
    offline_nvrtc_identity("not opened");
    ADD_FAILURE() << "must throw";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("QJIT_CACHE_BUNDLE: "), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("missing.qjb"), std::string::npos) << e.message();
  }
}

}  // namespace
}  // namespace qjit::jit
