// qjit linear end to end: inputs written with the safetensors writer, the built binary run,
// its output read back and compared with the linear op on the cpu (int8 bit for bit); the
// --dump-quantized names and contents; --json; every error as a message and a non-zero exit.

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "../jit/test_util.hpp"
#include "common/error.hpp"
#include "quant_ops/linear.hpp"
#include "runtime/device.hpp"
#include "runtime/kernels.hpp"
#include "runtime/safetensors.hpp"
#include "tests/tools/cli_run.hpp"

namespace qjit {
namespace {

using Result = test::CliResult;

// Kernels compiled by one run are reused by the next: the suite's cache when the test
// environment names one, else one directory for this binary.
std::string cache_dir() {
  static test::TempDir* own = new test::TempDir;  // NOTE: leaked; lives as long as the process
  const char* env = std::getenv("QJIT_CACHE_DIR");
  return env && *env ? env : own->path().string();
}

class LinearCli : public ::testing::Test {
 public:
  std::string path(const std::string& name) const { return (dir_.path() / name).string(); }

  Result qjit(const std::string& args) const {
    return test::run_qjit("linear " + args, "QJIT_CACHE_DIR='" + cache_dir() + "'");
  }

  // Saves tensors to `name` in the test directory and returns its path.
  std::string save(const std::string& name, const std::vector<std::pair<std::string, Tensor>>& tensors) const {
    save_safetensors(path(name), tensors);
    return path(name);
  }

 private:
  test::TempDir dir_;
};

Tensor randn(std::vector<std::int64_t> shape, DType dtype, unsigned seed, float sigma = 1.0f) {
  std::int64_t n = 1;
  for (auto s : shape) n *= s;
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, sigma);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = normal(rng);
  return Tensor::from_vector<float>(std::move(shape), v, dtype);
}

void expect_same_bytes(const Tensor& got, const Tensor& want, const std::string& what) {
  ASSERT_EQ(got.dtype(), want.dtype()) << what;
  ASSERT_EQ(got.shape(), want.shape()) << what;
  const Tensor w = want.to(Device::cpu()).contiguous();
  EXPECT_EQ(std::memcmp(got.raw_data_ptr(), w.raw_data_ptr(), w.nbytes()), 0) << what;
}

ResolvedRule rule_of(const std::string& text) { return Rule::parse_one(text).resolve(); }

// The op on the cpu for the same inputs: what every run of the command must reproduce.
Tensor op_on_cpu(const Tensor& x, const Tensor& w, const std::string& rule_text, const LinearOptions& o) {
  const ResolvedRule rule = rule_of(rule_text);
  return linear_forward(x, quantize_weight(w, rule), rule, o);
}

struct Inputs {
  Tensor x, w, bias, scale;
  std::string xf, wf, bf, sf;
};

// x [2, 5, 160] bf16, w [48, 160] f32, bias [48] f32, static scale 4/127, each in its own file
// under a name other than the documented one (a single-tensor file is read whatever its name).
Inputs write_inputs(const LinearCli& t, unsigned seed) {
  Inputs in;
  in.x = randn({2, 5, 160}, DType::kBF16, seed);
  in.w = randn({48, 160}, DType::kF32, seed + 1, 0.05f);
  in.bias = randn({48}, DType::kF32, seed + 2);
  in.scale = Tensor::from_vector<float>({1}, std::vector<float>{4.0f / 127.0f});
  in.xf = t.save("x.safetensors", {{"activations", in.x}});
  in.wf = t.save("w.safetensors", {{"model.blocks.0.ffn.0.weight", in.w}});
  in.bf = t.save("b.safetensors", {{"bias", in.bias}});
  in.sf = t.save("s.safetensors", {{"scale", in.scale}});
  return in;
}

std::string base_args(const Inputs& in, const std::string& rule, const std::string& out) {
  return "--weight '" + in.wf + "' --input '" + in.xf + "' --rule '" + rule + "' --out '" + out + "'";
}

TEST_F(LinearCli, EveryFamilyOnCpuIsTheOp) {
  const Inputs in = write_inputs(*this, 1);
  for (const std::string rule : {"int8", "int8-per-tensor", "fp8", "fp8-e5m2", "fp8-block128", "int8-weight-only"}) {
    SCOPED_TRACE(rule);
    const auto r = qjit(base_args(in, rule, path("y.safetensors")) + " --bias '" + in.bf + "'");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.err.find("[4/4] writing"), std::string::npos) << r.err;  // progress on stderr
    LinearOptions o;
    o.bias = in.bias;
    const SafetensorsFile y = SafetensorsFile::open(path("y.safetensors"));
    EXPECT_EQ(y.names(), (std::vector<std::string>{"output"}));
    expect_same_bytes(y.get("output"), op_on_cpu(in.x, in.w, rule, o), rule);
  }
}

