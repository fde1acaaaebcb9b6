// The JIT service over a private disk cache: cold miss, hits, rebuilds, knobs, concurrency.

#include "jit/jit.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <thread>

#include "common/error.hpp"
#include "jit/impls/act_quant.hpp"
#include "test_util.hpp"

namespace qjit::jit {
namespace {

using test::ScopedEnv;
using test::TempDir;

cache::Options options_in(const std::filesystem::path& dir) {
  cache::Options o;
  o.dir = dir;
  o.enabled = true;
  o.max_bytes = 1ull << 30;
  return o;
}

KernelSpec spec(const char* out = "int8", int threads = 128) {
  return impls::act_quant_spec({DType::kBF16, parse_qtype(out), ActScale::kDynamicPerToken, 256}, {threads}, Arch::parse("sm_89"));
}

// The only file in the cache directory tree with the entry suffix.
std::filesystem::path only_entry(const std::filesystem::path& dir, const std::string& key) {
  return cache::DiskCache(options_in(dir)).entry_path(key);
}

TEST(Jit, ColdMissThenMemoryThenDiskHitAfterRestart) {
  TempDir dir;
  std::string ptx;
  {
    Jit jit(options_in(dir.path()));
    const auto a = jit.get(spec());
    EXPECT_EQ(a.outcome, CacheOutcome::kCompiled);
    ptx = a.artifact->ptx;
    const auto b = jit.get(spec());
    EXPECT_EQ(b.outcome, CacheOutcome::kMemory);
    EXPECT_EQ(b.artifact.get(), a.artifact.get());
  }
  Jit restarted(options_in(dir.path()));  // a new process sees only the disk
  const auto c = restarted.get(spec());
  EXPECT_EQ(c.outcome, CacheOutcome::kDisk);
  EXPECT_EQ(c.artifact->ptx, ptx);
  EXPECT_EQ(c.artifact->kernels.size(), impls::act_quant_family().kernels.size());
  EXPECT_GT(c.artifact->kernels[0].registers, 0);
}

TEST(Jit, AlwaysCompileIgnoresHits) {
  TempDir dir;
  Jit(options_in(dir.path())).get(spec());
  ScopedEnv always("QJIT_ALWAYS_COMPILE", "1");
  Jit jit(options_in(dir.path()));
  EXPECT_EQ(jit.get(spec()).outcome, CacheOutcome::kCompiled);
}

TEST(Jit, CorruptEntriesAreRebuilt) {
  for (const char* damage : {"truncate", "bitflip", "empty", "version"}) {
    SCOPED_TRACE(damage);
    TempDir dir;
    const auto first = Jit(options_in(dir.path())).get(spec());
    const auto path = only_entry(dir.path(), first.artifact->key);
    ASSERT_TRUE(std::filesystem::exists(path)) << path;
    std::string bytes;
    {
      std::ifstream in(path, std::ios::binary);
      bytes.assign(std::istreambuf_iterator<char>(in), {});
    }
    if (std::string(damage) == "truncate") bytes.resize(bytes.size() / 2);
    if (std::string(damage) == "bitflip") bytes[bytes.size() / 2] ^= 0x10;
    if (std::string(damage) == "empty") bytes.clear();
    if (std::string(damage) == "version") bytes[8] ^= 0x7f;  // inside the header's version field
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
    Jit jit(options_in(dir.path()));
    const auto again = jit.get(spec());
    EXPECT_EQ(again.outcome, CacheOutcome::kRebuilt);
    EXPECT_EQ(again.artifact->ptx, first.artifact->ptx);
    EXPECT_EQ(Jit(options_in(dir.path())).get(spec()).outcome, CacheOutcome::kDisk);
  }
}

TEST(Jit, OfflineMissIsAnErrorNamingTheKernel) {
  TempDir dir;
  ScopedEnv offline("QJIT_OFFLINE", "1");
  Jit jit(options_in(dir.path()));
  try {
    jit.get(spec());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("QJIT_OFFLINE"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("act_quant"), std::string::npos);
  }
}

TEST(Jit, DisabledCacheWritesNothing) {
  TempDir dir;
  auto o = options_in(dir.path() / "c");
  o.enabled = false;
  Jit jit(o);
  EXPECT_EQ(jit.get(spec()).outcome, CacheOutcome::kCompiled);
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "c") && !std::filesystem::is_empty(dir.path() / "c"));
}

TEST(Jit, DumpWritesSourcePtxAndLogBesideTheEntry) {
  TempDir dir;
  ScopedEnv dump("QJIT_DUMP", "1");
  const auto r = Jit(options_in(dir.path())).get(spec());
  const auto base = only_entry(dir.path(), r.artifact->key).string();
  for (const char* ext : {".cu", ".ptx", ".log"}) EXPECT_TRUE(std::filesystem::exists(base + ext)) << ext;
}

