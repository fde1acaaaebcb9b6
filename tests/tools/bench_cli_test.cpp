// qjit bench end to end in its quick mode (one row per program, a small forward): the
// directory appears whole with every step's JSON, the report and its plots, --json's schema,
// a step whose program is missing is skipped with the reason, and bad arguments (an
// existing or unwritable --out, a missing report script, an unknown device) are clear errors
// with a non-zero exit and nothing left behind.

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "../jit/test_util.hpp"
#include "tests/tools/cli_run.hpp"

namespace qjit {
namespace {

namespace fs = std::filesystem;

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

std::string read_text(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// Whether matplotlib is importable (the plots need it; tools/setup.sh installs it).
// Whether the Python qjit bench runs (Debian's /usr/bin/python3 where it exists) has matplotlib.
bool have_matplotlib() {
  return std::system("if [ -x /usr/bin/python3 ]; then /usr/bin/python3 -c 'import matplotlib'; "
                     "else python3 -c 'import matplotlib'; fi >/dev/null 2>&1") == 0;
}

class BenchCli : public ::testing::Test {
 public:
  test::CliResult qjit(const std::string& args, const std::string& env = "") const {
    return test::run_qjit(args, "QJIT_CACHE_DIR='" + (dir_.path() / "cache").string() + "' " + env);
  }
  fs::path path(const std::string& name) const { return dir_.path() / name; }
  // Nothing but what the test made, and no partial report.
  void expect_no_partial() const {
    for (const auto& e : fs::directory_iterator(dir_.path())) {
      EXPECT_FALSE(has(e.path().filename().string(), ".partial-")) << e.path();
    }
  }

 private:
  test::TempDir dir_;
};

TEST_F(BenchCli, QuickRunOnTheCpuWritesTheWholeReport) {
  if (!have_matplotlib()) GTEST_SKIP() << "python3-matplotlib is not installed (tools/setup.sh installs it)";
  const auto r = qjit("bench --quick --device cpu --json --out " + path("report").string());
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["out"], path("report").string());
  EXPECT_EQ(j["report"], (path("report") / "report.md").string());
  EXPECT_EQ(j["machine"]["device"], "cpu");
  EXPECT_TRUE(j["machine"].contains("commit") && j["machine"].contains("cpu") && j["machine"].contains("nvrtc"));
  std::vector<std::string> steps;
  for (const auto& s : j["steps"]) steps.push_back(s["step"]);
  for (const std::string want : {"jit", "model_compile_cold", "model_compile_warm", "forward"}) {
    EXPECT_NE(std::find(steps.begin(), steps.end(), want), steps.end()) << want << " in " << j["steps"].dump();
  }
  for (const std::string file : {"meta.json", "jit_bench.json", "model_compile_cold.json", "model_compile_warm.json",
                                 "forward.json", "report.md", "compile.png", "forward_speedup.png"}) {
    EXPECT_TRUE(fs::exists(path("report") / file)) << file;
  }
  const std::string md = read_text(path("report") / "report.md");
  EXPECT_TRUE(has(md, "# qjit bench")) << md;
  EXPECT_TRUE(has(md, "## JIT")) << md;
  EXPECT_TRUE(has(md, "x cold sm_90 compile")) << md;
  EXPECT_TRUE(has(md, "## Whole model")) << md;
  EXPECT_TRUE(has(md, "## The Wan2.1 forward per rule")) << md;
  EXPECT_TRUE(has(md, "| int8 |")) << md;
  EXPECT_TRUE(has(md, "![")) << "the plots are linked";
  // The cpu kernels' step where its baselines were built, else skipped with the reason.
  if (fs::exists(path("report") / "cpu_linear_bench.json")) {
    EXPECT_TRUE(has(md, "x oneDNN int8")) << md;
    EXPECT_TRUE(fs::exists(path("report") / "kernels_speedup.png"));
  } else {
    EXPECT_TRUE(has(md, "## Skipped")) << md;
  }
  // The warm compile hit the cache the cold one filled.
  const auto cold = nlohmann::json::parse(read_text(path("report") / "model_compile_cold.json"));
  const auto warm = nlohmann::json::parse(read_text(path("report") / "model_compile_warm.json"));
  EXPECT_EQ(cold["cache_hits"], 0) << "cold is a private, empty cache";
  EXPECT_EQ(warm["cache_hits"], warm["programs"]);
  EXPECT_FALSE(fs::exists(path("report") / "model-compile-cache")) << "the compile's kernel cache is not kept";
  EXPECT_TRUE(has(r.err, "[1/")) << "progress on stderr: " << r.err;
  expect_no_partial();
}

TEST_F(BenchCli, AMissingProgramIsSkippedWithTheReason) {
  // A bench directory with none of the programs: every Google Benchmark step is skipped.
  fs::create_directory(path("empty-bench"));
  const auto r = qjit("bench --quick --no-plots --device cpu --json --out " + path("report").string(),
                      "QJIT_BENCH_DIR='" + path("empty-bench").string() + "'");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["skipped"].size(), 2u) << j["skipped"].dump();
  EXPECT_EQ(j["skipped"][0]["step"], "jit");
  EXPECT_TRUE(has(j["skipped"][0]["reason"].get<std::string>(), "jit_bench was not built"));
  const std::string md = read_text(path("report") / "report.md");
  EXPECT_TRUE(has(md, "## Skipped")) << md;
  EXPECT_FALSE(fs::exists(path("report") / "compile.png")) << "--no-plots";
}

TEST_F(BenchCli, BadArgumentsAreClearErrorsAndLeaveNothing) {
  fs::create_directory(path("exists"));
  { std::ofstream(path("file")) << "x"; }
  struct Case {
    std::string args, env, message;
  };
  const std::vector<Case> cases = {
      {"bench --quick", "", "--out DIR is required"},
      {"bench --quick --out " + path("exists").string(), "", "already exists"},
      {"bench --quick --out " + path("no/such/dir/report").string(), "", "does not exist"},
      {"bench --quick --out " + path("file/report").string(), "", "does not exist"},
      {"bench --quick --device tpu --out " + path("r1").string(), "", "--device tpu"},
      {"bench --quick --device cpu:ref --out " + path("r2").string(), "", "cpu:ref runs the reference"},
      {"bench --quick --out " + path("r3").string(), "QJIT_BENCH_REPORT=/no/such/script.py", "/no/such/script.py"},
  };
  for (const auto& c : cases) {
    const auto r = qjit(c.args, c.env);
    EXPECT_NE(r.code, 0) << c.args;
    EXPECT_TRUE(has(r.err, c.message)) << c.args << "\n" << r.err;
    EXPECT_TRUE(r.out.empty()) << c.args;
  }
  for (const char* name : {"r1", "r2", "r3"}) EXPECT_FALSE(fs::exists(path(name))) << name;
  expect_no_partial();
}

TEST_F(BenchCli, AFailingStepLeavesNoPartialReport) {
  // A "bench program" that fails: the run stops with its log's tail and removes its work.
  fs::create_directory(path("bad-bench"));
  {
    std::ofstream s(path("bad-bench") / "jit_bench");
    s << "#!/bin/sh\necho 'the benchmark broke' >&2\nexit 3\n";
  }
  fs::permissions(path("bad-bench") / "jit_bench", fs::perms::owner_all);
  const auto r = qjit("bench --quick --no-plots --device cpu --out " + path("report").string(),
                      "QJIT_BENCH_DIR='" + path("bad-bench").string() + "'");
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(has(r.err, "step jit")) << r.err;
  EXPECT_TRUE(has(r.err, "status 3")) << r.err;
  EXPECT_TRUE(has(r.err, "the benchmark broke")) << r.err;
  EXPECT_FALSE(fs::exists(path("report")));
  expect_no_partial();
}

TEST_F(BenchCli, AnInterruptedRunLeavesNothing) {
  // A step that would run for a minute; SIGTERM to qjit alone (--foreground: not its process
  // group) after two seconds goes on to the step, and the run stops, removing its partial
  // directory.
  fs::create_directory(path("slow-bench"));
  {
    std::ofstream s(path("slow-bench") / "jit_bench");
    s << "#!/bin/sh\nsleep 60\n";
  }
  fs::permissions(path("slow-bench") / "jit_bench", fs::perms::owner_all);
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = qjit("bench --quick --no-plots --device cpu --out " + path("report").string(),
                      "QJIT_BENCH_DIR='" + path("slow-bench").string() + "' timeout --foreground -s TERM 2");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(30));
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(has(r.err, "interrupted by signal")) << r.err;
  EXPECT_FALSE(fs::exists(path("report")));
  expect_no_partial();
}

}  // namespace
}  // namespace qjit