TEST_F(LinearCli, StaticScaleGeluAndOutDtype) {
  const Inputs in = write_inputs(*this, 2);
  const auto r = qjit(base_args(in, "int8-static", path("y.safetensors")) + " --act-scale '" + in.sf +
                      "' --gelu --out-dtype f32 --bias '" + in.bf + "'");
  ASSERT_EQ(r.code, 0) << r.err;
  LinearOptions o;
  o.bias = in.bias;
  o.act_scale = in.scale;
  o.activation = reference::Activation::kGeluTanh;
  o.out_dtype = DType::kF32;
  const Tensor y = SafetensorsFile::open(path("y.safetensors")).get_single();
  EXPECT_EQ(y.dtype(), DType::kF32);
  expect_same_bytes(y, op_on_cpu(in.x, in.w, "int8-static", o), "int8-static gelu f32");
}

// int8 W8A8 on the sim device: the bits of the cpu (DESIGN.md section 5), dynamic and
// static, on the default sim arch and on sim:sm_80.
TEST_F(LinearCli, Int8OnSimIsBitIdenticalToTheCpu) {
  try {
    driver_for(Device::sim());
  } catch (const Error& e) {
    GTEST_SKIP() << "sim unavailable: " << e.message();
  }
  const Inputs in = write_inputs(*this, 3);
  struct Case {
    std::string rule, device, extra;
  };
  for (const Case& c : {Case{"int8", "sim", ""}, Case{"int8-static", "sim", " --act-scale '" + in.sf + "'"},
                        Case{"int8", "sim:sm_80", " --out-dtype f16"}}) {
    SCOPED_TRACE(c.rule + " " + c.device);
    const auto r = qjit(base_args(in, c.rule, path("y.safetensors")) + " --device " + c.device + " --bias '" + in.bf +
                        "' --json" + c.extra);
    ASSERT_EQ(r.code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j.at("device"), "sim");
    if (c.device == "sim:sm_80") {
      EXPECT_EQ(j.at("arch"), "sm_80");
    }
    EXPECT_EQ(j.at("family"), "int8");
    LinearOptions o;
    o.bias = in.bias;
    if (c.rule == "int8-static") o.act_scale = in.scale;
    if (!c.extra.empty() && c.extra.find("f16") != std::string::npos) o.out_dtype = DType::kF16;
    expect_same_bytes(SafetensorsFile::open(path("y.safetensors")).get("output"), op_on_cpu(in.x, in.w, c.rule, o),
                      c.rule);
  }
}

// The other families wired on sim, through the command: the bits of the op on sim (the same
// kernels; the op's own test, tests/quant_ops/linear_test.cpp, holds sim against the cpu
// within derived bounds).
TEST_F(LinearCli, OtherFamiliesOnSimAreTheOpOnSim) {
  try {
    driver_for(Device::sim());
  } catch (const Error& e) {
    GTEST_SKIP() << "sim unavailable: " << e.message();
  }
  const bool fp8_mma = target_arch(*driver_for(Device::sim())).number >= 89;
  const Inputs in = write_inputs(*this, 7);
  int ran = 0;
  for (const std::string rule : {"fp8", "int8-per-tensor", "fp8-block128", "int8-weight-only"}) {
    SCOPED_TRACE(rule);
    const ResolvedRule rr = rule_of(rule);
    if (!fp8_mma && rr.weight != QType::kInt8) continue;
    const auto r = qjit(base_args(in, rule, path("y.safetensors")) + " --device sim --bias '" + in.bf + "'");
    ASSERT_EQ(r.code, 0) << r.err;
    LinearOptions o;
    o.bias = in.bias;
    expect_same_bytes(SafetensorsFile::open(path("y.safetensors")).get("output"),
                      linear_forward(in.x.to(Device::sim()), quantize_weight(in.w, rr), rr, o), rule);
    ++ran;
  }
  EXPECT_GE(ran, 1);
}

