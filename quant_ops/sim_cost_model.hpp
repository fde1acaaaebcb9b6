#pragma once
// A cost model of a W8A8 GEMM config on a GPU, from the sim device's counters: what the
// autotuner ranks candidates by on `sim`, where nothing can be timed. It is a model, not a
// measurement, and every output that uses it says so.
//
// The sim runs two small proxies of the problem with the config: one row band of tile_m rows
// by one and by two column tiles, at up to 512 of K. Their difference is one CTA's work; the
// rest of the one-column call is the per-row-band work outside the GEMM's CTAs (the separate
// strategy's act_quant pass). Scaled to the problem's CTAs, row bands and K, the counters give
// four times, the largest of which is the estimate (a roofline over the GPU's units):
//   issue  warp instructions / (SMs x 4 schedulers x clock), stretched by the last wave's
//          idle SMs (waves of SMs x CTAs per SM, from shared memory and threads);
//   mma    tensor-core instructions x MACs each / (SMs x MACs per SM per clock x clock);
//   shared shared-memory wavefronts / (SMs x 1 per clock x clock);
//   memory the 32-byte sectors the CTAs load and store / L2 bandwidth, and the problem's
//          compulsory bytes / DRAM bandwidth;
// plus a launch overhead per kernel. Registers are not modelled (the sim needs no ptxas).

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
  double launch_us = 0;
  /// sm_80 (A100), sm_86 / sm_89 (L40S), sm_90 (H100 SXM). Throws naming the arch otherwise.
  static GpuModel for_arch(const std::string& arch);
};

/// What one proxy pair measured, scaled to the problem.
struct GemmCostInputs {
  sim::SimCounters per_cta;   // one CTA's GEMM work at the proxy's K
  sim::SimCounters per_band;  // one row band's work outside the CTAs (act_quant), at the proxy's K
  std::int64_t proxy_k = 0;
  int launches = 1;           // kernels one call launches
};

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
