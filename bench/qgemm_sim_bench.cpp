// Kernel quality of the GEMM families (and of activation quantization) from the sim
// device's counters (DESIGN.md section 9: 0 shared-memory bank conflicts, >= 90 % global-load
// efficiency): one row per family and shipped config, on a Wan2.1 layer with its full N and
// K but few tokens, so that one row takes seconds, not minutes, on the interpreter.
//
// Counters (over all launches of one op call): bank_conflicts (shared wavefronts beyond the
// minimum the access widths need, as Nsight Compute counts them), shared_wavefronts,
// gld_efficiency (bytes the lanes asked for / 32-byte sectors moved), gst_efficiency, and
// thread_inst_per_output / warp_inst_per_output (instructions per element of the result:
// y[M, N] for a GEMM, q[M, K] for act_quant). A config that does not fit a family (the op's
// validation says why) is skipped with that reason.

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bench/bench_data.hpp"
#include "common/error.hpp"
#include "jit/impls/qgemm.hpp"
#include "jit/impls/qgemm_wo.hpp"
#include "quant_ops/act_quant.hpp"
#include "quant_ops/qgemm.hpp"
#include "quant_ops/qgemm_weight_only.hpp"
#include "sim/sim_driver.hpp"

namespace {

using namespace qjit;

// The simulated GPU (an H100: every family runs there, fp8 included), both host cores.
std::shared_ptr<sim::SimDriver> sim_driver() {
  static const auto d = [] {
    auto config = sim::SimDeviceConfig::for_arch("sm_90");
    config.options.host_threads = 2;
    return std::make_shared<sim::SimDriver>(config);
  }();
  return d;
}

// Wan2.1-1.3B's attention projection (N = K = dim = 1536) with 256 tokens (a 1/128 slice of
// a 480p clip's 32760): every shipped tile sees whole and (for tile_m 128) several row bands.
constexpr std::int64_t kM = 256, kN = 1536, kK = 1536;

Tensor sim_bytes(std::vector<std::int64_t> shape, DType dtype, std::uint32_t seed) {
  return bench::host_codes(std::move(shape), dtype, seed).to(Device::sim(), sim_driver());
}

Tensor sim_floats(std::vector<std::int64_t> shape, DType dtype, float lo, float hi, std::uint32_t seed) {
  return bench::host_floats(std::move(shape), dtype, lo, hi, seed).to(Device::sim(), sim_driver());
}

sim::SimCounters since(const sim::SimCounters& now, const sim::SimCounters& before) {
  sim::SimCounters d;
  d.warp_instructions = now.warp_instructions - before.warp_instructions;
  d.thread_instructions = now.thread_instructions - before.thread_instructions;
  d.shared_wavefronts = now.shared_wavefronts - before.shared_wavefronts;
  d.shared_ideal_wavefronts = now.shared_ideal_wavefronts - before.shared_ideal_wavefronts;
  d.global_load_sectors = now.global_load_sectors - before.global_load_sectors;
  d.global_load_bytes = now.global_load_bytes - before.global_load_bytes;
  d.global_store_sectors = now.global_store_sectors - before.global_store_sectors;
  d.global_store_bytes = now.global_store_bytes - before.global_store_bytes;
  d.seconds = now.seconds - before.seconds;
  return d;
}

// Runs `call` once per iteration (the first call compiles and loads outside the loop) and
// reports the counters of the last call; `outputs` elements per call.
void run_counted(benchmark::State& state, const std::function<void()>& call, double outputs, const std::string& label) {
  try {
    call();
    sim::SimCounters c;
    for (auto _ : state) {
      const sim::SimCounters before = sim_driver()->total_counters();
      call();
      c = since(sim_driver()->total_counters(), before);
    }
    state.counters["bank_conflicts"] = static_cast<double>(c.bank_conflicts());
    state.counters["shared_wavefronts"] = static_cast<double>(c.shared_wavefronts);
    state.counters["gld_efficiency"] = c.global_load_efficiency();
    state.counters["gst_efficiency"] = c.global_store_efficiency();
    state.counters["thread_inst_per_output"] = static_cast<double>(c.thread_instructions) / outputs;
    state.counters["warp_inst_per_output"] = static_cast<double>(c.warp_instructions) / outputs;
    state.counters["sim_s"] = c.seconds;
    state.SetLabel(label);
  } catch (const Error& e) {
    state.SkipWithError(e.message().c_str());
  }
}

// ---- the families, one row per shipped config ---------------------------------------------

void w8a8(benchmark::State& state, DType code, const jit::impls::GemmConfig& config) {
  const Tensor a = sim_bytes({kM, kK}, code, 1), w = sim_bytes({kN, kK}, code, 2);
  const Tensor sa = sim_floats({kM}, DType::kF32, 0.01f, 0.02f, 3), sw = sim_floats({kN}, DType::kF32, 0.01f, 0.02f, 4);
  QGemmOptions o;
  o.config = config;
  run_counted(state, [&] { qgemm(a, sa, w, sw, o); }, static_cast<double>(kM * kN), config.str());
}

void block_fp8(benchmark::State& state, const jit::impls::GemmConfig& config) {
  const Tensor a = sim_bytes({kM, kK}, DType::kE4M3, 1), w = sim_bytes({kN, kK}, DType::kE4M3, 2);
  const Tensor sa = sim_floats({kM, kK / 128}, DType::kF32, 0.01f, 0.02f, 3);
  const Tensor sw = sim_floats({kN / 128, kK / 128}, DType::kF32, 0.01f, 0.02f, 4);
  QGemmOptions o;
  o.act_granularity = Granularity::kGroup128;
  o.weight_granularity = Granularity::kBlock128;
  o.config = config;
  run_counted(state, [&] { qgemm(a, sa, w, sw, o); }, static_cast<double>(kM * kN), config.str());
}

void weight_only(benchmark::State& state, DType code, const jit::impls::WeightOnlyConfig& config) {
  const Tensor x = sim_floats({kM, kK}, DType::kBF16, -1, 1, 1), w = sim_bytes({kN, kK}, code, 2);
  const Tensor sw = sim_floats({kN}, DType::kF32, 0.01f, 0.02f, 4);
  WeightOnlyOptions o;
  o.config = config;
  run_counted(state, [&] { qgemm_weight_only(x, w, sw, o); }, static_cast<double>(kM * kN), config.str());
}

// Float activations quantized by the GEMM: static per-tensor (in the main loop) or dynamic
// per-token, fused (prologue amax pass) or separate (act_quant, then the pre-quantized GEMM).
void float_act(benchmark::State& state, bool dynamic, const jit::impls::GemmConfig& config) {
  const Tensor x = sim_floats({kM, kK}, DType::kBF16, -4, 4, 1), w = sim_bytes({kN, kK}, DType::kI8, 2);
  const Tensor sw = sim_floats({kN}, DType::kF32, 0.01f, 0.02f, 4);
  ActQuant act;
  act.qtype = QType::kInt8;
  act.granularity = dynamic ? Granularity::kPerToken : Granularity::kPerTensor;
  if (!dynamic) act.static_scale = Tensor::from_vector<float>({1}, std::vector<float>{4.0f / 127});
  QGemmOptions o;
  o.config = config;
  run_counted(state, [&] { qgemm(x, act, w, sw, o); }, static_cast<double>(kM * kN), config.str());
}

// The activation pass on the same layer's input (the heuristic's config; bf16 -> int8).
void act_quant(benchmark::State& state, ActScale mode) {
  const Tensor x = sim_floats({kM, kK}, DType::kBF16, -4, 4, 1);
  run_counted(state, [&] { quantize_activations(x, QType::kInt8, mode); }, static_cast<double>(kM * kK), "heuristic");
}

const bool kRegistered = [] {
  const std::string shape = fmt::format("wan1.3b_attn/M:{}/N:{}/K:{}", kM, kN, kK);
  auto add = [](std::string name, std::function<void(benchmark::State&)> fn) {
    for (char& ch : name) ch = ch == ' ' ? '_' : ch;  // "64x128x64 w2x2 s4" -> one word
    benchmark::RegisterBenchmark(name.c_str(), [fn](benchmark::State& st) { fn(st); })
        ->Iterations(1)
        ->Unit(benchmark::kMillisecond);
  };
  for (const auto& c : jit::impls::qgemm_shipped_configs()) {
    add(fmt::format("sim_qgemm_int8/{}/{}", shape, c.str()), [c](auto& st) { w8a8(st, DType::kI8, c); });
    add(fmt::format("sim_qgemm_fp8_e4m3/{}/{}", shape, c.str()), [c](auto& st) { w8a8(st, DType::kE4M3, c); });
    add(fmt::format("sim_qgemm_block_fp8/{}/{}", shape, c.str()), [c](auto& st) { block_fp8(st, c); });
  }
  for (auto c : jit::impls::qgemm_shipped_configs()) {
    c.fusion = jit::impls::GemmFusion::kFused;
    add(fmt::format("sim_qgemm_float_int8_static/{}/{}", shape, c.str()), [c](auto& st) { float_act(st, false, c); });
    add(fmt::format("sim_qgemm_float_int8_per_token/{}/{}", shape, c.str()), [c](auto& st) { float_act(st, true, c); });
    c.fusion = jit::impls::GemmFusion::kSeparate;
    add(fmt::format("sim_qgemm_float_int8_per_token/{}/{}", shape, c.str()), [c](auto& st) { float_act(st, true, c); });
  }
  for (const auto& c : jit::impls::qgemm_wo_shipped_configs()) {
    add(fmt::format("sim_qgemm_weight_only_int8/{}/{}", shape, c.str()), [c](auto& st) { weight_only(st, DType::kI8, c); });
  }
  const std::string act_shape = fmt::format("wan1.3b_attn/M:{}/K:{}", kM, kK);
  add("sim_act_quant_per_token/" + act_shape, [](auto& st) { act_quant(st, ActScale::kDynamicPerToken); });
  add("sim_act_quant_per_tensor/" + act_shape, [](auto& st) { act_quant(st, ActScale::kDynamicPerTensor); });
  add("sim_act_quant_group128/" + act_shape, [](auto& st) { act_quant(st, ActScale::kDynamicGroup128); });
  return true;
}();

}  // namespace
