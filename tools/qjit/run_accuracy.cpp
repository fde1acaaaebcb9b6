#include "run_accuracy.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>

#include "cli_device.hpp"
#include "common/error.hpp"
#include "jit/jit.hpp"
#include "quant_ops/accuracy.hpp"
#include "quant_ops/calibration.hpp"
#include "quant_ops/rule_apply.hpp"
#include "runtime/device.hpp"
#include "runtime/host_driver.hpp"
#include "runtime/models/wan_checkpoint.hpp"
#include "runtime/models/wan_model.hpp"
#include "runtime/models/wan_synthetic.hpp"

namespace qjit::cli {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

nlohmann::json metrics_json(const AccuracyMetrics& m) {
  const auto finite = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json("inf"); };
  return {{"cosine", m.cosine}, {"mse", m.mse}, {"nmse", m.nmse}, {"snr_db", finite(m.snr_db)}};
}

// The median time of `reps` forwards, and the last one's output.
template <class Forward>
std::pair<Tensor, double> timed_forward(int reps, Forward&& forward) {
  std::vector<double> seconds;
  Tensor y;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    y = forward();
    seconds.push_back(seconds_since(t0));
  }
  std::sort(seconds.begin(), seconds.end());
  return {y, seconds[seconds.size() / 2]};
}

std::string metrics_text(const AccuracyMetrics& m) {
  return fmt::format("cosine {:.6f}  mse {:.3g}  nmse {:.3g}  snr {:.1f} dB", m.cosine, m.mse, m.nmse, m.snr_db);
}

// The activation qtype of a set's static rules (check_accuracy_flags made sure they share one:
// the scales are amax / qmax of that qtype).
QType static_qtype(const RuleSet& set) {
  for (const Rule& r : set.rules) {
    const ResolvedRule rr = r.resolve();
    if (!rr.skips() && rr.act_static_scale) return rr.act;
  }
  return QType::kInt8;
}

bool has_static(const RuleSet& set) {
  return std::any_of(set.rules.begin(), set.rules.end(), [](const Rule& r) {
    const ResolvedRule rr = r.resolve();
    return !rr.skips() && rr.act_static_scale;
  });
}

// The static rules' scales: the given calibration, else absmax over the synthetic inputs at a
// spread of timesteps (what `qjit calibrate` does by default).
ApplyOptions static_scales(const AccuracyFlags& f, WanModel& model, const WanInputs& in, const RuleSet& set,
                           std::optional<CalibrationResult>& cached, std::string& source) {
  if (!cached) {
    if (!f.calibration.empty()) {
      cached = CalibrationResult::load(f.calibration);
      source = f.calibration;
    } else {
      Calibrator cal(model);
      for (double t : {999.0, 750.0, 500.0, 250.0, 0.0}) {
        model.forward(in.latents, Tensor::from_vector<float>({in.timesteps.size(0)},
                                                             std::vector<float>(in.timesteps.size(0), static_cast<float>(t))),
                      in.context);
      }
      cached = cal.finish();
      source = "absmax over the synthetic inputs at timesteps 999, 750, 500, 250, 0";
    }
  }
  return act_scales_for(*cached, static_qtype(set));
}

}  // namespace

void resolve_input_grid(AccuracyFlags& f) {
  const Device device = parse_device_flag(f.device, "run", /*require_available=*/false);
  const bool fast = device.kind == DeviceKind::kCuda || device.runs_host_kernels();
  if (f.frames == 0) f.frames = fast ? 4 : 1;
  if (f.height == 0) f.height = fast ? 32 : 8;
  if (f.width == 0) f.width = fast ? 32 : 8;
}

std::string device_speed_note(const Device& device) {
  if (device.kind == DeviceKind::kCuda) return "the GPU";
  if (device.runs_host_kernels()) {
    return fmt::format("this host's CPU, its compiled kernels on {} threads: CPU speed, not GPU speed",
                       host_driver()->threads());
  }
  if (device.is_host()) return "the plain scalar reference: not a speed measurement";
  return "the PTX interpreter: not GPU speed";
}