TEST_F(LinearCli, DumpQuantizedNamesAndContents) {
  const Inputs in = write_inputs(*this, 4);
  for (const std::string rule : {"int8", "fp8-block128", "int8-static", "int8-weight-only"}) {
    SCOPED_TRACE(rule);
    const bool stat = rule == "int8-static", wo = rule == "int8-weight-only";
    const auto r = qjit(base_args(in, rule, path("y.safetensors")) + " --dump-quantized '" + path("q.safetensors") +
                        "'" + (stat ? " --act-scale '" + in.sf + "'" : ""));
    ASSERT_EQ(r.code, 0) << r.err;
    const ResolvedRule rr = rule_of(rule);
    const SafetensorsFile q = SafetensorsFile::open(path("q.safetensors"));
    const std::vector<std::string> want_names =
        wo ? std::vector<std::string>{"weight", "weight_scale"}
           : std::vector<std::string>{"input_q", "input_scale", "weight", "weight_scale"};
    EXPECT_EQ(q.names(), want_names);
    EXPECT_EQ(q.metadata().at("weight_granularity"), std::string(granularity_name(rr.weight_granularity)));
    const QuantizedWeight qw = quantize_weight(in.w, rr);
    expect_same_bytes(q.get("weight"), qw.q, "weight");
    expect_same_bytes(q.get("weight_scale"), qw.scales, "weight_scale");
    if (!wo) {
      const QuantizedActivations qa =
          quantize_linear_input(in.x, rr, stat ? std::optional<Tensor>(in.scale) : std::nullopt);
      EXPECT_EQ(q.get("input_q").shape(), (std::vector<std::int64_t>{10, 160}));
      expect_same_bytes(q.get("input_q"), qa.q, "input_q");
      expect_same_bytes(q.get("input_scale"), qa.scales, "input_scale");
    }
    // The dump's weights fed back as pre-quantized weights (one file of several tensors, the
    // documented names picked) give the same output.
    const Tensor y1 = SafetensorsFile::open(path("y.safetensors")).get("output");
    const auto again = qjit("--weight '" + path("q.safetensors") + "' --weight-scale '" + path("q.safetensors") +
                            "' --input '" + in.xf + "' --rule " + rule + " --out '" + path("y2.safetensors") + "'" +
                            (stat ? " --act-scale '" + in.sf + "'" : ""));
    ASSERT_EQ(again.code, 0) << again.err;
    expect_same_bytes(SafetensorsFile::open(path("y2.safetensors")).get("output"), y1, "round trip");
  }
}

TEST_F(LinearCli, JsonSummary) {
  const Inputs in = write_inputs(*this, 5);
  const auto r = qjit(base_args(in, "fp8-block128", path("y.safetensors")) + " --json --bias '" + in.bf + "'");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err.find("[1/4]"), std::string::npos);  // no progress with --json
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("rule"), "fp8-block128");
  EXPECT_EQ(j.at("rule_form"), "preset");
  EXPECT_EQ(j.at("family"), "block_fp8");
  EXPECT_EQ(j.at("device"), "cpu");
  EXPECT_EQ(j.at("weight_qtype"), "fp8_e4m3");
  EXPECT_EQ(j.at("weight_granularity"), "block128");
  EXPECT_EQ(j.at("act_granularity"), "group128");
  EXPECT_EQ(j.at("act_scale"), "dynamic");
  EXPECT_EQ(j.at("input").at("shape"), nlohmann::json({2, 5, 160}));
  EXPECT_EQ(j.at("input").at("dtype"), "bf16");
  EXPECT_EQ(j.at("weight").at("shape"), nlohmann::json({48, 160}));
  EXPECT_EQ(j.at("weight_scale").at("shape"), nlohmann::json({1, 2}));
  EXPECT_EQ(j.at("bias").at("dtype"), "f32");
  EXPECT_EQ(j.at("output").at("shape"), nlohmann::json({2, 5, 48}));
  EXPECT_EQ(j.at("output").at("dtype"), "bf16");
  EXPECT_FALSE(j.at("kernels").empty());
  EXPECT_GT(j.at("time_ms").at("total").get<double>(), 0.0);
  // Text mode says the same in lines.
  const auto text = qjit(base_args(in, "fp8-block128", path("y.safetensors")));
  EXPECT_EQ(text.code, 0);
  EXPECT_NE(text.out.find("block_fp8 family"), std::string::npos) << text.out;
}

