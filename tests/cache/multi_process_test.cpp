// Eight processes started together on one cold key: the key lock makes one compile and the
// others hit; without the lock every publish still succeeds and the entry stays valid.

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <iostream>

#include "cache/disk_cache.hpp"
#include "test_util.hpp"

namespace qjit::cache::testing {
namespace {

constexpr int kProcesses = 8;

// Forks every process first and holds them at a pipe, then releases them at once, so they
// race for the key rather than finding it warm.
std::vector<int> run_together(const std::vector<std::string>& args) {
  int gate[2];
  EXPECT_EQ(::pipe(gate), 0);
  std::vector<pid_t> pids;
  for (int i = 0; i < kProcesses; ++i) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::close(gate[1]);
      char c;
      while (::read(gate[0], &c, 1) > 0) {
      }
      std::vector<char*> argv;
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    pids.push_back(pid);
  }
  ::close(gate[0]);
  ::close(gate[1]);  // EOF: everyone goes
  std::vector<int> codes;
  for (pid_t pid : pids) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    codes.push_back(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
  }
  return codes;
}

std::size_t compile_count(const std::filesystem::path& counter) {
  const std::string text = read_bytes(counter);
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

void report(const char* name, std::size_t compiles) {
  ::testing::Test::RecordProperty(name, static_cast<int>(compiles));
  std::cout << "[ " << name << " ] " << compiles << " compile(s) in " << kProcesses << " processes\n";
}

TEST_F(CacheTest, EightProcessesOneColdKeyCompileOnce) {
  const auto counter = dir_.path() / "compiles";
  const auto codes = run_together({QJIT_CACHE_RACE_HELPER, options().dir.string(), counter.string(), "lock"});
  for (int i = 0; i < kProcesses; ++i) EXPECT_EQ(codes[i], 0) << "process " << i;
  const std::size_t compiles = compile_count(counter);
  report("compiles_with_lock", compiles);
  EXPECT_EQ(compiles, 1u) << "the per-key lock lets one process compile; the rest load its entry";
  EXPECT_EQ(DiskCache(options()).stats().entries, 1u);
}

TEST_F(CacheTest, EightProcessesWithoutTheLockStillPublishAValidEntry) {
  const auto counter = dir_.path() / "compiles";
  const auto codes = run_together({QJIT_CACHE_RACE_HELPER, options().dir.string(), counter.string(), "nolock"});
  for (int i = 0; i < kProcesses; ++i) EXPECT_EQ(codes[i], 0) << "process " << i;
  const std::size_t compiles = compile_count(counter);
  report("compiles_without_lock", compiles);
  EXPECT_GE(compiles, 1u);
  DiskCache cache(options());
  EXPECT_EQ(cache.stats().entries, 1u);
  const auto results = cache.verify();
  ASSERT_EQ(results.size(), 1u);
  EXPECT_TRUE(results[0].ok) << results[0].problem;
  EXPECT_EQ(count_files(results[0].path.parent_path()), 1u) << "every loser's temp file is gone";
}

}  // namespace
}  // namespace qjit::cache::testing