void check_accuracy_flags(const AccuracyFlags& f, const std::vector<NamedRuleSet>& rules, bool runs) {
  for (const NamedRuleSet& r : rules) {
    std::optional<QType> act;
    for (const Rule& rule : r.rules.rules) {
      const ResolvedRule rr = rule.resolve();
      if (rr.skips() || !rr.act_static_scale) continue;
      QJIT_CHECK_GEN("run", !act || *act == rr.act,
                     "'{}': its static rules quantize activations to both {} and {}; one calibration gives the "
                     "scales of one qtype, so measure them separately",
                     r.name, qtype_name(*act), qtype_name(rr.act));
      act = rr.act;
    }
  }
  // NOTE: a run that only compiles (--no-accuracy) checks what it was given as text, but
  // needs no GPU for a cuda --device (or QJIT_DEVICE) and reads no weights file.
  parse_device_flag(f.device, "run", /*require_available=*/runs);
  QJIT_CHECK_GEN("run", std::isfinite(f.timestep) && f.timestep >= 0.0 && f.timestep <= WanConfig::kMaxTimestep,
                 "--timestep {}: must be a number in Wan's [0, {}]", f.timestep, WanConfig::kMaxTimestep);
  if (!runs) return;
  check_wan_synthetic_inputs(f.config, 1, f.frames, f.height, f.width, f.text_tokens);
  if (!f.weights.empty()) {
    const WanConfig file = infer_wan_config(f.weights);  // reads the header: the file exists and is a Wan checkpoint
    QJIT_CHECK_GEN("run", file.dim == f.config.dim && file.ffn_dim == f.config.ffn_dim,
                   "--weights {}: a model of dim {} / ffn {}, not {} (dim {} / ffn {}); give its --model", f.weights,
                   file.dim, file.ffn_dim, f.config.name, f.config.dim, f.config.ffn_dim);
  }
  if (!f.calibration.empty()) CalibrationResult::load(f.calibration);  // readable and valid, before any work
}