TEST(Jit, ConcurrentRequestsForOneKeyCompileOnce) {
  TempDir dir;
  Jit jit(options_in(dir.path()));
  std::vector<std::thread> threads;
  std::vector<JitResult> results(4);
  for (int i = 0; i < 4; ++i) threads.emplace_back([&, i] { results[i] = jit.get(spec()); });
  for (auto& t : threads) t.join();
  EXPECT_EQ(jit.stats().compiles, 1u);
  for (const auto& r : results) EXPECT_EQ(r.artifact.get(), results[0].artifact.get());
}

TEST(Jit, GetAllCompilesInParallelWithProgress) {
  TempDir dir;
  Jit jit(options_in(dir.path()));
  std::vector<KernelSpec> specs = {spec("int8"), spec("fp8_e4m3"), spec("fp8_e5m2"), spec("int8")};
  std::vector<size_t> seen;
  const auto results = jit.get_all(specs, [&](size_t done, size_t total, const KernelSpec&, const JitResult&) {
    EXPECT_EQ(total, 4u);
    seen.push_back(done);
  });
  ASSERT_EQ(results.size(), 4u);
  EXPECT_EQ(seen, (std::vector<size_t>{1, 2, 3, 4}));
  EXPECT_EQ(results[0].artifact.get(), results[3].artifact.get());
  EXPECT_EQ(jit.stats().compiles, 3u);
}

// A cache directory that cannot take new entries (full disk, read-only): every compile
// still succeeds in memory, with one warning for the whole process.
class FailingWrites : public cache::FileSystem {
 public:
  explicit FailingWrites(int err) : err_(err) {}
  int write_temp(int, const std::string&, const std::string&, std::string&) override { return err_; }

 private:
  int err_;
};

TEST(Jit, UnwritableCacheStillCompilesInMemory) {
  for (int err : {ENOSPC, EROFS}) {
    TempDir dir;
    auto o = options_in(dir.path());
    o.fs = std::make_shared<FailingWrites>(err);
    Jit jit(o);
    testing::internal::CaptureStderr();
    const auto a = jit.get(spec("int8"));
    const auto b = jit.get(spec("fp8_e4m3"));
    const std::string log = testing::internal::GetCapturedStderr();
    EXPECT_EQ(a.outcome, CacheOutcome::kCompiled);
    EXPECT_EQ(b.outcome, CacheOutcome::kCompiled);
    EXPECT_FALSE(a.artifact->ptx.empty());
    EXPECT_EQ(jit.stats().store_failures, 2u);
    // One warning, not one per kernel.
    size_t warnings = 0;
    for (size_t at = log.find("warning"); at != std::string::npos; at = log.find("warning", at + 1)) ++warnings;
    EXPECT_LE(warnings, 1u) << log;
    EXPECT_EQ(jit.get(spec("int8")).outcome, CacheOutcome::kMemory);
  }
}

// Child mode for the multi-process test below: compile one spec, exit 10 on a compile,
// 11 on a disk hit, 1 on an error.
TEST(JitChild, DISABLED_CompileOnce) {
  const char* dir = std::getenv("QJIT_TEST_CHILD_CACHE");
  ASSERT_NE(dir, nullptr);
  try {
    const auto r = Jit(options_in(dir)).get(spec("fp8_e5m2", 64));
    std::_Exit(r.outcome == CacheOutcome::kDisk ? 11 : 10);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    std::_Exit(1);
  }
}

TEST(Jit, EightProcessesOnOneColdKeyCompileFarFewerThanEightTimes) {
  TempDir dir;
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  std::vector<pid_t> pids;
  for (int i = 0; i < 8; ++i) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::setenv("QJIT_TEST_CHILD_CACHE", dir.path().c_str(), 1);
      ::execl(self.c_str(), self.c_str(), "--gtest_also_run_disabled_tests", "--gtest_filter=JitChild.DISABLED_CompileOnce",
              static_cast<char*>(nullptr));
      std::_Exit(127);
    }
    pids.push_back(pid);
  }
  int compiles = 0, hits = 0;
  for (pid_t pid : pids) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status));
    const int code = WEXITSTATUS(status);
    ASSERT_TRUE(code == 10 || code == 11) << "child exit " << code;
    (code == 10 ? compiles : hits)++;
  }
  std::printf("8 processes on one cold key: %d compiled, %d read the cache\n", compiles, hits);
  RecordProperty("compiles", compiles);
  EXPECT_LE(compiles, 2);
  EXPECT_EQ(compiles + hits, 8);
}

}  // namespace
}  // namespace qjit::jit
