// qjit autotune end to end, each test in its own cache directory (so the tuning database is
// its own): a cpu search whose winner the next process's linear layer runs (the trace shows
// its blocking, QJIT_PRINT_AUTOTUNING says why), the sim's model-ranked search labelled as a
// model, --show, the --json schema, --model's shapes, and every bad argument as a clear
// message, a non-zero exit and nothing written.

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "../jit/test_util.hpp"
#include "runtime/safetensors.hpp"
#include "runtime/tensor.hpp"
#include "tests/support/cuda_required.hpp"
#include "tests/support/random_tensor.hpp"
#include "tests/tools/cli_run.hpp"

namespace qjit {
namespace {

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

class AutotuneCli : public ::testing::Test {
 public:
  test::CliResult qjit(const std::string& args, const std::string& env = "") const {
    return test::run_qjit(args, "QJIT_CACHE_DIR='" + dir_.path().string() + "/cache' " + env);
  }
  std::filesystem::path path(const std::string& name) const { return dir_.path() / name; }
  std::filesystem::path database() const { return dir_.path() / "cache" / "tuning.json"; }
  // Every file name in the cache root (temp files of a publish included).
  std::vector<std::string> root_files() const {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir_.path() / "cache", ec)) {
      if (e.is_regular_file()) out.push_back(e.path().filename().string());
    }
    return out;
  }

 private:
  test::TempDir dir_;
};

Tensor randn(std::vector<std::int64_t> shape, unsigned seed) { return test::randn(std::move(shape), DType::kBF16, seed); }

// The float rules on cpu (fp8: fp8 values summed per 128-K block in the bf16 GEMM; weight-only:
// bf16 activations on dequantized weights) tune the bf16 GEMM's blocking and threads; each
// candidate's output is checked against the heuristic's bits and the reference by NMSE, and
// the next process's linear runs the winner.
TEST_F(AutotuneCli, CpuFloatRulesTuneTheBf16Gemm) {
  const std::string x = path("x.safetensors").string(), w = path("w.safetensors").string();
  save_safetensors(x, {{"input", randn({64, 256}, 1)}});
  save_safetensors(w, {{"weight", randn({256, 256}, 2)}});
  for (const char* rule : {"fp8", "int8-weight-only"}) {
    SCOPED_TRACE(rule);
    const auto r = qjit(fmt::format("autotune --rule {} --device cpu --shape 64,256,256 --max-configs 4 --json", rule));
    ASSERT_EQ(r.code, 0) << r.err;
    const auto s = nlohmann::json::parse(r.out)["shapes"][0];
    EXPECT_EQ(s["family"], "host_gemm_bf16");
    EXPECT_EQ(s["desc"]["accum"], std::string(rule) == "fp8" ? "block128" : "sequential") << s["desc"];
    int measured = 0;
    for (const auto& c : s["candidates"]) measured += c["status"] == "measured";
    EXPECT_EQ(measured, 4) << s.dump(1);
    EXPECT_EQ(s["written"], true);
    const auto config = s["winner"]["config"];
    const auto lin = qjit(fmt::format("linear --rule {} --device cpu --json --input {} --weight {} --out {}", rule, x, w,
                                      path(std::string("y-") + rule + ".safetensors").string()),
                          "QJIT_PRINT_AUTOTUNING=1");
    ASSERT_EQ(lin.code, 0) << lin.err;
    const std::string blocking = fmt::format("{}x{} block, kc {}", config["mc"].get<int>(), config["nc"].get<int>(),
                                             config["kc"].get<int>());
    EXPECT_TRUE(has(lin.out, blocking)) << blocking << "\n" << lin.out;
    EXPECT_TRUE(has(lin.err, "qjit autotuning: host_gemm_bf16")) << lin.err;
    EXPECT_TRUE(has(lin.err, "tuning database, measured")) << lin.err;
  }
}

