// qjit calibrate: collect static activation scales (DESIGN.md section 7). Runs seeded
// synthetic inputs, each at every timestep of a list, through the unquantized Wan2.1 model
// (synthetic weights or a checkpoint) with quant_ops' Calibrator observing the chosen Linear
// layers, and writes the CalibrationResult JSON (per layer: absmax, moving average of the
// per-batch absmax, percentile; per timestep bucket when --buckets are given) that
// act_scales_for turns into the ApplyOptions of an act_static_scale rule. Every flag, the
// output path, the layer filter and the weights file are checked before the first forward.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli_device.hpp"
#include "cli_files.hpp"
#include "commands.hpp"
#include "common/error.hpp"
#include "common/regex.hpp"
#include "quant_ops/calibration.hpp"
#include "common/qtype.hpp"
#include "runtime/device.hpp"
#include "runtime/driver/cuda_driver.hpp"
#include "runtime/models/wan_checkpoint.hpp"
#include "runtime/models/wan_config.hpp"
#include "runtime/models/wan_model.hpp"
#include "runtime/models/wan_synthetic.hpp"
#include "runtime/safetensors.hpp"
#include "runtime/tensor.hpp"

namespace qjit::cli {

namespace {

constexpr const char* kSub = "calibrate";
constexpr double kMaxTimestep = WanConfig::kMaxTimestep;
// The text summary lists this many layers, then a count (every layer is in --out and --json).
constexpr std::size_t kListedLayers = 32;

struct CalibrateFlags {
  std::string model;
  std::int64_t blocks = -1;  // -1: the model's own count
  std::string weights;       // a Wan safetensors checkpoint; empty: synthetic weights
  std::uint64_t seed = 0;
  std::int64_t samples = 2;
  std::int64_t frames = 2, height = 8, width = 8, text_tokens = 16;
  std::string timesteps = "999,750,500,250,0";
  std::string buckets;  // bucket edges; empty: none
  std::string method = "absmax";
  double percentile = 99.99;
  double momentum = 0.9;
  std::string layers;  // regex over native layer paths; empty: every Linear
  std::string device;  // empty: QJIT_DEVICE, else cpu
  std::string out;
  bool json = false;
  // Whether --percentile / --momentum were given (they belong to one method each).
  bool percentile_given = false, momentum_given = false;
};

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

// "999,750,500" -> numbers; every entry finite, none empty. `option` names the flag in errors.
std::vector<double> parse_number_list(const std::string& option, const std::string& text) {
  std::vector<double> out;
  QJIT_CHECK_GEN(kSub, !text.empty(), "{}: expected a comma-separated list of numbers, got an empty string", option);
  std::size_t start = 0;
  for (std::size_t index = 0;; ++index) {
    const std::size_t comma = text.find(',', start);
    const std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    const auto first = item.find_first_not_of(' ');
    const std::string trimmed =
        first == std::string::npos ? "" : item.substr(first, item.find_last_not_of(' ') - first + 1);
    char* end = nullptr;
    errno = 0;
    const double v = trimmed.empty() ? 0.0 : std::strtod(trimmed.c_str(), &end);
    QJIT_CHECK_GEN(kSub, !trimmed.empty() && end == trimmed.c_str() + trimmed.size() && errno == 0 && std::isfinite(v),
                   "{} {}: entry {} '{}' is not a finite number", option, text, index, trimmed);
    out.push_back(v);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

// The bucket of t as CalibrationOptions::timestep_edges defines it (std::upper_bound).
std::size_t bucket_of(const std::vector<double>& edges, double t) {
  return static_cast<std::size_t>(std::upper_bound(edges.begin(), edges.end(), t) - edges.begin());
}

// "t < 250", "250 <= t < 750", "t >= 750".
std::string bucket_range(const std::vector<double>& edges, std::size_t b) {
  if (b == 0) return fmt::format("t < {}", edges.front());
  if (b == edges.size()) return fmt::format("t >= {}", edges.back());
  return fmt::format("{} <= t < {}", edges[b - 1], edges[b]);
}

// The output file, reserved before any work: a temporary file beside it is created up front
// (so a directory that is missing, read-only or full fails now, not after the forwards) and
// renamed over it once the result is written, so readers never see a partial file. Removed
// if the command fails.
class AtomicOutput {
 public:
  explicit AtomicOutput(const std::string& path) : path_(path) {
    std::error_code ec;
    QJIT_CHECK_GEN(kSub, !std::filesystem::is_directory(path, ec),
                   "--out {}: is a directory; give the path of the calibration JSON file", path);
    const std::filesystem::path dir = std::filesystem::absolute(path).parent_path();
    QJIT_CHECK_GEN(kSub, std::filesystem::is_directory(dir, ec), "--out {}: the directory {} does not exist", path,
                   dir.string());
    temp_ = (dir / (std::filesystem::path(path).filename().string() + ".tmp-XXXXXX")).string();
    fd_ = ::mkstemp(temp_.data());
    QJIT_CHECK_GEN(kSub, fd_ >= 0, "--out {}: cannot create a file in {}: {}", path, dir.string(),
                   std::strerror(errno));
    // mkstemp makes the file 0600; give it the mode a plain create would (0666 & ~umask).
    const mode_t mask = ::umask(0);
    ::umask(mask);
    ::fchmod(fd_, 0666 & ~mask);
  }
  AtomicOutput(const AtomicOutput&) = delete;
  AtomicOutput& operator=(const AtomicOutput&) = delete;
  ~AtomicOutput() {
    if (fd_ >= 0) ::close(fd_);
    if (!temp_.empty()) ::unlink(temp_.c_str());
  }

  void commit(const std::string& text) {
    for (std::size_t done = 0; done < text.size();) {
      const ssize_t n = ::write(fd_, text.data() + done, text.size() - done);
      if (n < 0 && errno == EINTR) continue;
      QJIT_CHECK_GEN(kSub, n > 0, "--out {}: writing {} failed: {}", path_, temp_, std::strerror(errno));
      done += static_cast<std::size_t>(n);
    }
    QJIT_CHECK_GEN(kSub, ::fsync(fd_) == 0, "--out {}: fsync of {} failed: {}", path_, temp_, std::strerror(errno));
    const int closed = ::close(fd_);
    fd_ = -1;
    QJIT_CHECK_GEN(kSub, closed == 0, "--out {}: closing {} failed: {}", path_, temp_, std::strerror(errno));
    // NOTE: checked again at the commit point: a FIFO or device put there during the work is
    // refused rather than replaced.
    struct stat st {};
    QJIT_CHECK_GEN(kSub, ::stat(path_.c_str(), &st) != 0 || S_ISREG(st.st_mode),
                   "--out {}: is no longer a regular file; not replacing it", path_);
    QJIT_CHECK_GEN(kSub, ::rename(temp_.c_str(), path_.c_str()) == 0, "--out {}: renaming {} over it failed: {}", path_,
                   temp_, std::strerror(errno));
    temp_.clear();
  }

 private:
  std::string path_, temp_;
  int fd_ = -1;
};

// The weights of `config` (whose layers may be fewer than the model's): from --weights,
// checked by load_wan_weights against the config (a file of more blocks gives its first
// ones), or synthetic.
std::map<std::string, Tensor> weights_for(const CalibrateFlags& f, const WanConfig& config, nlohmann::json& info) {
  if (f.weights.empty()) {
    info = {{"source", "synthetic"}, {"seed", f.seed}};
    return wan_synthetic_weights(config, f.seed);
  }
  try {
    const CheckpointFiles file = CheckpointFiles::open(f.weights);
    const WanNaming naming = detect_wan_naming(file);
    const std::int64_t in_file = wan_checkpoint_blocks(file);
    std::map<std::string, Tensor> weights = load_wan_weights(file, config, /*first_blocks=*/true);
    info = {{"source", "file"},
            {"path", f.weights},
            {"naming", std::string(wan_naming_name(naming))},
            {"blocks_in_file", in_file},
            {"blocks_used", config.layers}};
    return weights;
  } catch (const Error& e) {
    QJIT_THROW(kSub, "--weights {}: {}", f.weights, e.message());
  }
}

nlohmann::json stats_json(const LayerStats& s, const std::string& layer, const CalibrationResult& r,
                          std::optional<int> bucket) {
  return {
      {"batches", s.batches},
      {"elements", s.elements},
      {"absmax", s.absmax},
      {"moving_average", s.moving_average},
      {"percentile", s.percentile},
      {"amax", s.amax},
      {"scale", {{"int8", r.scale(layer, QType::kInt8, bucket)}, {"fp8_e4m3", r.scale(layer, QType::kE4M3, bucket)}}}};
}

void run(const CalibrateFlags& f) {
  const auto start = Clock::now();

  // 1. Every flag, the layer filter and the output path, before anything is built.
  const WanConfig full = [&] {
    try {
      return WanConfig::by_name(f.model);
    } catch (const Error& e) {
      QJIT_THROW(kSub, "--model: {}", e.message());
    }
  }();
  WanConfig config = full;
  if (f.blocks != -1) {
    QJIT_CHECK_GEN(kSub, f.blocks >= 1 && f.blocks <= full.layers, "--blocks {}: {} has {} blocks (give 1 to {})",
                   f.blocks, full.name, full.layers, full.layers);
    config.layers = f.blocks;
  }
  QJIT_CHECK_GEN(kSub, f.samples >= 1, "--samples {}: must be at least 1", f.samples);
  QJIT_CHECK_GEN(kSub, f.frames >= 1, "--frames {}: must be at least 1", f.frames);
  QJIT_CHECK_GEN(kSub, f.height >= 2 && f.height % 2 == 0,
                 "--height {}: must be a positive even number (the patch is 2x2)", f.height);
  QJIT_CHECK_GEN(kSub, f.width >= 2 && f.width % 2 == 0,
                 "--width {}: must be a positive even number (the patch is 2x2)", f.width);
  QJIT_CHECK_GEN(kSub, f.text_tokens >= 1 && f.text_tokens <= config.text_len,
                 "--text-tokens {}: must be in 1..{} ({}'s text_len)", f.text_tokens, config.text_len, config.name);
  const std::vector<double> timesteps = parse_number_list("--timesteps", f.timesteps);
  for (std::size_t i = 0; i < timesteps.size(); ++i) {
    QJIT_CHECK_GEN(kSub, timesteps[i] >= 0.0 && timesteps[i] <= kMaxTimestep,
                   "--timesteps {}: entry {} is {}, outside Wan's [0, {}]", f.timesteps, i, timesteps[i], kMaxTimestep);
  }
  std::vector<double> edges;
  if (!f.buckets.empty()) {
    edges = parse_number_list("--buckets", f.buckets);
    for (std::size_t i = 1; i < edges.size(); ++i) {
      QJIT_CHECK_GEN(kSub, edges[i - 1] < edges[i],
                     "--buckets {}: edges must be strictly increasing, but {} follows {}", f.buckets, edges[i],
                     edges[i - 1]);
    }
    // A bucket no timestep falls in would hold no statistics, and its scale could not be used.
    for (std::size_t b = 0; b <= edges.size(); ++b) {
      const bool hit =
          std::any_of(timesteps.begin(), timesteps.end(), [&](double t) { return bucket_of(edges, t) == b; });
      QJIT_CHECK_GEN(kSub, hit, "--buckets {}: bucket {} ({}) gets none of --timesteps {}; every bucket needs one",
                     f.buckets, b, bucket_range(edges, b), f.timesteps);
    }
  }
  CalibrationMethod method;
  try {
    method = parse_calibration_method(f.method);
  } catch (const Error& e) {
    QJIT_THROW(kSub, "--method: {}", e.message());
  }
  QJIT_CHECK_GEN(kSub, !f.percentile_given || method == CalibrationMethod::kPercentile,
                 "--percentile is for --method percentile, not {}", f.method);
  QJIT_CHECK_GEN(kSub, !f.momentum_given || method == CalibrationMethod::kMovingAverage,
                 "--momentum is for --method moving_average, not {}", f.method);
  QJIT_CHECK_GEN(kSub, f.percentile > 0.0 && f.percentile <= 100.0, "--percentile {}: must be in (0, 100]",
                 f.percentile);
  QJIT_CHECK_GEN(kSub, f.momentum >= 0.0 && f.momentum < 1.0, "--momentum {}: must be in [0, 1)", f.momentum);
  const std::vector<LinearShape> shapes = wan_linear_shapes(config);
  if (!f.layers.empty()) {
    std::optional<Regex> filter;
    try {
      filter.emplace(f.layers, kSub);
    } catch (const Error& e) {
      QJIT_THROW(kSub, "--layers '{}': not a valid regex: {}", f.layers.substr(0, 200), e.message());
    }
    const bool any = std::any_of(shapes.begin(), shapes.end(),
                                 [&](const LinearShape& s) { return filter->full_match(s.name); });
    QJIT_CHECK_GEN(kSub, any,
                   "--layers '{}': matches none of the {} linear layers of {} ({} blocks); it must match a whole "
                   "native path such as {}, {} or {}",
                   f.layers, shapes.size(), config.name, config.layers, shapes.front().name,
                   shapes[std::min<std::size_t>(5, shapes.size() - 1)].name, shapes.back().name);
  }
  const Device device = parse_device_flag(f.device, kSub);
  check_outputs(kSub, {{"--out", f.out}}, {{"--weights", f.weights}});
  AtomicOutput output(f.out);

  // 2. Weights (a file's header is checked whole before its data is read), then the model.
  nlohmann::json weights_info;
  const std::map<std::string, Tensor> weights = weights_for(f, config, weights_info);
  const std::string weights_text =
      f.weights.empty()
          ? fmt::format("synthetic (seed {})", f.seed)
          : fmt::format("{} ({} names, {} of its {} blocks)", f.weights, weights_info["naming"].get<std::string>(),
                        config.layers, weights_info["blocks_in_file"].get<std::int64_t>());
  WanModel model(config, weights, device);
  Calibrator calibrator(model, {.method = method,
                                .momentum = f.momentum,
                                .percentile = f.percentile,
                                .module_path = f.layers,
                                .timestep_edges = edges});
  const std::size_t forwards = static_cast<std::size_t>(f.samples) * timesteps.size();
  std::fprintf(stderr, "qjit calibrate: %s (%lld blocks) on %s, weights %s: %zu layers observed, %s, %zu forwards\n",
               config.name.c_str(), static_cast<long long>(config.layers), device.str().c_str(), weights_text.c_str(),
               calibrator.layers().size(), std::string(calibration_method_name(method)).c_str(), forwards);

  // 3. The forwards: sample i is wan_synthetic_inputs(..., seed + i) at every timestep.
  std::size_t done = 0;
  for (std::int64_t i = 0; i < f.samples; ++i) {
    const WanInputs in = wan_synthetic_inputs(config, 1, f.frames, f.height, f.width, f.text_tokens,
                                              f.seed + static_cast<std::uint64_t>(i));
    for (const double t : timesteps) {
      ++done;
      std::fprintf(stderr, "[%zu/%zu] sample %lld timestep %g%s ...\n", done, forwards, static_cast<long long>(i + 1),
                   t, edges.empty() ? "" : fmt::format(" (bucket {})", bucket_of(edges, t)).c_str());
      if (!edges.empty()) calibrator.set_timestep(t);
      model.forward(in.latents, Tensor::from_vector<float>({1}, std::vector<float>{static_cast<float>(t)}), in.context);
    }
  }
  const std::vector<std::string> order = calibrator.layers();  // module order, for the summary
  const CalibrationResult result = calibrator.finish();

  // 4. The result, then the summary.
  output.commit(result.to_json() + "\n");
  const double total_ms = ms_since(start);

  std::vector<nlohmann::json> bucket_rows;
  for (std::size_t b = 0; !edges.empty() && b <= edges.size(); ++b) {
    std::vector<double> in_bucket;
    for (const double t : timesteps) {
      if (bucket_of(edges, t) == b) in_bucket.push_back(t);
    }
    bucket_rows.push_back({{"bucket", b}, {"range", bucket_range(edges, b)}, {"timesteps", in_bucket}});
  }
  if (f.json) {
    nlohmann::json layers = nlohmann::json::array();
    for (const std::string& path : order) {
      const LayerCalibration& c = result.layers.at(path);
      nlohmann::json layer = stats_json(c.all, path, result, std::nullopt);
      layer["path"] = path;
      nlohmann::json per_bucket = nlohmann::json::array();
      for (std::size_t b = 0; b < c.buckets.size(); ++b) {
        per_bucket.push_back(stats_json(c.buckets[b], path, result, static_cast<int>(b)));
      }
      layer["buckets"] = per_bucket;
      layers.push_back(std::move(layer));
    }
    const nlohmann::json j = {
        {"model", config.name},
        {"blocks", config.layers},
        {"device", device.str()},
        {"weights", weights_info},
        {"method", std::string(calibration_method_name(method))},
        {"momentum", f.momentum},
        {"percentile", f.percentile},
        {"layer_filter", f.layers},
        {"samples", f.samples},
        {"input_seeds", {{"first", f.seed}, {"last", f.seed + static_cast<std::uint64_t>(f.samples) - 1}}},
        {"grid", {{"frames", f.frames}, {"height", f.height}, {"width", f.width}, {"text_tokens", f.text_tokens}}},
        {"timesteps", timesteps},
        {"forwards", forwards},
        {"buckets", {{"edges", edges}, {"ranges", bucket_rows}}},
        {"layers", layers},
        {"out", f.out},
        {"time_ms", total_ms},
    };
    fmt::print("{}\n", j.dump(2));
    return;
  }
  std::string text = fmt::format("calibrated {} ({} blocks) on {}: {} layers, method {}", config.name, config.layers,
                                 device.str(), result.layers.size(), calibration_method_name(method));
  if (method == CalibrationMethod::kPercentile) text += fmt::format(" (p = {})", f.percentile);
  if (method == CalibrationMethod::kMovingAverage) text += fmt::format(" (momentum {})", f.momentum);
  text += fmt::format("\nweights   {}\n", weights_text);
  text += fmt::format(
      "inputs    {} samples (seeds {}..{}) x {} timesteps ({}) = {} forwards; latents [1, {}, {}, {}, {}], "
      "{} text tokens\n",
      f.samples, f.seed, f.seed + static_cast<std::uint64_t>(f.samples) - 1, timesteps.size(),
      fmt::join(timesteps, ", "), forwards, config.in_dim, f.frames, f.height, f.width, f.text_tokens);
  if (edges.empty()) {
    text += "buckets   none (one scale per layer over every timestep)\n";
  } else {
    text += fmt::format("buckets   {}:", bucket_rows.size());
    for (const nlohmann::json& b : bucket_rows) {
      text += fmt::format(" [{}] {} ({} timesteps);", b["bucket"].get<std::size_t>(), b["range"].get<std::string>(),
                          b["timesteps"].size());
    }
    text.back() = '\n';
  }
  text += fmt::format("out       {}\n\n", f.out);
  std::size_t width = 5;
  for (const auto& [path, c] : result.layers) width = std::max(width, path.size());
  text += fmt::format("{:<{}}  {:>12}  {:>12}  {:>14}{}\n", "layer", width, "amax", "int8 scale", "fp8_e4m3 scale",
                      edges.empty() ? "" : "  amax per bucket");
  std::size_t listed = 0;
  for (const std::string& path : order) {
    if (listed++ == kListedLayers) break;
    const LayerCalibration& c = result.layers.at(path);
    std::string per_bucket;
    for (const LayerStats& s : c.buckets) per_bucket += fmt::format("  {:>10.6g}", s.amax);
    text += fmt::format("{:<{}}  {:>12.6g}  {:>12.6g}  {:>14.6g}{}\n", path, width, c.all.amax,
                        result.scale(path, QType::kInt8), result.scale(path, QType::kE4M3), per_bucket);
  }
  if (result.layers.size() > kListedLayers) {
    text += fmt::format("... and {} more layers (all of them in {} and with --json)\n",
                        result.layers.size() - kListedLayers, f.out);
  }
  text += fmt::format(
      "\n{} layers calibrated in {:.0f} ms; static rules take them in qjit run --accuracy --calibration {} and "
      "C++'s act_scales_for(CalibrationResult::load(...), qtype)\n",
      result.layers.size(), total_ms, f.out);
  fmt::print("{}", text);
}

}  // namespace

void add_calibrate(CLI::App& app) {
  auto flags = std::make_shared<CalibrateFlags>();
  auto* cmd = app.add_subcommand(
      "calibrate", "collect static activation scales: run calibration inputs through the unquantized model");
  cmd->add_option("--model", flags->model, "wan2.1-tiny | wan2.1-1.3b | wan2.1-14b")->required();
  cmd->add_option("--blocks", flags->blocks, "only the first N transformer blocks (default: all)");
  cmd->add_option("--weights", flags->weights,
                  "a Wan2.1 checkpoint: a safetensors file, a shard index or their directory (native or diffusers names; default: synthetic weights)");
  cmd->add_option("--seed", flags->seed, "seed of the synthetic weights and of the first input (sample i: seed + i)")
      ->capture_default_str();
  cmd->add_option("--samples", flags->samples, "synthetic inputs, each run at every timestep")->capture_default_str();
  cmd->add_option("--frames", flags->frames, "latent frames per input")->capture_default_str();
  cmd->add_option("--height", flags->height, "latent height (even)")->capture_default_str();
  cmd->add_option("--width", flags->width, "latent width (even)")->capture_default_str();
  cmd->add_option("--text-tokens", flags->text_tokens, "prompt tokens per input")->capture_default_str();
  cmd->add_option("--timesteps", flags->timesteps, "comma-separated diffusion timesteps in [0, 1000]")
      ->capture_default_str();
  cmd->add_option("--buckets", flags->buckets,
                  "strictly increasing timestep edges e1,e2,...: statistics per bucket too (t < e1, e1 <= t < e2, ..., "
                  "t >= en)");
  cmd->add_option("--method", flags->method, "absmax | moving_average | percentile")->capture_default_str();
  auto* percentile =
      cmd->add_option("--percentile", flags->percentile, "percentile method: p in (0, 100]")->capture_default_str();
  auto* momentum = cmd->add_option("--momentum", flags->momentum, "moving_average method: momentum in [0, 1)")
                       ->capture_default_str();
  cmd->add_option("--layers", flags->layers,
                  "regex (full match on Wan's native dotted path) of the Linear layers to observe (default: all)");
  cmd->add_option("--device", flags->device, "cpu | sim | sim:sm_XX | cuda[:N] | auto (default: $QJIT_DEVICE, else cpu)");
  cmd->add_option("--out", flags->out, "the calibration JSON to write (atomically)")->required();
  cmd->add_flag("--json", flags->json, "print a JSON summary");
  cmd->callback([flags, percentile, momentum] {
    flags->percentile_given = percentile->count() > 0;
    flags->momentum_given = momentum->count() > 0;
    run(*flags);
  });
}

}  // namespace qjit::cli
