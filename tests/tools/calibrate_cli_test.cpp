// qjit calibrate end to end on the tiny Wan2.1 model (cpu): the command's JSON is what the
// Calibrator gives in-process on the same inputs (sample i = wan_synthetic_inputs(seed + i),
// at every timestep); its scales, applied with a static int8 rule to a model built from the
// same synthetic weights, run close to the float model (overall and per timestep bucket);
// checkpoints in either naming, with --blocks dropping the blocks past N; the methods and
// the layer filter; text, progress and --json; and every error before any work, as a
// message naming the problem, exit status 1 and an untouched --out.

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "../jit/test_util.hpp"
#include "quant_ops/calibration.hpp"
#include "quant_ops/rule.hpp"
#include "runtime/driver/cuda_driver.hpp"
#include "runtime/models/wan_checkpoint.hpp"
#include "runtime/models/wan_model.hpp"
#include "runtime/models/wan_synthetic.hpp"
#include "tests/support/checks.hpp"
#include "tests/tools/cli_run.hpp"
#include "tests/support/cuda_required.hpp"

namespace qjit {
namespace {

using Result = test::CliResult;

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

std::string slurp(const std::filesystem::path& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// The command's defaults, repeated here to rebuild its work in-process.
constexpr std::uint64_t kSeed = 0;
constexpr std::int64_t kSamples = 2, kFrames = 2, kHeight = 8, kWidth = 8, kTextTokens = 16;
const std::vector<double> kTimesteps = {999, 750, 500, 250, 0};

const std::map<std::string, Tensor>& weights() {
  static const auto w = wan_synthetic_weights(WanConfig::tiny(), kSeed);
  return w;
}

// What `qjit calibrate --model wan2.1-tiny` with `options` computes, done in-process.
CalibrationResult calibrate_in_process(const CalibrationOptions& options) {
  WanModel model(WanConfig::tiny(), weights());
  Calibrator cal(model, options);
  for (std::int64_t i = 0; i < kSamples; ++i) {
    const WanInputs in = wan_synthetic_inputs(WanConfig::tiny(), 1, kFrames, kHeight, kWidth, kTextTokens, kSeed + i);
    for (const double t : kTimesteps) {
      if (!options.timestep_edges.empty()) cal.set_timestep(t);
      model.forward(in.latents, Tensor::from_vector<float>({1}, std::vector<float>{static_cast<float>(t)}), in.context);
    }
  }
  return cal.finish();
}

// The accuracy of calibrated static int8 on a held-out input (seed 100, not one the command
// calibrated on) at timestep `t`, against the float model: `static_nmse` under the static rule
// with the result's scales (of `bucket`, or over all inputs); `dynamic_nmse` under int8
// per-tensor *dynamic* activations (the same rule with each call's own amax); and the range,
// over the layers, of the ratio of the calibrated amax to that call's own.
struct Accuracy {
  double static_nmse = 0.0, dynamic_nmse = 0.0;
  double min_ratio = 1e30, max_ratio = 0.0;
};

Accuracy static_int8_accuracy(const CalibrationResult& result, std::optional<int> bucket, float t) {
  const WanInputs in = wan_synthetic_inputs(WanConfig::tiny(), 1, kFrames, kHeight, kWidth, kTextTokens, 100);
  const Tensor ts = Tensor::from_vector<float>({1}, std::vector<float>{t});
  WanModel reference(WanConfig::tiny(), weights());
  CalibrationResult own;  // this input's per-call amax: one forward, one call per layer
  {
    Calibrator cal(reference);
    reference.forward(in.latents, ts, in.context);
    own = cal.finish();
  }
  const Tensor want = reference.forward(in.latents, ts, in.context);
  Accuracy a;
  for (const auto& [path, c] : result.layers) {
    const float cal_amax = bucket ? c.buckets.at(static_cast<std::size_t>(*bucket)).amax : c.all.amax;
    const double r = cal_amax / own.layers.at(path).all.amax;
    a.min_ratio = std::min(a.min_ratio, r);
    a.max_ratio = std::max(a.max_ratio, r);
  }
  WanModel model(WanConfig::tiny(), weights());
  const ApplyReport report = Rule{.weight = "int8", .act = "int8", .act_static_scale = true}.apply(
      model, act_scales_for(result, QType::kInt8, bucket));
  EXPECT_EQ(report.count(LayerApplied::Outcome::kQuantized), wan_linear_shapes(WanConfig::tiny()).size());
  a.static_nmse = test::nmse(model.forward(in.latents, ts, in.context), want);
  WanModel dynamic(WanConfig::tiny(), weights());
  Rule{.weight = "int8", .act = "int8", .act_granularity = "per_tensor"}.apply(dynamic);
  a.dynamic_nmse = test::nmse(dynamic.forward(in.latents, ts, in.context), want);
  return a;
}

// The bounds on the static int8 model's NMSE against the float model.
//
// Absolute, from the formats: int8 rounding with step s = amax / 127 adds noise of variance
// s^2 / 12 to an operand of mean square P, a relative error c^2 / (12 * 127^2) = c^2 / 193548
// with c = amax / sqrt(P) the crest factor (clipping aside: the held-out input's magnitudes are
// within the ratio check's range of those the calibration saw). On the synthetic model (wan_synthetic.hpp):
//  - weights, Xavier uniform per channel: c^2 = 3, 1.6e-5 per layer; 26 layers: 4e-4;
//  - the inputs of self_attn.q/k/v and ffn.0 (8 layers): unit-RMS norm rows of D = 128 channels
//    with one outlier channel scaled by up to 1 + kOutlierScaleMax = 20: P = (127 + 20^2) / 128
//    = 4.1, amax <= 20 * 3.5 sigma = 70, c^2 = 1200, 6.2e-3 each: 4.9e-2;
//  - text_embedding.0's input, N(0, 1) context with one of 64 channels x20: P = 7.2, amax 70,
//    c^2 = 680: 3.5e-3;
//  - the other 17 layers, Gaussian-like (GELU's output for ffn.2) with amax <= 6 sigma:
//    c^2 <= 36, 1.9e-4 each: 3.2e-3.
// Each layer's relative error reaches the output at most once, without gain (Wan's branches
// join the residual stream through gates of magnitude ~1/sqrt(D), which only shrink them; the
// measurement is far below for that reason), and independent rounding errors add: the sum is
// 5.6e-2, so 6e-2.
constexpr double kStaticInt8Bound = 6e-2;
// Relative to int8 per-tensor dynamic activations (same weights, same granularity): the static
// rule differs only in the amax of each layer's scale, the calibration's instead of the call's
// own. Rounding noise grows with the step squared, so a layer whose calibrated amax is r times
// its own adds r^2 times the dynamic noise; with every r in [2/3, 3/2] (checked) the static NMSE
// is at most (3/2)^2 = 2.25 times the dynamic one. (Where r < 1 the input's few largest
// elements clip, each by at most (1 - r) of its magnitude; on this model that happens where the
// context or the time embedding feeds a layer, among the small contributors above.)
constexpr double kRatioLow = 2.0 / 3.0, kRatioHigh = 1.5;

class CalibrateCli : public ::testing::Test {
 public:
  std::string path(const std::string& name) const { return (dir_.path() / name).string(); }
  Result qjit(const std::string& args) const {
    return test::run_qjit("calibrate " + args, "QJIT_CACHE_DIR='" + cache_dir() + "'");
  }
  std::size_t files_in_dir() const {
    return static_cast<std::size_t>(
        std::distance(std::filesystem::directory_iterator(dir_.path()), std::filesystem::directory_iterator()));
  }

 private:
  // Kernels compiled by one sim run are reused by the next: the suite's cache when the test
  // environment names one, else one directory for this binary.
  static std::string cache_dir() {
    static test::TempDir* own = new test::TempDir;  // NOTE: leaked; lives as long as the process
    const char* env = std::getenv("QJIT_CACHE_DIR");
    return env && *env ? env : own->path().string();
  }
  test::TempDir dir_;
};

void expect_accuracy(const Accuracy& a) {
  EXPECT_GE(a.min_ratio, kRatioLow);
  EXPECT_LE(a.max_ratio, kRatioHigh);
  EXPECT_LT(a.static_nmse, kStaticInt8Bound);
  EXPECT_LT(a.static_nmse, kRatioHigh * kRatioHigh * a.dynamic_nmse);
}

TEST_F(CalibrateCli, StaticInt8ScalesFromTheCommandRunCloseToTheFloatModel) {
  const std::string out = path("calib.json");
  const Result r = qjit("--model wan2.1-tiny --out " + out);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  // Text summary (layers in module order) and progress.
  EXPECT_TRUE(has(r.out, "calibrated wan2.1-tiny (2 blocks) on cpu: 26 layers, method absmax")) << r.out;
  EXPECT_TRUE(has(r.out, "weights   synthetic (seed 0)")) << r.out;
  EXPECT_TRUE(has(r.out, "2 samples (seeds 0..1) x 5 timesteps (999, 750, 500, 250, 0) = 10 forwards")) << r.out;
  EXPECT_TRUE(has(r.out, "buckets   none")) << r.out;
  EXPECT_LT(r.out.find("\ntext_embedding.0 "), r.out.find("\nblocks.0.self_attn.q ")) << r.out;
  EXPECT_LT(r.out.find("\nblocks.1.ffn.2 "), r.out.find("\nhead.head ")) << r.out;
  EXPECT_TRUE(has(r.err, "[3/10] sample 1 timestep 500 ...")) << r.err;
  EXPECT_TRUE(has(r.err, "[10/10] sample 2 timestep 0 ...")) << r.err;

  const CalibrationResult got = CalibrationResult::load(out);
  ASSERT_EQ(got.layers.size(), wan_linear_shapes(WanConfig::tiny()).size());
  EXPECT_EQ(got.method, CalibrationMethod::kAbsMax);
  EXPECT_TRUE(got.timestep_edges.empty());
  EXPECT_EQ(got.layers.at("blocks.0.self_attn.q").all.batches, kSamples * 5);
  // The command's statistics are the Calibrator's on the same inputs, to the bit.
  EXPECT_EQ(got.to_json(), calibrate_in_process({}).to_json());
  EXPECT_EQ(files_in_dir(), 1u);  // no temporary file left beside the output

  const Accuracy a = static_int8_accuracy(got, std::nullopt, 600.0f);
  RecordProperty("nmse_static_int8", fmt::format("{:.3g}", a.static_nmse));
  RecordProperty("nmse_dynamic_per_tensor_int8", fmt::format("{:.3g}", a.dynamic_nmse));
  expect_accuracy(a);
}

// --buckets: per-bucket statistics besides the overall ones (which stay those of the plain
// run), each bucket's scales usable alone; the JSON summary.
TEST_F(CalibrateCli, TimestepBucketsAndJsonSummary) {
  const std::string out = path("calib.json");
  const Result r = qjit("--model wan2.1-tiny --buckets 500 --json --out " + out);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_TRUE(has(r.err, "[2/10] sample 1 timestep 750 (bucket 1) ...")) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("model"), "wan2.1-tiny");
  EXPECT_EQ(j.at("device"), "cpu");
  EXPECT_EQ(j.at("weights").at("source"), "synthetic");
  EXPECT_EQ(j.at("forwards"), 10);
  EXPECT_EQ(j.at("buckets").at("edges"), nlohmann::json::array({500.0}));
  EXPECT_EQ(j.at("buckets").at("ranges")[0].at("range"), "t < 500");
  EXPECT_EQ(j.at("buckets").at("ranges")[0].at("timesteps"), nlohmann::json::array({250.0, 0.0}));
  EXPECT_EQ(j.at("buckets").at("ranges")[1].at("range"), "t >= 500");
  ASSERT_EQ(j.at("layers").size(), 26u);
  EXPECT_EQ(j.at("layers")[0].at("path"), "text_embedding.0");

  const CalibrationResult got = CalibrationResult::load(out);
  EXPECT_EQ(got.timestep_edges, std::vector<double>{500.0});
  EXPECT_EQ(got.to_json(), calibrate_in_process({.timestep_edges = {500.0}}).to_json());
  const CalibrationResult plain = calibrate_in_process({});
  for (const nlohmann::json& l : j.at("layers")) {
    const std::string p = l.at("path");
    SCOPED_TRACE(p);
    const LayerCalibration& c = got.layers.at(p);
    ASSERT_EQ(c.buckets.size(), 2u);
    EXPECT_EQ(c.buckets[0].batches, kSamples * 2);  // t = 250, 0
    EXPECT_EQ(c.buckets[1].batches, kSamples * 3);  // t = 999, 750, 500
    EXPECT_EQ(c.all.amax, plain.layers.at(p).all.amax);
    EXPECT_EQ(std::max(c.buckets[0].amax, c.buckets[1].amax), c.all.amax);
    EXPECT_EQ(l.at("scale").at("int8").get<float>(), got.scale(p, QType::kInt8));
    EXPECT_EQ(l.at("scale").at("fp8_e4m3").get<float>(), got.scale(p, QType::kE4M3));
    EXPECT_EQ(l.at("buckets")[1].at("scale").at("int8").get<float>(), got.scale(p, QType::kInt8, 1));
  }
  // t = 600 is in bucket 1; the same bounds hold for its scales (they come from 6 of the 10
  // forwards, whose magnitudes are the same as all 10's to within the ratio check).
  const Accuracy a = static_int8_accuracy(got, 1, 600.0f);
  RecordProperty("nmse_static_int8_bucket1", fmt::format("{:.3g}", a.static_nmse));
  expect_accuracy(a);
}

// --weights in native and diffusers names gives the synthetic run's statistics (same bf16
// weights); --blocks N with a file of more blocks drops the rest, and a file of fewer blocks
// than asked for, or of another model's shapes, is an error naming the file and tensor.
TEST_F(CalibrateCli, WeightsFromACheckpointInEitherNaming) {
  const std::string native = path("native.safetensors"), diffusers = path("diffusers.safetensors");
  save_wan_weights(native, weights(), WanNaming::kNative);
  save_wan_weights(diffusers, weights(), WanNaming::kDiffusers);
  const std::string flags = " --samples 1 --timesteps 900,100 --model wan2.1-tiny";
  ASSERT_EQ(qjit(flags + " --out " + path("synthetic.json")).code, 0);
  const std::string want = slurp(path("synthetic.json"));
  for (const std::string& file : {native, diffusers}) {
    SCOPED_TRACE(file);
    const Result r = qjit(flags + " --weights " + file + " --json --out " + path("file.json"));
    ASSERT_EQ(r.code, 0) << r.out << r.err;
    EXPECT_EQ(slurp(path("file.json")), want);
    const nlohmann::json j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j.at("weights").at("source"), "file");
    EXPECT_EQ(j.at("weights").at("naming"), file == native ? "native" : "diffusers");
  }
  // --blocks 1 of the 2-block file: block 1's tensors are dropped after the file is checked.
  ASSERT_EQ(qjit(flags + " --blocks 1 --out " + path("synthetic1.json")).code, 0);
  const Result one = qjit(flags + " --blocks 1 --weights " + diffusers + " --out " + path("file1.json"));
  ASSERT_EQ(one.code, 0) << one.out << one.err;
  EXPECT_TRUE(has(one.out, "(diffusers names, 1 of its 2 blocks)")) << one.out;
  EXPECT_TRUE(has(one.out, "1 blocks) on cpu: 16 layers")) << one.out;
  EXPECT_EQ(slurp(path("file1.json")), slurp(path("synthetic1.json")));
  // A 1-block file: fine with --blocks 1, missing parameters without.
  std::map<std::string, Tensor> block0 = weights();
  std::erase_if(block0, [](const auto& kv) { return kv.first.rfind("blocks.1.", 0) == 0; });
  const std::string short_file = path("short.safetensors");
  save_wan_weights(short_file, block0, WanNaming::kNative);
  EXPECT_EQ(qjit(flags + " --blocks 1 --weights " + short_file + " --out " + path("file1.json")).code, 0);
  EXPECT_EQ(slurp(path("file1.json")), slurp(path("synthetic1.json")));
  const Result missing = qjit(flags + " --weights " + short_file + " --out " + path("x.json"));
  EXPECT_EQ(missing.code, 1);
  EXPECT_TRUE(has(missing.err, "--weights " + short_file + ": ")) << missing.err;
  EXPECT_TRUE(has(missing.err, "missing 27 of the 69 parameters: 'blocks.1.modulation'")) << missing.err;
  const Result other = qjit(" --model wan2.1-1.3b --blocks 2 --weights " + native + " --out " + path("x.json"));
  EXPECT_EQ(other.code, 1);
  EXPECT_TRUE(
      has(other.err,
          "(native names, config wan2.1-1.3b): tensor 'blocks.0.cross_attn.k.bias' has shape [128], expected [1536]"))
      << other.err;
  EXPECT_FALSE(std::filesystem::exists(path("x.json")));
}

// The other methods and the layer filter; the same run on sim gives the cpu's statistics to
// within the forward's precision.
TEST_F(CalibrateCli, MethodsLayerFilterAndSim) {
  const std::string flags = " --model wan2.1-tiny --samples 1 --timesteps 700,200";
  const Result p =
      qjit(flags + " --method percentile --percentile 99 --layers 'blocks\\.0\\..*' --out " + path("p.json"));
  ASSERT_EQ(p.code, 0) << p.out << p.err;
  EXPECT_TRUE(has(p.out, "10 layers, method percentile (p = 99)")) << p.out;
  const CalibrationResult pr = CalibrationResult::load(path("p.json"));
  EXPECT_EQ(pr.method, CalibrationMethod::kPercentile);
  EXPECT_EQ(pr.percentile, 99.0);
  ASSERT_EQ(pr.layers.size(), 10u);
  for (const auto& [path, c] : pr.layers) {
    EXPECT_EQ(path.rfind("blocks.0.", 0), 0u) << path;
    EXPECT_EQ(c.all.amax, c.all.percentile) << path;
    EXPECT_LE(c.all.percentile, c.all.absmax + c.all.percentile_resolution) << path;
  }
  const Result m = qjit(flags + " --method moving_average --momentum 0.5 --out " + path("m.json"));
  ASSERT_EQ(m.code, 0) << m.out << m.err;
  const CalibrationResult mr = CalibrationResult::load(path("m.json"));
  EXPECT_EQ(mr.method, CalibrationMethod::kMovingAverage);
  EXPECT_EQ(mr.momentum, 0.5);
  for (const auto& [path, c] : mr.layers) EXPECT_EQ(c.all.amax, c.all.moving_average) << path;

  // sim: the forward differs from the cpu's by about one rounding per op; wan_model_test holds
  // it to NMSE 1e-3, an RMS relative difference of sqrt(1e-3) = 3.2%, which bounds how far
  // each layer's input amax (a max of bf16 values) may move.
  const Result cpu = qjit(flags + " --out " + path("cpu.json"));
  const Result sim = qjit(flags + " --device sim --out " + path("sim.json"));
  ASSERT_EQ(cpu.code, 0) << cpu.err;
  ASSERT_EQ(sim.code, 0) << sim.err;
  EXPECT_TRUE(has(sim.out, "on sim: 26 layers")) << sim.out;
  const CalibrationResult c = CalibrationResult::load(path("cpu.json")), s = CalibrationResult::load(path("sim.json"));
  for (const auto& [path, l] : c.layers) {
    EXPECT_NEAR(s.layers.at(path).all.amax, l.all.amax, std::sqrt(1e-3) * l.all.amax) << path;
  }
}

// The same on a GPU, with the sim's bound (cuda runs the sim's PTX).
TEST_F(CalibrateCli, CudaMatchesCpu) {
  QJIT_SKIP_WITHOUT_CUDA();
  const std::string flags = " --model wan2.1-tiny --samples 1 --timesteps 700,200";
  const Result cpu = qjit(flags + " --out " + path("cpu.json"));
  const Result gpu = qjit(flags + " --device cuda --out " + path("cuda.json"));
  ASSERT_EQ(cpu.code, 0) << cpu.err;
  ASSERT_EQ(gpu.code, 0) << gpu.err;
  const CalibrationResult c = CalibrationResult::load(path("cpu.json")), g = CalibrationResult::load(path("cuda.json"));
  for (const auto& [path, l] : c.layers) {
    EXPECT_NEAR(g.layers.at(path).all.amax, l.all.amax, std::sqrt(1e-3) * l.all.amax) << path;
  }
}

// Every problem is found before any work: exit status 1, a message naming the flag and the
// problem, no forward run (no progress line) and --out untouched.
TEST_F(CalibrateCli, ErrorsBeforeAnyWork) {
  const std::string keep = path("keep.json");
  {
    std::ofstream f(keep);
    f << "previous\n";
  }
  const std::string base = " --out " + keep;
  const std::string tiny = " --model wan2.1-tiny";
  std::vector<std::pair<std::string, std::string>> cases = {
      {" --model wan2.1-huge" + base, "unknown model 'wan2.1-huge'"},
      {tiny + " --blocks 3" + base, "--blocks 3: wan2.1-tiny has 2 blocks"},
      {tiny + " --samples -1" + base, "--samples -1: must be at least 1"},
      {tiny + " --height 7" + base, "--height 7"},
      {tiny + " --text-tokens 33" + base, "--text-tokens 33: must be in 1..32"},
      {tiny + " --timesteps 999,abc" + base, "--timesteps 999,abc: entry 1 'abc' is not a finite number"},
      {tiny + " --timesteps 999,,0" + base, "entry 1 '' is not a finite number"},
      {tiny + " --timesteps 1200" + base, "--timesteps 1200: entry 0 is 1200, outside Wan's [0, 1000]"},
      {tiny + " --buckets 500,250" + base, "--buckets 500,250: edges must be strictly increasing, but 250 follows 500"},
      {tiny + " --buckets 100,200" + base, "bucket 1 (100 <= t < 200) gets none of --timesteps"},
      {tiny + " --method histogram" + base, "unknown calibration method 'histogram'"},
      {tiny + " --percentile 99" + base, "--percentile is for --method percentile, not absmax"},
      {tiny + " --method percentile --percentile 0" + base, "--percentile 0: must be in (0, 100]"},
      {tiny + " --method moving_average --momentum 1" + base, "--momentum 1: must be in [0, 1)"},
      {tiny + " --layers 'blocks\\.9\\..*'" + base, "--layers 'blocks\\.9\\..*': matches none of the 26 linear layers"},
      {tiny + " --layers '(ffn'" + base, "--layers '(ffn': not a valid regex"},
      {tiny + " --device tpu" + base, "--device tpu"},
      {tiny + " --weights " + path("none.safetensors") + base, "--weights " + path("none.safetensors")},
      {tiny + " --weights " + keep + base, "--weights " + keep},
      {tiny + " --out " + path("no/such/dir/c.json"), "the directory " + path("no/such/dir") + " does not exist"},
      {tiny + " --out " + path(""), "is a directory"},
  };
  if (!cuda_available()) cases.emplace_back(tiny + " --device cuda" + base, "--device cuda: no GPU answers");
  for (const auto& [args, message] : cases) {
    SCOPED_TRACE(args);
    const Result r = qjit(args);
    EXPECT_EQ(r.code, 1);
    EXPECT_TRUE(has(r.err, message)) << r.err;
    EXPECT_FALSE(has(r.err, "[1/")) << r.err;
  }
  EXPECT_EQ(slurp(keep), "previous\n");
  EXPECT_EQ(files_in_dir(), 1u);  // no temporary file left behind
}

}  // namespace
}  // namespace qjit
