// qjit compile end to end: every kernel of a Wan2.1 forward under a preset compiled for an
// arch (the tiny model's, to stay quick) with progress and --json; its bundle, imported into
// another cache (or named by QJIT_CACHE_BUNDLE), lets `qjit run` plan and load that forward
// under QJIT_OFFLINE=1, which fails without it, also with no NVRTC (QJIT_NO_NVRTC=1); a damaged or untrusted bundle is refused
// whole, naming the problem; bad arguments are clear errors that write nothing.

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <nlohmann/json.hpp>
#include <string>

#include "../jit/test_util.hpp"
#include "tests/tools/cli_run.hpp"

namespace qjit {
namespace {

namespace fs = std::filesystem;

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

class CompileCli : public ::testing::Test {
 public:
  test::CliResult qjit(const std::string& args, const std::string& cache, const std::string& env = "") const {
    return test::run_qjit(args, "QJIT_CACHE_DIR='" + path(cache).string() + "' " + env);
  }
  fs::path path(const std::string& name) const { return dir_.path() / name; }

 private:
  test::TempDir dir_;
};

// The programs `qjit run` (below) plans for the same model, preset and arch.
constexpr const char* kCompile = "compile --preset int8 --model wan2.1-tiny --arch sm_90";
constexpr const char* kOfflineRun = "run --no-accuracy --preset int8 --model wan2.1-tiny --arch sm_90";

TEST_F(CompileCli, BundleImportedElsewhereRunsOffline) {
  const std::string bundle = path("tiny.qjb").string();
  const auto c = qjit(std::string(kCompile) + " --json --bundle " + bundle, "build-cache", "QJIT_PRINT_AUTOTUNING=1");
  ASSERT_EQ(c.code, 0) << c.err;
  // A plan stands for no particular GPU: it plans the heuristic's configs, reading no tuning
  // database (a record there is for one device, and says so when used).
  EXPECT_FALSE(has(c.err, "qjit autotuning:")) << c.err;
  const auto j = nlohmann::json::parse(c.out);
  EXPECT_EQ(j["model"], "wan2.1-tiny");
  EXPECT_EQ(j["archs"], "sm_90");
  EXPECT_EQ(j["output"], "cubin");
  const std::size_t programs = j["programs"];
  EXPECT_GT(programs, 5u);
  EXPECT_EQ(j["bundle"]["entries"], programs);
  EXPECT_EQ(j["bundle"]["bytes"], fs::file_size(bundle));
  ASSERT_EQ(j["presets"].size(), 1u);
  EXPECT_EQ(j["presets"][0]["preset"], "int8");
  EXPECT_TRUE(has(c.err, "qjit compile: [1/")) << "progress: " << c.err;
  // A second compile is all cache hits.
  const auto warm = nlohmann::json::parse(qjit(std::string(kCompile) + " --json", "build-cache").out);
  EXPECT_EQ(warm["cache_hits"], programs);

  // Offline without the kernels: an error naming the missing kernel.
  const auto missing = qjit(kOfflineRun, "deploy", "QJIT_OFFLINE=1");
  EXPECT_NE(missing.code, 0);
  EXPECT_TRUE(has(missing.err, "QJIT_OFFLINE is set")) << missing.err;

  // Imported: the same forward's plan loads everything, compiling nothing.
  const auto imp = qjit("cache import --json " + bundle, "deploy");
  ASSERT_EQ(imp.code, 0) << imp.err;
  const auto ij = nlohmann::json::parse(imp.out);
  EXPECT_EQ(ij["entries"], programs);
  EXPECT_EQ(ij["imported"], programs);
  const auto again = nlohmann::json::parse(qjit("cache import --json " + bundle, "deploy").out);
  EXPECT_EQ(again["present"], programs);
  const auto verify = qjit("cache verify --json", "deploy");
  EXPECT_EQ(verify.code, 0) << verify.out;
  EXPECT_EQ(ij["nvrtc"], nlohmann::json::parse(qjit("cache import --json " + bundle, "deploy").out)["nvrtc"]);
  EXPECT_FALSE(ij["nvrtc"].get<std::string>().empty()) << "the NVRTC that built the bundle: " << imp.out;
  // On a machine without NVRTC (QJIT_NO_NVRTC=1 stands in for one) as with it.
  for (const char* env : {"QJIT_OFFLINE=1", "QJIT_OFFLINE=1 QJIT_NO_NVRTC=1", "QJIT_NO_NVRTC=1"}) {
    const auto offline = qjit(std::string(kOfflineRun) + " --json", "deploy", env);
    ASSERT_EQ(offline.code, 0) << env << ": " << offline.err;
    const auto oj = nlohmann::json::parse(offline.out);
    EXPECT_EQ(oj["programs"], programs) << env;
    EXPECT_EQ(oj["cache_hits"], programs) << env << ": nothing compiled";
  }

  // QJIT_CACHE_BUNDLE serves a fresh cache's misses the same way, with or without NVRTC.
  int fresh = 0;
  for (const char* env : {"QJIT_OFFLINE=1", "QJIT_OFFLINE=1 QJIT_NO_NVRTC=1"}) {
    const auto served = qjit(std::string(kOfflineRun) + " --json", "fresh" + std::to_string(fresh++),
                             std::string(env) + " QJIT_CACHE_BUNDLE='" + bundle + "'");
    ASSERT_EQ(served.code, 0) << env << ": " << served.err;
    const auto sj = nlohmann::json::parse(served.out);
    EXPECT_EQ(sj["programs"], programs) << env;
    EXPECT_EQ(sj["cache_hits"], programs) << env;
  }
}

// The host's kernels (the cpu device's, compiled by the Clang / LLVM plugin) ahead of time,
// beside a GPU arch's, in one bundle that serves an offline plan of both.
TEST_F(CompileCli, HostKernelsCompileAheadAndBundle) {
  const auto probe = qjit("compile --preset int8 --model wan2.1-tiny --arch host --json", "build-cache",
                          "QJIT_CPU_NO_COMPILER=1");
  EXPECT_NE(probe.code, 0);
  EXPECT_TRUE(has(probe.err, "without the cpu device's compiler")) << probe.err;
  const std::string bundle = path("host.qjb").string();
  const auto c = qjit("compile --preset int8 --model wan2.1-tiny --arch host,sm_90 --json --bundle " + bundle, "build-cache");
  if (c.code != 0 && has(c.err, "without the cpu device's compiler")) GTEST_SKIP() << c.err;
  ASSERT_EQ(c.code, 0) << c.err;
  const auto j = nlohmann::json::parse(c.out);
  EXPECT_EQ(j["archs"], "host, sm_90");
  std::set<std::string> families;
  std::size_t host_rows = 0;
  for (const auto& row : j["kernels"]) {
    if (row["arch"] != "host") continue;
    ++host_rows;
    families.insert(row["spec"]["family"].get<std::string>());
  }
  EXPECT_GT(host_rows, 0u);
  for (const char* f : {"host_act_quant", "host_qgemm_int8", "host_attention", "host_norm_mod"}) {
    EXPECT_TRUE(families.count(f)) << f << " among " << c.out;
  }
  const std::size_t programs = j["programs"];
  ASSERT_EQ(qjit("cache import " + bundle, "deploy").code, 0);
  const auto offline = qjit("run --no-accuracy --preset int8 --model wan2.1-tiny --arch host,sm_90 --json", "deploy",
                            "QJIT_OFFLINE=1");
  ASSERT_EQ(offline.code, 0) << offline.err;
  const auto oj = nlohmann::json::parse(offline.out);
  EXPECT_EQ(oj["programs"], programs);
  EXPECT_EQ(oj["cache_hits"], programs) << "nothing compiled";
}

// Without NVRTC and without kernels built elsewhere: a message saying what to do, not a crash
// or a binary that cannot start (qjit does not link libnvrtc: it opens it when it compiles).
TEST_F(CompileCli, WithoutNvrtcNothingImportedIsAClearError) {
  const auto r = qjit(kOfflineRun, "empty", "QJIT_NO_NVRTC=1");
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(has(r.err, "NVRTC is not available (not opened (QJIT_NO_NVRTC=1))")) << r.err;
  EXPECT_TRUE(has(r.err, "qjit cache import")) << r.err;

  const auto readelf = test::run_command("readelf -d " QJIT_CLI_PATH);
  if (readelf.code != 0) GTEST_SKIP() << "readelf is not available to list qjit's libraries: " << readelf.err;
  EXPECT_TRUE(has(readelf.out, "(NEEDED)")) << readelf.out;
  EXPECT_FALSE(has(readelf.out, "nvrtc")) << readelf.out;
  EXPECT_FALSE(has(readelf.out, "libcuda")) << readelf.out;
}

TEST_F(CompileCli, ADamagedOrUntrustedBundleIsRefusedWhole) {
  const std::string bundle = path("tiny.qjb").string();
  ASSERT_EQ(qjit(std::string(kCompile) + " --bundle " + bundle, "build-cache").code, 0);
  // One bit flipped in the middle.
  {
    std::fstream f(bundle, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(fs::file_size(bundle) / 2));
    char c = 0;
    f.get(c);
    f.seekp(static_cast<std::streamoff>(fs::file_size(bundle) / 2));
    f.put(static_cast<char>(c ^ 1));
  }
  const auto r = qjit("cache import " + bundle, "deploy");
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(has(r.err, "checksum does not match")) << r.err;
  EXPECT_FALSE(fs::exists(path("deploy"))) << "nothing imported";
  const auto offline = qjit(kOfflineRun, "fresh", "QJIT_OFFLINE=1 QJIT_CACHE_BUNDLE='" + bundle + "'");
  EXPECT_NE(offline.code, 0);
  EXPECT_TRUE(has(offline.err, "QJIT_CACHE_BUNDLE: ")) << offline.err;
  EXPECT_TRUE(has(offline.err, "checksum does not match")) << offline.err;

  ASSERT_EQ(qjit(std::string(kCompile) + " --bundle " + path("ok.qjb").string(), "build-cache").code, 0);
  ::chmod(path("ok.qjb").c_str(), 0666);
  const auto untrusted = qjit("cache import " + path("ok.qjb").string(), "deploy");
  EXPECT_NE(untrusted.code, 0);
  EXPECT_TRUE(has(untrusted.err, "not trusted")) << untrusted.err;
  const auto not_bundle = qjit("cache import " + path("build-cache").string(), "deploy");
  EXPECT_NE(not_bundle.code, 0);
  EXPECT_TRUE(has(not_bundle.err, "not a regular file")) << not_bundle.err;
}

TEST_F(CompileCli, BadArgumentsAreClearErrorsAndWriteNothing) {
  fs::create_directory(path("dir"));
  struct Case {
    std::string args, message;
  };
  const std::vector<Case> cases = {
      {"compile --preset int9", "unknown preset 'int9'"},
      {"compile --preset int8 --arch sm_42x", "--arch sm_42x"},
      {"compile --preset int8 --arch sm_90,", "--arch sm_90,"},
      {"compile --preset int8 --model wan9", "unknown model 'wan9'"},
      {"compile --preset int8 --bundle " + path("dir").string(), "--bundle"},
      {"compile --preset int8 --bundle " + path("no/such/b.qjb").string(), "--bundle"},
      {"cache import " + path("missing.qjb").string(), "missing.qjb"},
      {"cache import", "bundle is required"},
  };
  for (const auto& c : cases) {
    const auto r = qjit(c.args, "cache");
    EXPECT_NE(r.code, 0) << c.args;
    EXPECT_TRUE(has(r.err, c.message)) << c.args << "\n" << r.err;
    EXPECT_TRUE(r.out.empty()) << c.args;
  }
  EXPECT_FALSE(fs::exists(path("cache"))) << "no work before the checks";
}

}  // namespace
}  // namespace qjit
