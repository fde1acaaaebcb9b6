#pragma once
// The accuracy part of `qjit run` (--accuracy): the Wan2.1-shaped model with seeded synthetic
// weights (or a checkpoint), the unquantized model's forward on synthetic inputs, then each
// rule applied to a copy and measured against it end to end and per layer (cosine, MSE,
// NMSE, SNR: quant_ops/accuracy.hpp), with the weight bytes before and after.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "quant_ops/model_plan.hpp"
#include "quant_ops/rule.hpp"
#include "runtime/device.hpp"
#include "runtime/models/wan_config.hpp"

namespace qjit::cli {

struct AccuracyFlags {
  WanConfig config;              // with the block count to run
  std::string weights;           // a Wan checkpoint (either naming); empty: synthetic
  std::uint64_t seed = 0;
  std::string device;            // cpu | sim | sim:sm_XX | cuda; empty: QJIT_DEVICE, else cpu
  // The latent grid; 0: by device (resolve_input_grid): 4x32x32 (1024 video tokens) where the
  // forward runs at speed (cpu, cuda), 1x8x8 (16 tokens) on sim and cpu:ref.
  std::int64_t frames = 0, height = 0, width = 0, text_tokens = 16;
  double timestep = 500;
  std::string calibration;       // a `qjit calibrate` result for static rules; empty: calibrate here
  std::size_t layers_shown = 5;  // the worst layers the text lists per rule (JSON lists all)
};

/// Fills the latent grid's unset dimensions by device (see AccuracyFlags).
void resolve_input_grid(AccuracyFlags& flags);

/// What a forward's time on `device` means, for the report.
std::string device_speed_note(const Device& device);

/// Everything run_accuracy checks before work: the rules resolve, the device, the timestep,
/// the input grid (and the memory its forward needs) and the weights file. Without `runs`
/// (qjit run --no-accuracy) only what needs no GPU and no file: the device's name and the
/// timestep. Throws qjit::Error naming the flag.
void check_accuracy_flags(const AccuracyFlags& flags, const std::vector<NamedRuleSet>& rules, bool runs);

/// Measures every rule set; appends the text report to `text`; returns the JSON report.
nlohmann::json run_accuracy(const AccuracyFlags& flags, const std::vector<NamedRuleSet>& rules, std::string& text);

}  // namespace qjit::cli
