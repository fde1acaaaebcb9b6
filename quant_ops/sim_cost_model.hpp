#pragma once
// A cost model of a GEMM config on a GPU, from the sim device's counters: what the autotuner
// ranks candidates by on `sim`, where nothing can be timed. It serves both GPU GEMM families
// (qgemm, W8A8; qgemm_wo, weight-only) through GemmCostKernel, what the model needs of a
// (desc, config). It is a model, not a measurement, and every output that uses it says so.
//
// The sim runs four small proxies of the problem with the config: one row band of tile_m rows
// by one and by two column tiles, at two depths of K (up to 256 and 512). The difference of
// the widths is one CTA's work; the rest of the one-column call is the per-row-band work
// outside the GEMM's CTAs (the separate strategy's act_quant pass); the two depths give each
// counter's part that grows with K and the part that does not (setup, epilogue), so both
// extrapolate to the problem's K. Scaled to the problem's CTAs and row bands, the counters
// give five throughput times, and the pipeline gives a sixth; the largest is the estimate (a
// roofline over the GPU's units):
//   issue   warp instructions / (SMs x 4 schedulers x clock), stretched by the SMs that have
//           fewer CTAs than the busiest (ceil(CTAs / SMs): CTAs on one SM share its units);
//   mma     tensor-core instructions x MACs each / (SMs x MACs per SM per clock x clock);
//   shared  shared-memory wavefronts / (SMs x 1 per clock x clock);
//   memory  the 32-byte sectors the CTAs load and store / L2 bandwidth, and the problem's
//           compulsory bytes / DRAM bandwidth;
//   latency each wave's K loop waits for its tiles: a stage's loads take a global load's
//           latency, and the pipeline keeps stages - 1 of them in flight, so a K step costs
//           at least latency / (stages - 1) — what a deeper pipeline buys, paid for in
//           shared memory (waves of SMs x CTAs per SM, from shared memory, registers,
//           threads and the arch's CTA limit);
// plus a launch overhead per kernel. Registers are estimated (the sim runs no ptxas):
// accumulators plus 64 a thread.

#include <cstdint>
#include <memory>
#include <string>

#include "jit/impls/qgemm.hpp"
#include "jit/impls/qgemm_wo.hpp"
#include "sim/sim_counters.hpp"

namespace qjit {

/// The GPU a model stands for: the figures that are assumptions, per arch.
struct GpuModel {
  std::string name;
  int sms = 0;
  double clock_ghz = 0;
  double mma_macs_per_sm_clock = 0;  // int8 / fp8 mma.sync
  double l2_bytes_per_clock = 0;     // the whole L2
  double dram_gb_s = 0;
  double smem_per_sm = 0;
  double max_threads_per_sm = 0, max_ctas_per_sm = 0;
  double launch_us = 0;
  double load_latency_cycles = 0;  // a global load's, under load
  double registers_per_sm = 65536;
  /// sm_80 (A100), sm_86 (RTX A6000), sm_89 (L40S), sm_90 / sm_90a (H100 SXM). Throws naming
  /// the arch otherwise.
  static GpuModel for_arch(const std::string& arch);
};

/// What the proxies measured: at depths k1 <= k2 (equal when K is that small: then no
/// extrapolation).
struct GemmCostInputs {
  sim::SimCounters per_cta_k1, per_cta_k2;    // one CTA's GEMM work
  sim::SimCounters per_band_k1, per_band_k2;  // one row band's work outside the CTAs (act_quant)
  std::int64_t k1 = 0, k2 = 0;
  int launches = 1;  // kernels one call launches
};

/// a - b, counter by counter, floored at 0 (the counters this model reads).
sim::SimCounters sim_counters_since(const sim::SimCounters& a, const sim::SimCounters& b);

/// What the model needs of a GEMM kernel under a config: its CTA and pipeline, and the bytes
/// per element of its compulsory traffic.
struct GemmCostKernel {
  std::int64_t tile_m = 0, tile_n = 0, tile_k = 0;  // tile_k in elements
  int threads = 0, smem_bytes = 0, stages = 0;
  int registers = 0;  // per thread: the accumulators and an assumed 64 for fragments, addresses, loop state
  double x_bytes = 0, w_bytes = 0, out_bytes = 0;   // per element of x [M, K], w [N, K], y [M, N]
};
/// qgemm's (W8A8: x read as codes when already quantized, else as floats).
GemmCostKernel gemm_cost_kernel(const jit::impls::GemmDesc& desc, const jit::impls::GemmConfig& config);
/// qgemm_wo's (16-bit activations, 1-byte codes or 16-bit weights).
GemmCostKernel gemm_cost_kernel(const jit::impls::WeightOnlyDesc& desc, const jit::impls::WeightOnlyConfig& config);

struct GemmCostEstimate {
  double us = 0;
  double issue_us = 0, mma_us = 0, shared_us = 0, l2_us = 0, dram_us = 0, latency_us = 0, launch_us = 0;
  std::string bound;  // which term is the largest
};

/// The model's time for `kernel` at (m, n, k).
/// NOTE: every mma the families issue (int8 / fp8 m16n8k32, bf16 / f16 m16n8k16) takes the
/// tensor cores the same time on these archs (16-bit rates are half the 8-bit ones), so each
/// counts as 4096 int8 MACs.
GemmCostEstimate estimate_gemm_cost(const GpuModel& gpu, const GemmCostKernel& kernel, std::int64_t m, std::int64_t n,
                                    std::int64_t k, const GemmCostInputs& inputs);

}  // namespace qjit