nlohmann::json run_accuracy(const AccuracyFlags& f, const std::vector<NamedRuleSet>& rules, std::string& text) {
  const auto start = std::chrono::steady_clock::now();
  const jit::JitStats jit_before = jit::Jit::global().stats();
  const Device device = parse_device_flag(f.device, "run");
  const std::shared_ptr<Driver> driver = device.is_host() ? nullptr : driver_for(device);
  std::fprintf(stderr, "qjit run: accuracy on %s (%lld blocks), %s weights, device %s\n", f.config.name.c_str(),
               static_cast<long long>(f.config.layers), f.weights.empty() ? "synthetic" : f.weights.c_str(),
               device.str().c_str());
  const auto weights = f.weights.empty() ? wan_synthetic_weights(f.config, f.seed)
                                         : load_wan_weights(f.weights, f.config, /*first_blocks=*/true);
  WanInputs in = wan_synthetic_inputs(f.config, 1, f.frames, f.height, f.width, f.text_tokens, f.seed + 1);
  in.timesteps = Tensor::from_vector<float>({1}, std::vector<float>{static_cast<float>(f.timestep)});
  const auto forward = [&](Module& m) {
    return dynamic_cast<WanModel&>(m).forward(in.latents, in.timesteps, in.context);
  };
  WanModel reference(f.config, weights, device, driver);
  // NOTE: on a device (the compiled cpu included) the first forward compiles or loads the
  // kernels and packs the weights of the cpu's float GEMM: time the second.
  const bool warm_up = !device.is_host() || device.runs_host_kernels();
  if (warm_up) forward(reference);
  // NOTE: where forwards are fast (the compiled cpu, a GPU), each time is the median of three,
  // so that one disturbed forward does not decide a ratio; the sim and cpu:ref time one.
  const int reps = device.runs_host_kernels() || device.kind == DeviceKind::kCuda ? 3 : 1;
  const auto [want, reference_s] = timed_forward(reps, [&] { return forward(reference); });
  std::fprintf(stderr, "qjit run: the unquantized forward took %.3f s (%.2f s from the start)\n", reference_s,
               seconds_since(start));

  text += fmt::format("\naccuracy on {} ({} blocks, {} weights, seed {}), device {}, {} tokens ({}x{}x{} latent "
                      "patches) and {} prompt tokens (padded to {}) at timestep {}\n",
                      f.config.name, f.config.layers, f.weights.empty() ? "synthetic" : f.weights, f.seed, device.str(),
                      f.frames * (f.height / 2) * (f.width / 2), f.frames, f.height / 2, f.width / 2, f.text_tokens,
                      f.config.text_len, f.timestep);
  text += fmt::format("(per-layer times are from the comparison pass: a kernel's first call there includes loading or "
                      "compiling it; the forward times are warm{})\n",
                      reps > 1 ? fmt::format(", each the median of {} forwards", reps) : "");
  nlohmann::json out = nlohmann::json::array();
  std::optional<CalibrationResult> calibration;
  std::string calibration_source;
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const NamedRuleSet& r = rules[i];
    const auto t0 = std::chrono::steady_clock::now();
    std::fprintf(stderr, "[%zu/%zu] accuracy of %s ...\n", i + 1, rules.size(), r.name.c_str());
    WanModel quantized(f.config, weights, device, driver);
    ApplyOptions options;
    if (has_static(r.rules)) options = static_scales(f, reference, in, r.rules, calibration, calibration_source);
    const ApplyReport applied = r.rules.apply(quantized, options);
    // NOTE: the per-layer comparison runs every quantized linear first, which on the cpu is
    // all a warm-up needs (its glue ops are the reference model's, warm already); devices
    // also resolve the quantized model's own glue kernels (fused quantized outputs) in a
    // warm-up forward.
    std::vector<LayerAccuracy> layers = layer_accuracy(reference, quantized, forward);
    if (warm_up && !device.is_host()) forward(quantized);
    const auto [got, quantized_s] = timed_forward(reps, [&] { return forward(quantized); });
    const AccuracyMetrics e2e = compare_outputs(got, want);
    nlohmann::json layer_rows = nlohmann::json::array();
    for (const LayerAccuracy& l : layers) {
      const LayerApplied* a = applied.find(l.path);
      layer_rows.push_back({{"path", l.path},
                            {"type", l.type},
                            {"outcome", a ? nlohmann::json(outcome_name(a->outcome)) : nlohmann::json()},
                            {"metrics", metrics_json(l.metrics)},
                            {"reference_ms", l.reference_ms},
                            {"quantized_ms", l.quantized_ms}});
    }
    nlohmann::json row = {{"rule", r.name},
                          {"end_to_end", metrics_json(e2e)},
                          {"layers", layer_rows},
                          {"quantized_layers", applied.count(LayerApplied::Outcome::kQuantized)},
                          {"weight_bytes_before", applied.bytes_before()},
                          {"weight_bytes_after", applied.bytes_after()},
                          {"forward_seconds", quantized_s},
                          {"device", device.str()},
                          {"device_note", device_speed_note(device)},
                          {"reference_forward_seconds", reference_s},
                          {"seconds", seconds_since(t0)}};
    if (has_static(r.rules)) row["calibration"] = calibration_source;
    out.push_back(std::move(row));
    text += fmt::format("{}: end to end {}\n", r.name, metrics_text(e2e));
    text += fmt::format("  forward {:.3f} s against {:.3f} s unquantized ({:.2f}x) on {} ({})\n", quantized_s,
                        reference_s, quantized_s > 0 ? reference_s / quantized_s : 0.0, device.str(),
                        device_speed_note(device));
    text += fmt::format("  weights {} -> {} bytes ({:.2f}x smaller), {} layers quantized{}\n", applied.bytes_before(),
                        applied.bytes_after(),
                        applied.bytes_after() > 0 ? static_cast<double>(applied.bytes_before()) /
                                                        static_cast<double>(applied.bytes_after())
                                                  : 0.0,
                        applied.count(LayerApplied::Outcome::kQuantized),
                        has_static(r.rules) ? fmt::format("; static scales: {}", calibration_source) : "");
    std::sort(layers.begin(), layers.end(),
              [](const LayerAccuracy& a, const LayerAccuracy& b) { return a.metrics.nmse > b.metrics.nmse; });
    for (std::size_t k = 0; k < std::min(f.layers_shown, layers.size()); ++k) {
      text += fmt::format("  {:<28} {}  {:.2f} ms against {:.2f} ms\n", layers[k].path, metrics_text(layers[k].metrics),
                          layers[k].quantized_ms, layers[k].reference_ms);
    }
  }
  const jit::JitStats jit_after = jit::Jit::global().stats();
  text += fmt::format("the forwards' kernels ({}): {} compiled, {} loaded from the disk cache; {:.1f} s in all\n",
                      device.runs_host_kernels() ? "the cpu device's, compiled for this host" : device.str(),
                      jit_after.compiles + jit_after.rebuilds - jit_before.compiles - jit_before.rebuilds,
                      jit_after.disk_hits - jit_before.disk_hits, seconds_since(start));
  return out;
}

}  // namespace qjit::cli
