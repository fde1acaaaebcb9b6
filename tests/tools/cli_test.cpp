// The qjit command end to end: run and cache subcommands, text and --json.

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "../jit/test_util.hpp"

namespace {

struct Output {
  int code = -1;
  std::string out;
};

Output qjit_cmd(const std::string& args, const std::string& cache_dir) {
  const std::string cmd = "QJIT_CACHE_DIR='" + cache_dir + "' " QJIT_CLI_PATH " " + args + " 2>/dev/null";
  Output o;
  FILE* p = ::popen(cmd.c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) o.out.append(buf, n);
  const int status = ::pclose(p);
  o.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return o;
}

TEST(Cli, RunCompilesThenHitsTheCache) {
  qjit::test::TempDir dir;
  const auto cold = qjit_cmd("run --json --preset int8 --preset fp8 --arch sm_89", dir.path().string());
  ASSERT_EQ(cold.code, 0) << cold.out;
  const auto j = nlohmann::json::parse(cold.out);
  // int8 and fp8 per-token activation quantization for K in {256, 1536, 4096, 8960}: the
  // heuristic gives 3 block sizes, so 2 qtypes x 3 = 6 programs of 2 kernels each; plus
  // the W8A8 GEMMs (one kernel per program) of both presets.
  int act_quant = 0, qgemm_int8 = 0, qgemm_fp8 = 0;
  for (const auto& k : j.at("kernels")) {
    const std::string summary = k.at("summary");
    act_quant += summary.rfind("act_quant", 0) == 0;
    qgemm_int8 += summary.rfind("qgemm", 0) == 0 && summary.find("kQA=kI8") != std::string::npos;
    qgemm_fp8 += summary.rfind("qgemm", 0) == 0 && summary.find("kQA=kE4M3") != std::string::npos;
  }
  EXPECT_EQ(act_quant, 12);
  EXPECT_GT(qgemm_int8, 0);
  EXPECT_EQ(qgemm_fp8, qgemm_int8);
  EXPECT_EQ(j.at("programs").get<int>(), 6 + qgemm_int8 + qgemm_fp8);
  for (const auto& k : j.at("kernels")) {
    EXPECT_EQ(k.at("arch"), "sm_89");
    EXPECT_EQ(k.at("cache"), "miss");
    EXPECT_EQ(k.at("spill_bytes").get<int>(), 0);
    EXPECT_GT(k.at("registers").get<int>(), 0);
    EXPECT_GT(k.at("compile_ms").get<double>(), 0);
  }
  const auto warm = nlohmann::json::parse(qjit_cmd("run --json --preset int8 --preset fp8 --arch sm_89", dir.path().string()).out);
  EXPECT_EQ(warm.at("cache_hits"), j.at("programs"));

  const auto text = qjit_cmd("run --preset int8 --arch sm_80", dir.path().string());
  EXPECT_EQ(text.code, 0);
  EXPECT_NE(text.out.find("act_quant kIn=kBF16 kOut=kI8"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("sm_80"), std::string::npos);
}

TEST(Cli, CacheSubcommands) {
  qjit::test::TempDir dir;
  ASSERT_EQ(qjit_cmd("run --preset int8 --arch sm_90", dir.path().string()).code, 0);
  const auto path = nlohmann::json::parse(qjit_cmd("cache path --json", dir.path().string()).out);
  EXPECT_EQ(path.at("path"), dir.path().string());
  EXPECT_FALSE(path.at("knobs").empty());
  const auto ls = nlohmann::json::parse(qjit_cmd("cache ls --json", dir.path().string()).out);
  const auto run = nlohmann::json::parse(qjit_cmd("run --json --preset int8 --arch sm_90", dir.path().string()).out);
  EXPECT_EQ(ls.size(), run.at("programs").get<size_t>());
  const auto stats = nlohmann::json::parse(qjit_cmd("cache stats --json", dir.path().string()).out);
  EXPECT_EQ(stats.at("entries").get<size_t>(), ls.size());
  EXPECT_GT(stats.at("bytes").get<long>(), 0);
  const auto verify = qjit_cmd("cache verify --json", dir.path().string());
  EXPECT_EQ(verify.code, 0);
  EXPECT_EQ(nlohmann::json::parse(verify.out).at("bad").get<int>(), 0);
  // Damage one entry: verify reports it and exits 2.
  const std::string entry = ls.at(0).at("path");
  { FILE* f = std::fopen(entry.c_str(), "r+b"); std::fseek(f, 40, SEEK_SET); std::fputc('#', f); std::fclose(f); }
  const auto bad = qjit_cmd("cache verify --json", dir.path().string());
  EXPECT_EQ(bad.code, 2);
  EXPECT_EQ(nlohmann::json::parse(bad.out).at("bad").get<int>(), 1);
  const auto cleared = nlohmann::json::parse(qjit_cmd("cache clear --json", dir.path().string()).out);
  EXPECT_EQ(cleared.at("removed").get<size_t>(), ls.size() - 1);
  EXPECT_EQ(nlohmann::json::parse(qjit_cmd("cache stats --json", dir.path().string()).out).at("entries").get<int>(), 0);
}

TEST(Cli, BadArgumentsFailWithAMessage) {
  qjit::test::TempDir dir;
  EXPECT_NE(qjit_cmd("run --preset no-such-preset", dir.path().string()).code, 0);
  EXPECT_NE(qjit_cmd("run --arch gfx90a", dir.path().string()).code, 0);
  EXPECT_NE(qjit_cmd("frobnicate", dir.path().string()).code, 0);
}

}  // namespace
