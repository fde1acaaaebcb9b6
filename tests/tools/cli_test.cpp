// The qjit command end to end: run (the kernel plan of each preset, cold then warm, fp8
// skipped below sm_89) and cache subcommands, text and --json.

#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <set>
#include <nlohmann/json.hpp>
#include <string>

#include "../jit/test_util.hpp"
#include "tests/tools/cli_run.hpp"

namespace {

qjit::test::CliResult qjit_cmd(const std::string& args, const std::string& cache_dir) {
  return qjit::test::run_qjit(args, "QJIT_CACHE_DIR='" + cache_dir + "'");
}

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// qjit run plans what the Wan forward launches (quant_ops/model_plan.hpp): for int8 the
// norm kernel emitting per-token codes and the pre-quantized GEMM reading them (q, k, v,
// ffn.0, head), the per-token act_quant pass before the other large layers, the GEMM with the
// fused per-token prologue on the one-row time embedding; for fp8-block128 the group128
// pass and the block-fp8 GEMM; and for both the glue (norms, RoPE, attention, elementwise,
// the patch embedding's GEMM).
bool is_glue(const std::string& s) {
  for (const char* f : {"norm_mod ", "attention ", "rope ", "elementwise ", "qgemm_wo "}) {
    if (s.rfind(f, 0) == 0) return true;
  }
  return false;
}


TEST(Cli, RunCompilesThenHitsTheCache) {
  qjit::test::TempDir dir;
  const std::string args = "run --json --no-accuracy --preset int8 --preset fp8-block128 --arch sm_89";
  const auto cold = qjit_cmd(args, dir.path().string());
  ASSERT_EQ(cold.code, 0) << cold.out;
  const auto j = nlohmann::json::parse(cold.out);
  int per_token = 0, group128 = 0, int8_separate = 0, int8_fused = 0, block_fp8 = 0, other = 0, glue = 0,
      norm_codes = 0;
  std::set<std::string> programs;
  std::map<std::string, std::set<std::string>> by_preset;
  for (const auto& k : j.at("kernels")) {
    const std::string s = k.at("summary");
    programs.insert(s);
    for (const auto& p : k.at("presets")) by_preset[p.get<std::string>()].insert(s);
    if (is_glue(s)) {
      ++glue;
      norm_codes += s.rfind("norm_mod ", 0) == 0 && has(s, "kQuant=kDynamicPerToken");
    } else if (s.rfind("act_quant", 0) == 0) {
      per_token += has(s, "kMode=kDynamicPerToken kOut=kI8");
      group128 += has(s, "kMode=kDynamicGroup128 kOut=kE4M3");
    } else if (has(s, "kQA=kI8")) {
      int8_separate += has(s, "kASource=kQuantized") && has(s, "kBlockScales=false");
      int8_fused += has(s, "kASource=kDynamicFused");
    } else {
      block_fp8 += has(s, "kQA=kE4M3") && has(s, "kASource=kQuantized") && has(s, "kBlockScales=true");
      other += !has(s, "kBlockScales=true");
    }
  }
  EXPECT_GT(per_token, 0);
  EXPECT_GT(group128, 0);
  EXPECT_GT(int8_separate, 0);
  EXPECT_GT(int8_fused, 0);
  EXPECT_GT(block_fp8, 0);
  EXPECT_GE(glue, 8);
  EXPECT_GT(norm_codes, 0);
  EXPECT_EQ(other, 0);
  EXPECT_EQ(j.at("programs").get<size_t>(), programs.size());
  ASSERT_EQ(j.at("presets").size(), 2u);
  for (const auto& p : j.at("presets")) {
    const std::string name = p.at("preset");
    EXPECT_EQ(p.at("programs").get<size_t>(), by_preset[name].size()) << name;
    EXPECT_EQ(p.at("compiled").get<size_t>(), by_preset[name].size()) << name;
    EXPECT_TRUE(p.at("skipped").empty()) << name;
  }
  for (const auto& k : j.at("kernels")) {
    EXPECT_EQ(k.at("arch"), "sm_89");
    EXPECT_EQ(k.at("cache"), "miss");
    EXPECT_EQ(k.at("spill_bytes").get<int>(), 0);
    EXPECT_GT(k.at("registers").get<int>(), 0);
    EXPECT_GT(k.at("compile_ms").get<double>(), 0);
    EXPECT_FALSE(k.at("needed_by").empty());
  }
  const auto warm = nlohmann::json::parse(qjit_cmd(args, dir.path().string()).out);
  EXPECT_EQ(warm.at("cache_hits"), j.at("programs"));
}

// fp8 mma needs sm_89: on sm_80 the fp8 presets are skipped with the reason, the others run.
// int8-static quantizes x inside the GEMM or in the norm before it (no act_quant);
// weight-only is qgemm_wo alone; the glue kernels serve both.
TEST(Cli, RunSkipsFp8BelowSm89AndPlansEachPresetsPath) {
  qjit::test::TempDir dir;
  const auto r = qjit_cmd("run --json --no-accuracy --preset fp8 --preset int8-static --preset int8-weight-only --arch sm_80",
                          dir.path().string());
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.at("presets").size(), 3u);
  const auto& fp8 = j.at("presets").at(0);
  EXPECT_EQ(fp8.at("preset"), "fp8");
  EXPECT_EQ(fp8.at("programs").get<int>(), 0);
  ASSERT_EQ(fp8.at("skipped").size(), 1u);
  EXPECT_EQ(fp8.at("skipped").at(0).at("arch"), "sm_80");
  EXPECT_TRUE(has(fp8.at("skipped").at(0).at("reason"), "sm_89")) << fp8.dump();
  EXPECT_GT(j.at("presets").at(1).at("programs").get<int>(), 0);
  EXPECT_GT(j.at("presets").at(2).at("programs").get<int>(), 0);
  for (const auto& k : j.at("kernels")) {
    const std::string s = k.at("summary");
    const std::string preset = k.at("presets").at(0);
    EXPECT_EQ(s.rfind("act_quant", 0), std::string::npos) << s;
    if (is_glue(s)) continue;
    EXPECT_EQ(preset, "int8-static") << s;
    EXPECT_TRUE(s.rfind("qgemm ", 0) == 0 && (has(s, "kASource=kStatic") || has(s, "kASource=kQuantized"))) << s;
    EXPECT_EQ(k.at("presets").size(), 1u);
    EXPECT_EQ(k.at("arch"), "sm_80");
  }
  // The text report says it too.
  const auto text = qjit_cmd("run --no-accuracy --preset fp8 --arch sm_80", dir.path().string());
  EXPECT_EQ(text.code, 0);
  EXPECT_TRUE(has(text.out, "preset fp8: 0 programs")) << text.out;
  EXPECT_TRUE(has(text.out, "skipped on sm_80")) << text.out;
}

TEST(Cli, CacheSubcommands) {
  qjit::test::TempDir dir;
  ASSERT_EQ(qjit_cmd("run --no-accuracy --preset int8 --arch sm_90", dir.path().string()).code, 0);
  const auto path = nlohmann::json::parse(qjit_cmd("cache path --json", dir.path().string()).out);
  EXPECT_EQ(path.at("path"), dir.path().string());
  EXPECT_FALSE(path.at("knobs").empty());
  const auto ls = nlohmann::json::parse(qjit_cmd("cache ls --json", dir.path().string()).out);
  const auto run = nlohmann::json::parse(qjit_cmd("run --json --no-accuracy --preset int8 --arch sm_90", dir.path().string()).out);
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