// Weight-only rules on f16 activations run the cpu's f16 GEMM (weights rounded to f16, the
// reference's bits), tuned under its own family and desc: on bf16 activations the same rule's
// record is the bf16 GEMM's. The next process's f16 linear runs the winner, with a bias and
// GELU too (the epilogue is not in the key). The W8A8 GEMMs read quantized activations: on f16
// they are the same problem as on bf16.
TEST_F(AutotuneCli, CpuWeightOnlyOnF16TunesTheF16Gemm) {
  const auto r = qjit("autotune --rule int8-weight-only --act-dtype f16 --device cpu --shape 64,256,256 "
                      "--max-configs 4 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["act_dtype"], "f16");
  const auto s = j["shapes"][0];
  EXPECT_EQ(s["family"], "host_gemm_f32");
  EXPECT_EQ(s["desc"]["in"], "f16");
  EXPECT_EQ(s["desc"]["out"], "bf16");
  int measured = 0;
  for (const auto& c : s["candidates"]) {
    EXPECT_NE(c["status"], "wrong") << c.dump();
    measured += c["status"] == "measured";
  }
  EXPECT_EQ(measured, 4) << s.dump(1);
  ASSERT_EQ(s["written"], true);
  const auto config = s["winner"]["config"];

  const std::string x = path("x.safetensors").string(), w = path("w.safetensors").string();
  const std::string b = path("b.safetensors").string();
  save_safetensors(x, {{"input", test::randn({64, 256}, DType::kF16, 1)}});
  save_safetensors(w, {{"weight", randn({256, 256}, 2)}});
  save_safetensors(b, {{"bias", randn({256}, 3)}});
  const std::string linear = "linear --rule int8-weight-only --device cpu --json --input " + x + " --weight " + w +
                             " --bias " + b + " --gelu --out " + path("y.safetensors").string();
  const auto lin = qjit(linear, "QJIT_PRINT_AUTOTUNING=1");
  ASSERT_EQ(lin.code, 0) << lin.err;
  const std::string blocking = fmt::format("{}x{} block, kc {}", config["mc"].get<int>(), config["nc"].get<int>(),
                                           config["kc"].get<int>());
  EXPECT_TRUE(has(lin.out, "host gemm_f32 f16")) << lin.out;
  EXPECT_TRUE(has(lin.out, blocking)) << blocking << "\n" << lin.out;
  EXPECT_TRUE(has(lin.err, "qjit autotuning: host_gemm_f32")) << lin.err;
  EXPECT_TRUE(has(lin.err, "tuning database, measured")) << lin.err;

  // The same rule on bf16 activations has no record: its GEMM is another family.
  save_safetensors(x, {{"input", randn({64, 256}, 1)}});
  const auto bf16 = qjit(linear, "QJIT_PRINT_AUTOTUNING=1");
  ASSERT_EQ(bf16.code, 0) << bf16.err;
  EXPECT_TRUE(has(bf16.err, "qjit autotuning: host_gemm_bf16")) << bf16.err;
  EXPECT_TRUE(has(bf16.err, "heuristic: no tuning database record")) << bf16.err;

  const auto int8 = qjit("autotune --rule int8 --act-dtype f16 --device cpu --shape 64,256,256 --max-configs 2 "
                         "--no-write --json");
  ASSERT_EQ(int8.code, 0) << int8.err;
  const auto s8 = nlohmann::json::parse(int8.out)["shapes"][0];
  EXPECT_EQ(s8["family"], "host_qgemm_int8");
  EXPECT_FALSE(s8["desc"].contains("in")) << s8["desc"];
}

// On the sim, f16 activations are their own problem (the GEMMs read them, or quantize them in
// their prologue): the record names x_dtype f16, and an f16 linear finds it.
TEST_F(AutotuneCli, SimTunesF16ActivationsAsTheirOwnProblem) {
  const auto r = qjit("autotune --rule int8-weight-only --act-dtype f16 --device sim --arch sm_90 "
                      "--shape 64,256,512 --max-configs 3 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto s = nlohmann::json::parse(r.out)["shapes"][0];
  EXPECT_EQ(s["family"], "qgemm_wo");
  EXPECT_EQ(s["desc"]["x_dtype"], "f16");
  ASSERT_EQ(s["written"], true);
  const std::string x = path("x.safetensors").string(), w = path("w.safetensors").string();
  save_safetensors(w, {{"weight", randn({256, 512}, 2)}});
  const std::string linear = "linear --rule int8-weight-only --device sim:sm_90 --json --input " + x + " --weight " + w +
                             " --out " + path("y.safetensors").string();
  save_safetensors(x, {{"input", test::randn({60, 512}, DType::kF16, 1)}});
  const auto f16 = qjit(linear, "QJIT_PRINT_AUTOTUNING=1");
  ASSERT_EQ(f16.code, 0) << f16.err;
  EXPECT_TRUE(has(f16.err, "tuning database, model")) << f16.err;
  save_safetensors(x, {{"input", randn({60, 512}, 1)}});
  const auto bf16 = qjit(linear, "QJIT_PRINT_AUTOTUNING=1");
  ASSERT_EQ(bf16.code, 0) << bf16.err;
  EXPECT_TRUE(has(bf16.err, "heuristic: no tuning database record")) << bf16.err;
}

TEST_F(AutotuneCli, CpuWinnerIsStoredAndTheNextProcessRunsIt) {
  const auto r = qjit("autotune --rule int8 --device cpu --shape 64,256,128 --max-configs 4 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["device"], "cpu");
  EXPECT_EQ(j["rule"], "int8");
  EXPECT_EQ(j["act_dtype"], "bf16");
  EXPECT_EQ(j["method"], "measured");
  EXPECT_EQ(j["write"], true);
  EXPECT_EQ(j["database"], database().string());
  ASSERT_EQ(j["shapes"].size(), 1u);
  const auto& s = j["shapes"][0];
  EXPECT_EQ(s["m"], 64);
  EXPECT_EQ(s["n"], 256);
  EXPECT_EQ(s["k"], 128);
  EXPECT_EQ(s["family"], "host_qgemm_int8");
  EXPECT_EQ(s["written"], true);
  EXPECT_EQ(s["desc"]["m_bucket"], 64);
  int measured = 0;
  for (const auto& c : s["candidates"]) {
    ASSERT_TRUE(c.contains("status") && c.contains("label") && c.contains("config") && c.contains("reason"));
    if (c["status"] == "measured") {
      ++measured;
      EXPECT_GT(c["median_us"].get<double>(), 0);
      EXPECT_LE(c["p20_us"].get<double>(), c["p80_us"].get<double>());
      EXPECT_GE(c["reps"].get<int>(), 5);
    }
  }
  EXPECT_EQ(measured, 4) << "--max-configs 4, every one of them checked and timed";
  ASSERT_TRUE(s["winner"].is_object());
  EXPECT_DOUBLE_EQ(s["speedup_vs_heuristic"].get<double>(),
                   s["heuristic_us"].get<double>() / s["winner"]["median_us"].get<double>());
  if (s["winner"]["label"] != s["heuristic"]["label"]) {
    ASSERT_TRUE(s.contains("confirmation")) << s.dump();
    EXPECT_TRUE(s["confirmation"]["held"].get<bool>());
    EXPECT_LT(s["winner"]["median_us"].get<double>(), s["heuristic_us"].get<double>());
  }
  EXPECT_TRUE(has(r.err, "[shape 1/1] 64x256x128")) << "progress on stderr: " << r.err;
  EXPECT_TRUE(std::filesystem::exists(database()));

  // --show lists it.
  const auto show = qjit("autotune --show --json");
  ASSERT_EQ(show.code, 0) << show.err;
  const auto records = nlohmann::json::parse(show.out)["records"];
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0]["config"], s["winner"]["config"]);
  EXPECT_EQ(records[0]["family"], "host_qgemm_int8");
  const auto text = qjit("autotune --show");
  EXPECT_TRUE(has(text.out, "1 records")) << text.out;

  // The next process's linear layer of that shape runs the winner, and says why.
  const std::string x = path("x.safetensors").string(), w = path("w.safetensors").string();
  save_safetensors(x, {{"input", randn({64, 128}, 1)}});
  save_safetensors(w, {{"weight", randn({256, 128}, 2)}});
  const auto lin = qjit("linear --rule int8 --device cpu --json --input " + x + " --weight " + w + " --out " +
                            path("y.safetensors").string(),
                        "QJIT_PRINT_AUTOTUNING=1");
  ASSERT_EQ(lin.code, 0) << lin.err;
  const auto config = s["winner"]["config"];
  const std::string blocking = fmt::format("{}x{} block, kc {}", config["mc"].get<int>(), config["nc"].get<int>(),
                                           config["kc"].get<int>());
  EXPECT_TRUE(has(lin.out, blocking)) << blocking << "\n" << lin.out;
  EXPECT_TRUE(has(lin.err, "qjit autotuning: host_qgemm_int8")) << lin.err;
  EXPECT_TRUE(has(lin.err, "tuning database, measured")) << lin.err;

  // QJIT_TUNING_DISABLE=1: the heuristic, said so.
  const auto off = qjit("linear --rule int8 --device cpu --json --input " + x + " --weight " + w + " --out " +
                            path("y2.safetensors").string(),
                        "QJIT_PRINT_AUTOTUNING=1 QJIT_TUNING_DISABLE=1");
  ASSERT_EQ(off.code, 0) << off.err;
  EXPECT_TRUE(has(off.err, "heuristic: no tuning database record")) << off.err;
}

TEST_F(AutotuneCli, SimRanksByItsModelAndSaysSo) {
  const auto r = qjit("autotune --rule int8 --device sim --arch sm_80 --shape 32,128,128 --max-configs 3 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["device"], "sim");
  EXPECT_EQ(j["method"], "model");
  EXPECT_TRUE(has(j["note"].get<std::string>(), "a model, not a measurement")) << j["note"];
  EXPECT_TRUE(has(j["note"].get<std::string>(), "A100")) << j["note"];
  const auto& s = j["shapes"][0];
  EXPECT_EQ(s["family"], "qgemm");
  EXPECT_EQ(s["method"], "model");
  ASSERT_TRUE(s["winner"].is_object());
  const auto show = nlohmann::json::parse(qjit("autotune --show --json").out);
  ASSERT_EQ(show["records"].size(), 1u);
  EXPECT_EQ(show["records"][0]["method"], "model");
  EXPECT_EQ(show["records"][0]["arch"], "sm_80");
  const auto text = qjit("autotune --rule int8 --device sim --shape 32,128,128 --max-configs 2 --no-write");
  ASSERT_EQ(text.code, 0) << text.err;
  EXPECT_TRUE(has(text.out, "a model, not a measurement")) << text.out;
  EXPECT_TRUE(has(text.out, "nothing written (--no-write)")) << text.out;

  // The next process's linear layer on that sim takes the record, and says so.
  const std::string x = path("x.safetensors").string(), w = path("w.safetensors").string();
  save_safetensors(x, {{"input", randn({32, 128}, 1)}});
  save_safetensors(w, {{"weight", randn({128, 128}, 2)}});
  const std::string linear = "linear --rule int8 --device sim:sm_80 --json --input " + x + " --weight " + w + " --out " +
                             path("y.safetensors").string();
  const auto lin = qjit(linear, "QJIT_PRINT_AUTOTUNING=1");
  ASSERT_EQ(lin.code, 0) << lin.err;
  EXPECT_TRUE(has(lin.err, "qjit autotuning: qgemm")) << lin.err;
  EXPECT_TRUE(has(lin.err, "tuning database, model")) << lin.err;
  EXPECT_TRUE(has(lin.out, "qgemm " + s["winner"]["label"].get<std::string>())) << lin.out;

  // A record whose config is not one of the family's candidates (here a tile of 0 rows, which
  // would divide by zero) is not used: the heuristic is, with the reason.
  auto db = nlohmann::json::parse(std::ifstream(database()));
  db["records"][0]["config"]["tile_m"] = 0;
  std::ofstream(database(), std::ios::trunc) << db.dump();
  const auto bad = qjit(linear, "QJIT_PRINT_AUTOTUNING=1");
  ASSERT_EQ(bad.code, 0) << bad.err;
  EXPECT_TRUE(has(bad.err, "heuristic: the tuning database's record is unusable")) << bad.err;
  db["records"][0]["config"]["tile_m"] = 48;
  std::ofstream(database(), std::ios::trunc) << db.dump();
  const auto other = qjit(linear, "QJIT_PRINT_AUTOTUNING=1");
  ASSERT_EQ(other.code, 0) << other.err;
  EXPECT_TRUE(has(other.err, "is not one of the family's candidates")) << other.err;
}

// Weight-only rules search the weight-only GEMM (qgemm_wo): tiles, K steps and pipeline
// depths, ranked by the model (whose latency term tells the depths apart); the next process's
// linear layer takes the record.
TEST_F(AutotuneCli, SimTunesTheWeightOnlyGemm) {
  const auto r = qjit("autotune --rule int8-weight-only --device sim --arch sm_90 --shape 64,256,4096 "
                      "--max-configs 4 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["method"], "model");
  const auto& s = j["shapes"][0];
  EXPECT_EQ(s["family"], "qgemm_wo");
  EXPECT_EQ(s["written"], true);
  // The heuristic's tile at four depths, each measured: two CTAs with a long K, so one load in
  // flight (two stages) leaves the K loop waiting on memory; deeper ones are bound by issue.
  std::vector<double> us;
  std::vector<int> stages;
  for (const auto& c : s["candidates"]) {
    if (c["status"] != "measured") continue;
    us.push_back(c["median_us"].get<double>());
    stages.push_back(c["config"]["stages"].get<int>());
  }
  ASSERT_EQ(us.size(), 4u);
  const auto at = [&](int depth) { return us[std::find(stages.begin(), stages.end(), depth) - stages.begin()]; };
  for (int depth : {3, 4, 5}) EXPECT_LT(at(depth), at(2)) << depth;
  const auto show = nlohmann::json::parse(qjit("autotune --show --json").out);
  ASSERT_EQ(show["records"].size(), 1u);
  EXPECT_EQ(show["records"][0]["family"], "qgemm_wo");
  EXPECT_EQ(show["records"][0]["desc"]["qtype_w"], "int8");

  const std::string x = path("x.safetensors").string(), w = path("w.safetensors").string();
  save_safetensors(x, {{"input", randn({60, 4096}, 1)}});
  save_safetensors(w, {{"weight", randn({256, 4096}, 2)}});
  const std::string linear = "linear --rule int8-weight-only --device sim:sm_90 --json --input " + x + " --weight " + w +
                             " --out " + path("y.safetensors").string();
  const auto lin = qjit(linear, "QJIT_PRINT_AUTOTUNING=1");
  ASSERT_EQ(lin.code, 0) << lin.err;
  EXPECT_TRUE(has(lin.err, "qjit autotuning: qgemm_wo")) << lin.err;
  EXPECT_TRUE(has(lin.err, "tuning database, model")) << lin.err;
  EXPECT_TRUE(has(lin.out, "qgemm_wo " + s["winner"]["label"].get<std::string>())) << lin.out;

  // The trace names what ran: a record of another candidate (the heuristic's tile at two
  // stages, never the heuristic's choice) runs; one that is not a candidate gives way to the
  // heuristic, with the reason.
  auto db = nlohmann::json::parse(std::ifstream(database()));
  db["records"][0]["config"]["stages"] = 2;
  std::ofstream(database(), std::ios::trunc) << db.dump();
  const auto two = qjit(linear, "QJIT_PRINT_AUTOTUNING=1");
  ASSERT_EQ(two.code, 0) << two.err;
  EXPECT_TRUE(has(two.out, "qgemm_wo 64x128x64 w1x4 s2")) << two.out;
  // Offline, a tuned config whose kernel is not in the cache gives way to the heuristic's.
  db["records"][0]["config"]["stages"] = 4;
  db["records"][0]["config"]["tile_k"] = 32;
  std::ofstream(database(), std::ios::trunc) << db.dump();
  const auto offline = qjit(linear, "QJIT_OFFLINE=1");
  ASSERT_EQ(offline.code, 0) << offline.err;
  EXPECT_TRUE(has(offline.err, "the tuned config 64x128x32 w1x4 s4 failed here (QJIT_OFFLINE is set")) << offline.err;
  EXPECT_TRUE(has(offline.out, "qgemm_wo " + s["heuristic"]["label"].get<std::string>())) << offline.out;
  db["records"][0]["config"]["tile_k"] = 48;
  std::ofstream(database(), std::ios::trunc) << db.dump();
  const auto bad = qjit(linear, "QJIT_PRINT_AUTOTUNING=1");
  ASSERT_EQ(bad.code, 0) << bad.err;
  EXPECT_TRUE(has(bad.err, "is not one of the family's candidates")) << bad.err;
  EXPECT_TRUE(has(bad.out, "qgemm_wo " + s["heuristic"]["label"].get<std::string>())) << bad.out;
}

TEST_F(AutotuneCli, CudaTimesWithEventsAndChecksAgainstTheReference) {
  // On the stand-in driver (CudaStandin.tools) the events time the sim; on a GPU, the GPU.
  QJIT_SKIP_WITHOUT_CUDA();
  for (const auto& [rule, family] : {std::pair{"int8", "qgemm"}, std::pair{"int8-weight-only", "qgemm_wo"},
                                     std::pair{"int8-weight-only --act-dtype f16", "qgemm_wo"}}) {
    const auto r = qjit(fmt::format("autotune --rule {} --device cuda --shape 32,128,128 --max-configs 3 --json", rule));
    ASSERT_EQ(r.code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["method"], "measured");
    const auto& s = j["shapes"][0];
    EXPECT_EQ(s["family"], family);
    int measured = 0;
    for (const auto& c : s["candidates"]) {
      EXPECT_NE(c["status"], "wrong") << c.dump();
      if (c["status"] == "measured") {
        ++measured;
        EXPECT_GE(c["reps"].get<int>(), 5);
      }
    }
    EXPECT_EQ(measured, 3) << rule;
  }
  const auto show = nlohmann::json::parse(qjit("autotune --show --json").out);
  ASSERT_EQ(show["records"].size(), 3u) << "the f16 activations' record is another problem's";
  for (const auto& record : show["records"]) EXPECT_EQ(record["method"], "measured");
}

TEST_F(AutotuneCli, ModelShapesAreTheBlocksGemmsBucketed) {
  // --no-write and one config per shape on the sim: the shapes are what is checked.
  const auto r = qjit("autotune --rule int8 --device sim --model wan2.1-1.3b --tokens 1000,1024 --max-configs 1 "
                      "--no-write --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto shapes = nlohmann::json::parse(r.out)["shapes"];
  // 1000 and 1024 tokens share a bucket: attention (N = K = 1536) at M 1000 and the text's 512,
  // FFN up and down.
  ASSERT_EQ(shapes.size(), 4u) << shapes.dump();
  EXPECT_EQ(shapes[0]["m"], 1000);
  EXPECT_EQ(shapes[0]["n"], 1536);
  EXPECT_EQ(shapes[1]["m"], 512);
  EXPECT_EQ(shapes[1]["layers"], nlohmann::json::array({"blocks.*.cross_attn.k", "blocks.*.cross_attn.v"}));
  EXPECT_EQ(shapes[2]["n"], 8960);
  EXPECT_EQ(shapes[3]["k"], 8960);
  EXPECT_FALSE(std::filesystem::exists(database()));
}

TEST_F(AutotuneCli, BadArgumentsAreClearErrorsAndWriteNothing) {
  struct Case {
    std::string args, env, message;
  };
  const std::vector<Case> cases = {
      {"autotune --rule int9 --shape 64,64,64", "", "unknown preset 'int9'"},
      {"autotune --shape 64,64,64", "", "--rule is required"},
      {"autotune --rule int8", "", "give --shape M,N,K (repeatable) or --model, not neither"},
      {"autotune --rule int8 --shape 64,64,64 --model wan2.1-1.3b", "", "not both"},
      {"autotune --rule int8 --shape 64,64", "", "shape '64,64' is not M,N,K"},
      {"autotune --rule int8 --shape 64,60,64", "", "N 60 is not a multiple of 16"},
      {"autotune --rule int8 --shape 0,64,64", "", "M 0 is not in"},
      {"autotune --rule int8 --shape 64,x,64", "", "'x' is not a positive integer"},
      {"autotune --rule int8 --model wan2.1-99b", "", "--model wan2.1-99b: known models"},
      {"autotune --rule int8 --model wan2.1-1.3b --tokens 12,,3", "", "--tokens 12,,3: '' is not a positive integer"},
      {"autotune --rule fp8 --device sim --arch sm_80 --shape 64,64,64", "", "sm_89"},
      {"autotune --rule int8 --device cpu --arch sm_90 --shape 64,64,64", "", "--arch picks the GPU the sim models"},
      {"autotune --rule int8 --device sim --arch sm_42 --shape 64,64,64", "", "sm_42"},
      {"autotune --rule int8 --device tpu --shape 64,64,64", "", "--device tpu"},
      {"autotune --rule int8 --device cpu:ref --shape 64,64,64", "", "cpu:ref runs the reference"},
      {"autotune --rule int8 --time-budget -1 --shape 64,64,64", "", "--time-budget -1"},
      {"autotune --rule int8 --act-dtype f32 --shape 64,64,64", "", "--act-dtype f32: expected bf16 or f16"},
      {"autotune --rule int8 --act-dtype int4 --shape 64,64,64", "", "--act-dtype int4: expected bf16 or f16"},
      {"autotune --rule /no/such/rules.json --shape 64,64,64", "", "/no/such/rules.json"},
      {"autotune --show --rule int8", "", "--show lists the tuning database"},
      {"autotune --show --act-dtype f16", "", "--show lists the tuning database"},
      {"autotune --rule int8 --device sim --shape 64,64,64", "QJIT_CACHE_DISABLE=1", "cannot write the tuning database"},
  };
  for (const auto& c : cases) {
    const auto r = qjit(c.args, c.env);
    EXPECT_NE(r.code, 0) << c.args;
    EXPECT_TRUE(has(r.err, c.message)) << c.args << "\n" << r.err;
    EXPECT_TRUE(r.out.empty()) << c.args << "\n" << r.out;
    EXPECT_FALSE(std::filesystem::exists(database())) << c.args;
  }
}

TEST_F(AutotuneCli, ASearchOfTheHeuristicAloneWritesNothing) {
  const auto r = qjit("autotune --rule int8 --device sim --shape 32,64,64 --max-configs 1 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto s = nlohmann::json::parse(r.out)["shapes"][0];
  EXPECT_EQ(s["written"], false);
  EXPECT_EQ(s["not_written"], "only the heuristic's config was measured");
  EXPECT_EQ(nlohmann::json::parse(qjit("autotune --show --json").out)["records"].size(), 0u);
}

TEST_F(AutotuneCli, AnUnwritableDatabaseIsAnErrorBeforeAnyWork) {
  // The cache directory's parent is a file: nothing can be created there.
  { std::ofstream(path("file")) << "x"; }
  const auto r = test::run_qjit("autotune --rule int8 --device sim --shape 64,64,64",
                                "QJIT_CACHE_DIR='" + path("file").string() + "/cache'");
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(has(r.err, "cannot write the tuning database")) << r.err;
  EXPECT_FALSE(has(r.err, "[shape 1/1]")) << "no work before the check: " << r.err;
}

TEST_F(AutotuneCli, ACorruptDatabaseIsIgnoredWithAWarningAndReplaced) {
  std::filesystem::create_directories(path("cache"));
  std::filesystem::permissions(path("cache"), std::filesystem::perms::owner_all);
  { std::ofstream(database()) << "{\"format\": \"qjit-tuning\", \"vers"; }
  std::filesystem::permissions(database(), std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  const auto show = qjit("autotune --show --json");
  ASSERT_EQ(show.code, 0) << show.err;
  EXPECT_EQ(nlohmann::json::parse(show.out)["records"].size(), 0u);
  EXPECT_TRUE(has(show.err, "ignoring the tuning database")) << show.err;
  const auto r = qjit("autotune --rule int8 --device sim --shape 32,64,64 --max-configs 2");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto again = qjit("autotune --show --json");
  EXPECT_EQ(nlohmann::json::parse(again.out)["records"].size(), 1u);
  EXPECT_TRUE(again.err.empty()) << again.err;
  for (const auto& name : root_files()) EXPECT_EQ(name.find(".tmp"), std::string::npos) << name;
}

}  // namespace
}  // namespace qjit
