// qjit run --accuracy end to end on the tiny Wan config: per rule the end-to-end and per-layer
// accuracy against the unquantized model and the weight bytes, as text and --json; the
// ordering the issue asks for (per-token int8 closer than per-tensor int8); static rules
// calibrated in the run; the same figures on sim as on the cpu for int8; and the errors.

#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <string>

#include "../jit/test_util.hpp"
#include "tests/tools/cli_run.hpp"

namespace {

qjit::test::CliResult qjit_cmd(const std::string& args, const std::string& cache_dir) {
  return qjit::test::run_qjit(args, "QJIT_CACHE_DIR='" + cache_dir + "'");
}

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

const nlohmann::json& rule_row(const nlohmann::json& j, const std::string& name) {
  for (const auto& r : j.at("accuracy")) {
    if (r.at("rule") == name) return r;
  }
  throw std::runtime_error("no accuracy row for " + name);
}

TEST(RunAccuracyCli, JsonPerRuleAndPerLayer) {
  qjit::test::TempDir dir;
  const auto o = qjit_cmd(
      "run --json --model wan2.1-tiny --blocks 2 --accuracy --arch sm_90 --preset int8 --preset int8-per-tensor "
      "--preset int8-static --rule 'module_path=head\\.head,weight=none' --rule int8-weight-only",
      dir.path().string());
  ASSERT_EQ(o.code, 0) << o.out << o.err;
  EXPECT_TRUE(has(o.err, "[1/5] accuracy of int8")) << o.err;
  const auto j = nlohmann::json::parse(o.out);
  ASSERT_EQ(j.at("accuracy").size(), 5u);
  const auto& tok = rule_row(j, "int8");
  const auto& ten = rule_row(j, "int8-per-tensor");
  EXPECT_LT(tok.at("end_to_end").at("nmse").get<double>(), ten.at("end_to_end").at("nmse").get<double>());
  EXPECT_GT(tok.at("end_to_end").at("cosine").get<double>(), 0.999);
  EXPECT_EQ(tok.at("layers").size(), 26u);  // every linear of 2 blocks plus embeddings and head
  EXPECT_EQ(tok.at("quantized_layers"), 26);
  // bf16 weights to int8 codes plus one f32 scale per output channel.
  EXPECT_LT(tok.at("weight_bytes_after").get<double>(), 0.52 * tok.at("weight_bytes_before").get<double>());
  for (const auto& l : tok.at("layers")) {
    EXPECT_GT(l.at("metrics").at("nmse").get<double>(), 0.0) << l.dump();
    EXPECT_EQ(l.at("type"), "QuantLinear");
  }
  EXPECT_TRUE(has(rule_row(j, "int8-static").at("calibration"), "absmax over the synthetic inputs"));
  // A rule that quantizes nothing is exact.
  const auto& none = rule_row(j, "module_path=head\\.head,weight=none");
  EXPECT_EQ(none.at("end_to_end").at("nmse"), 0.0);
  EXPECT_EQ(none.at("end_to_end").at("snr_db"), "inf");
  EXPECT_EQ(none.at("weight_bytes_after"), none.at("weight_bytes_before"));
}

TEST(RunAccuracyCli, TextAndSimMatchesCpu) {
  qjit::test::TempDir dir;
  const std::string args = "run --model wan2.1-tiny --accuracy --arch sm_90 --preset int8 --layers-shown 2";
  const auto cpu = qjit_cmd(args, dir.path().string());
  ASSERT_EQ(cpu.code, 0) << cpu.out << cpu.err;
  EXPECT_TRUE(has(cpu.out, "accuracy on wan2.1-tiny (1 blocks, synthetic weights, seed 0), device cpu")) << cpu.out;
  EXPECT_TRUE(has(cpu.out, "int8: end to end cosine")) << cpu.out;
  EXPECT_TRUE(has(cpu.out, "1.94x smaller")) << cpu.out;
  const auto sim = qjit_cmd(args + " --device sim --json", dir.path().string());
  ASSERT_EQ(sim.code, 0) << sim.out << sim.err;
  const auto cpu_json = nlohmann::json::parse(qjit_cmd(args + " --json", dir.path().string()).out);
  const auto sim_json = nlohmann::json::parse(sim.out);
  // int8 W8A8 without GELU and the glue ops but attention are bit-identical across devices;
  // GELU-tanh (tanh.approx, relative error 2^-10.7) and attention's ex2.approx are not. By the
  // triangle inequality |sqrt(nmse_sim) - sqrt(nmse_cpu)| <= the relative distance between the
  // two devices' outputs, which those approximations keep near 2^-10.7 ~ 6e-4 of the signal
  // (before int8 rounding amplifies a few flipped codes): held to 1e-3, against sqrt(nmse) ~ 1e-2.
  const double c = rule_row(cpu_json, "int8").at("end_to_end").at("nmse"), s = rule_row(sim_json, "int8").at("end_to_end").at("nmse");
  EXPECT_LT(std::abs(std::sqrt(s) - std::sqrt(c)), 1e-3) << s << " against " << c;
}

TEST(RunAccuracyCli, Errors) {
  qjit::test::TempDir dir;
  auto o = qjit_cmd("run --model wan2.1-tiny --accuracy --arch sm_90 --preset int8 --blocks 3", dir.path().string());
  EXPECT_EQ(o.code, 1);
  EXPECT_TRUE(has(o.err, "--blocks 3: wan2.1-tiny has 2 blocks")) << o.err;
  o = qjit_cmd("run --model wan2.1-tiny --accuracy --arch sm_90 --rule weight=int9", dir.path().string());
  EXPECT_EQ(o.code, 1);
  EXPECT_TRUE(has(o.err, "int9")) << o.err;
  o = qjit_cmd("run --model wan2.1-tiny --accuracy --arch sm_90 --preset int8 --height 5", dir.path().string());
  EXPECT_EQ(o.code, 1);
  EXPECT_TRUE(has(o.err, "height x width 5 x 32 must be positive multiples of the patch")) << o.err;
  EXPECT_FALSE(has(o.err, "[1/")) << "checked before any compile: " << o.err;
  o = qjit_cmd("run --model wan2.1-tiny --accuracy --arch sm_90 --preset int8 --weights /nonexistent.safetensors",
               dir.path().string());
  EXPECT_EQ(o.code, 1);
  EXPECT_TRUE(has(o.err, "/nonexistent.safetensors")) << o.err;
}

// A machine without Clang / LLVM at run time (QJIT_CPU_NO_COMPILER=1 stands in for it): the
// cpu device says what is missing, how to get it and that cpu:ref runs the reference, which
// then works.
TEST(RunAccuracyCli, WithoutTheCpuCompilerTheMessageNamesTheWayOut) {
  qjit::test::TempDir dir;
  const std::string env = "QJIT_CPU_NO_COMPILER=1 QJIT_CACHE_DIR='" + dir.path().string() + "'";
  auto o = qjit::test::run_qjit("run --model wan2.1-tiny --preset int8 --device cpu", env);
  EXPECT_EQ(o.code, 1);
  EXPECT_TRUE(has(o.err, "the cpu device's compiler (libqjit_hostcc.so, Clang and LLVM 14) cannot be opened")) << o.err;
  EXPECT_TRUE(has(o.err, "tools/setup.sh")) << o.err;
  EXPECT_TRUE(has(o.err, "--device cpu:ref")) << o.err;
  o = qjit::test::run_qjit("run --model wan2.1-tiny --preset int8 --device cpu:ref --json", env);
  EXPECT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(nlohmann::json::parse(o.out).at("accuracy").at(0).at("device"), "cpu:ref");
}

}  // namespace