TEST_F(LinearCli, ErrorsAreMessagesWithANonZeroExit) {
  const Inputs in = write_inputs(*this, 6);
  const std::string y = path("y.safetensors");
  auto expect_fails = [&](const std::string& args, const std::vector<std::string>& parts) {
    SCOPED_TRACE(args);
    const auto r = qjit(args);
    EXPECT_NE(r.code, 0);
    EXPECT_NE(r.err.find("qjit: error"), std::string::npos) << r.err;
    for (const auto& p : parts) EXPECT_NE(r.err.find(p), std::string::npos) << r.err << "\nwants: " << p;
    EXPECT_FALSE(std::filesystem::exists(y)) << "an output was written";
  };
  // Missing file.
  expect_fails("--weight '" + path("nope.safetensors") + "' --input '" + in.xf + "' --rule int8 --out '" + y + "'",
               {"--weight", "nope.safetensors", "cannot open"});
  // An output directory that does not exist.
  expect_fails(base_args(in, "int8", path("no/such/dir/y.safetensors")), {"--out", "does not exist"});
  expect_fails(base_args(in, "int8", y) + " --dump-quantized '" + path("nodir/q.safetensors") + "'",
               {"--dump-quantized", "does not exist"});
  // Unknown rule.
  expect_fails(base_args(in, "int9", y), {"int9"});
  // Wrong shapes: K of the input differs from the weights', N not a multiple of 16.
  const std::string x96 = save("x96.safetensors", {{"input", randn({4, 96}, DType::kBF16, 1)}});
  expect_fails("--weight '" + in.wf + "' --input '" + x96 + "' --rule int8 --out '" + y + "'", {"K = 96", "K = 160"});
  const std::string w40 = save("w40.safetensors", {{"weight", randn({40, 160}, DType::kF32, 1)}});
  expect_fails("--weight '" + w40 + "' --input '" + in.xf + "' --rule int8 --out '" + y + "'", {"N = 40"});
  expect_fails(
      base_args(in, "int8", y) + " --bias '" + save("b7.safetensors", {{"bias", randn({7}, DType::kF32, 1)}}) + "'",
      {"bias", "[48]"});
  // Wrong dtypes: an int32 input, int8 codes under an fp8 rule, bf16 weight scales.
  const std::string xi = save("xi.safetensors", {{"input", Tensor::zeros({4, 160}, DType::kI32)}});
  expect_fails("--weight '" + in.wf + "' --input '" + xi + "' --rule int8 --out '" + y + "'",
               {"f32, f16 or bf16", "int32"});
  const QuantizedWeight qw = quantize_weight(in.w, rule_of("int8"));
  const std::string codes = save("codes.safetensors", {{"weight", qw.q}, {"weight_scale", qw.scales}});
  expect_fails(
      "--weight '" + codes + "' --weight-scale '" + codes + "' --input '" + in.xf + "' --rule fp8 --out '" + y + "'",
      {"fp8_e4m3", "int8"});
  const std::string bad_scale = save("bs.safetensors", {{"weight_scale", qw.scales.to_dtype(DType::kBF16)}});
  expect_fails("--weight '" + codes + "' --weight-scale '" + bad_scale + "' --input '" + in.xf +
                   "' --rule int8 --out '" + y + "'",
               {"f32", "bf16"});
  const std::string short_scale = save("ss.safetensors", {{"s", Tensor::zeros({16}, DType::kF32)}});
  expect_fails("--weight '" + codes + "' --weight-scale '" + short_scale + "' --input '" + in.xf +
                   "' --rule int8 --out '" + y + "'",
               {"per_channel", "[48]"});
  // Pre-quantized weights without scales; scales for float weights.
  expect_fails("--weight '" + codes + "' --input '" + in.xf + "' --rule int8 --out '" + y + "'", {"--weight-scale"});
  expect_fails(base_args(in, "int8", y) + " --weight-scale '" + codes + "'", {"--weight-scale", "pre-quantized"});
  // Static rule without --act-scale, and --act-scale with a dynamic rule.
  expect_fails(base_args(in, "int8-static", y), {"--act-scale", "static"});
  expect_fails(base_args(in, "int8", y) + " --act-scale '" + in.sf + "'", {"--act-scale", "dynamically"});
  expect_fails(
      base_args(in, "int8-static", y) + " --act-scale '" +
          save("s0.safetensors", {{"input_scale", Tensor::from_vector<float>({1}, std::vector<float>{0.0f})}}) + "'",
      {"finite and > 0"});
  // Several tensors, none with the documented name: the names found are listed.
  const std::string two = save("two.safetensors", {{"a", in.x}, {"b", in.x}});
  expect_fails("--weight '" + in.wf + "' --input '" + two + "' --rule int8 --out '" + y + "'",
               {"--input", "'a', 'b'", "'input'"});
  // A bad device; weight-only with an f32 input.
  expect_fails(base_args(in, "int8", y) + " --device tpu", {"tpu"});
  const std::string xf32 = save("xf32.safetensors", {{"input", randn({4, 160}, DType::kF32, 1)}});
  expect_fails("--weight '" + in.wf + "' --input '" + xf32 + "' --rule int8-weight-only --out '" + y + "'",
               {"weight-only", "f16 or bf16"});
  // A family the device cannot run (fp8 mma below sm_89) names rule, family and arch.
  expect_fails(base_args(in, "fp8", y) + " --device sim:sm_80", {"fp8", "sm_89", "sm_80"});
  // Missing required options (CLI11).
  const auto r = qjit("--input '" + in.xf + "'");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("--weight"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace qjit
