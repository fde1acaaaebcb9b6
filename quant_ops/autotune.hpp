#pragma once
// The autotuner's problems: a linear layer's GEMM under a rule at one shape on one device,
// searched by jit/autotune.hpp and persisted in the tuning database (jit/tuning_db.hpp),
// which the ops then read (quant_ops/tuning.hpp). What `qjit autotune` runs.
//
// Tunable, on bf16 or f16 activations: every rule on `cpu` (int8 W8A8: host_qgemm_int8; the
// float rules, fp8, block fp8 and weight-only on bf16 activations: host_gemm_bf16;
// weight-only on f16 activations: host_gemm_f32; register tile, blocking, K step, threads;
// the W8A8 GEMMs take the quantized activations, so one record of theirs serves both dtypes;
// the whole linear timed, its activation quantization included, on random data, the
// caches flushed between repetitions), W8A8 rules on `sim` and `cuda` (qgemm: tiles, warps,
// stages, fusion strategy) and weight-only rules there (qgemm_wo: tiles, warps, K step,
// stages). On `cuda` each repetition is timed with events after the L2 is flushed; on `sim`
// candidates are ranked by sim_cost_model.hpp, a model from the interpreter's counters, and
// say so ("model", not "measured"). Every candidate's output is checked once against the
// reference (bit for bit where the numerics are exact) before it is timed.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "jit/autotune.hpp"
#include "jit/tuning_db.hpp"
#include "quant_ops/rule.hpp"
#include "runtime/device.hpp"
#include "runtime/models/wan_config.hpp"

namespace qjit {

struct TuneShape {
  std::int64_t m = 0, n = 0, k = 0;
  std::vector<std::string> layers;  // the model's layers of this shape ("blocks.*.ffn.0"), if any
};

/// Parses "M,N,K" (positive integers, N and K multiples of 16, M up to 2^20, N and K up to
/// 2^18). Throws qjit::Error naming the text.
TuneShape parse_tune_shape(const std::string& text);
/// The GEMMs a Wan forward of `config` runs for `tokens` video tokens: each distinct (M
/// bucket, N, K) of the transformer blocks' linears (the layers rules quantize), with the
/// layers that have it. M is the tokens for self-attention and the FFN, the text length for
/// the cross-attention's key and value.
std::vector<TuneShape> wan_tune_shapes(const WanConfig& config, const std::vector<std::int64_t>& tokens);

struct AutotuneOptions {
  DType x_dtype = DType::kBF16;  // the activations': bf16 or f16
  std::size_t max_configs = 0;  // per shape; 0: every candidate
  double time_budget_s = 0;     // the whole run; shared out evenly over the shapes left; 0: none
  bool write = true;            // put the winners in the tuning database
  std::function<void(const std::string&)> progress;
};

struct ShapeTuning {
  TuneShape shape;
  std::string family;  // "host_qgemm_int8" | "host_gemm_bf16" | "host_gemm_f32" | "qgemm" | "qgemm_wo"
  jit::TuningKey key;
  std::string method;  // "measured" | "model"
  jit::TuneOutcome outcome;
  std::optional<jit::TuningRecord> record;  // the winner (when one was measured)
  bool written = false;                     // the record is in the database file
  std::string not_written;                  // why a winner was left out on purpose
};

/// The family of `rule`'s GEMM on `device` for activations of `x_dtype`, or throws qjit::Error
/// naming what is not tunable (a dtype other than bf16 / f16, a rule without kernels on that
/// device, or whose family its arch cannot run) before any work.
std::string tunable_family(const ResolvedRule& rule, const Device& device, DType x_dtype = DType::kBF16);

/// Tunes every shape in order. Throws qjit::Error before any work for a rule or device with
/// nothing to tune (tunable_family), and for a shape the family refuses.
std::vector<ShapeTuning> autotune_linear(const ResolvedRule& rule, const Device& device,
                                         const std::vector<TuneShape>& shapes, const AutotuneOptions& options);

}  // namespace qjit
