#pragma once
// A cost model of a W8A8 GEMM config on a GPU, from the sim device's counters: what the
// autotuner ranks candidates by on `sim`, where nothing can be timed. It is a model, not a
// measurement, and every output that uses it says so.
//
// The sim runs four small proxies of the problem with the config: one row band of tile_m rows
// by one and by two column tiles, at two depths of K (up to 256 and 512). The difference of
// the widths is one CTA's work; the rest of the one-column call is the per-row-band work
// outside the GEMM's CTAs (the separate strategy's act_quant pass); the two depths give each
// counter's part that grows with K and the part that does not (setup, epilogue), so both
// extrapolate to the problem's K. Scaled to the problem's CTAs and row bands, the counters
// give five times, the largest of which is the estimate (a roofline over the GPU's units):
//   issue  warp instructions / (SMs x 4 schedulers x clock), stretched by the last wave's
//          idle SMs (waves of SMs x CTAs per SM, from shared memory, threads and the arch's
//          CTA limit);
//   mma    tensor-core instructions x MACs each / (SMs x MACs per SM per clock x clock);
//   shared shared-memory wavefronts / (SMs x 1 per clock x clock);
//   memory the 32-byte sectors the CTAs load and store / L2 bandwidth, and the problem's
//          compulsory bytes / DRAM bandwidth;
// plus a launch overhead per kernel. Registers and latency are not modelled (the sim needs
// no ptxas and counts no cycles), so pipeline depth does not change the estimate.

#include <cstdint>
#include <memory>
#include <string>

#include "jit/impls/qgemm.hpp"
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

struct GemmCostEstimate {
  double us = 0;
  double issue_us = 0, mma_us = 0, shared_us = 0, l2_us = 0, dram_us = 0, launch_us = 0;
  std::string bound;  // which term is the largest
};

/// The model's time for `desc` at (m, n, k) with `config`.
GemmCostEstimate estimate_gemm_cost(const GpuModel& gpu, const jit::impls::GemmDesc& desc,
                                    const jit::impls::GemmConfig& config, std::int64_t m, std::int64_t n,
                                    std::int64_t k, const GemmCostInputs& inputs);

}  // namespace qjit
