#include "quant_ops/sim_cost_model.hpp"

#include <algorithm>
#include <cmath>

#include "common/dtype.hpp"
#include "common/error.hpp"

namespace qjit {

namespace {

// The counters this model reads, each `f(a's, b's)`.
template <typename F>
sim::SimCounters per_counter(const sim::SimCounters& a, const sim::SimCounters& b, F f) {
  sim::SimCounters o;
  o.warp_instructions = f(a.warp_instructions, b.warp_instructions);
  o.mma = f(a.mma, b.mma);
  o.shared_wavefronts = f(a.shared_wavefronts, b.shared_wavefronts);
  o.global_load_sectors = f(a.global_load_sectors, b.global_load_sectors);
  o.global_store_sectors = f(a.global_store_sectors, b.global_store_sectors);
  return o;
}

// The counters at depth K from those at k1 and k2 (linear in K), times `f`.
sim::SimCounters extrapolated(const sim::SimCounters& c1, const sim::SimCounters& c2, std::int64_t k1, std::int64_t k2,
                              std::int64_t k, double f) {
  return per_counter(c1, c2, [&](std::uint64_t v1, std::uint64_t v2) {
    const double a = static_cast<double>(v1), b = static_cast<double>(v2);
    const double v = k2 > k1 ? a + (b - a) * static_cast<double>(k - k1) / static_cast<double>(k2 - k1) : a;
    return static_cast<std::uint64_t>(std::llround(std::max(0.0, v) * f));
  });
}

}  // namespace

sim::SimCounters sim_counters_since(const sim::SimCounters& a, const sim::SimCounters& b) {
  return per_counter(a, b, [](std::uint64_t x, std::uint64_t y) { return x > y ? x - y : std::uint64_t{0}; });
}

GpuModel GpuModel::for_arch(const std::string& arch) {
  // NOTE: public figures of the reference part of each arch; mma MACs per SM per clock are
  // the dense int8 tensor rate of mma.sync (A100: 624 TOPS = 108 SMs x 1.41 GHz x 2 x 2048;
  // RTX A6000: 310 TOPS = 84 x 1.8 GHz x 2 x 1024; L40S: 733 TOPS = 142 x 2.52 GHz x 2 x
  // 1024; H100 SXM: mma.sync assumed at half of wgmma's 1979 TOPS, 132 x 1.83 GHz x 2 x
  // 2048). L2 bandwidth is an assumption (about 2.5x DRAM's). Threads and CTAs per SM are the
  // arch's limits. A launch costs ~3 us. A global load's latency under load is an assumption
  // too: 600 cycles on every arch (idle, from L2 or DRAM, it is a few hundred).
  if (arch == "sm_80") return {"A100 (model)", 108, 1.41, 2048, 3600, 2039, 164 * 1024, 2048, 32, 3, 600};
  if (arch == "sm_86") return {"RTX A6000 (model)", 84, 1.8, 1024, 1100, 768, 100 * 1024, 1536, 16, 3, 600};
  if (arch == "sm_89") return {"L40S (model)", 142, 2.52, 1024, 900, 864, 100 * 1024, 1536, 24, 3, 600};
  if (arch == "sm_90" || arch == "sm_90a") {
    return {"H100 SXM (model)", 132, 1.83, 2048, 4600, 3350, 228 * 1024, 2048, 32, 3, 600};
  }
  QJIT_THROW("autotune", "the sim cost model knows sm_80, sm_86, sm_89 and sm_90, not {}", arch);
}

namespace {

// Registers a thread of a warp tile of (rows, columns) holds: `per_element` accumulators per
// output element, and (an assumption) 64 for operand fragments, addresses and loop state,
// rounded up to the allocation unit of 8.
int estimated_registers(int warp_rows, int warp_columns, int per_element) {
  const int accumulators = (warp_rows / 16) * (warp_columns / 8) * 4 * per_element;
  return std::min(255, (accumulators + 64 + 7) / 8 * 8);
}

}  // namespace

GemmCostKernel gemm_cost_kernel(const jit::impls::GemmDesc& d, const jit::impls::GemmConfig& c) {
  GemmCostKernel g;
  g.tile_m = c.tile_m, g.tile_n = c.tile_n, g.tile_k = c.tile_k;
  g.threads = c.threads();
  // NOTE: fp8 keeps each 128-K block's sum beside the main one (jit/impls/qgemm.cpp).
  g.registers = estimated_registers(c.tile_m / c.warps_m, c.tile_n / c.warps_n, d.qtype_a == QType::kInt8 ? 1 : 2);
  g.smem_bytes = jit::impls::qgemm_smem_bytes(d, c);
  g.stages = c.stages;
  g.x_bytes = d.a_source == jit::impls::ActSource::kQuantized ? 1.0 : static_cast<double>(dtype_size(d.x_dtype));
  g.w_bytes = 1;
  g.out_bytes = static_cast<double>(dtype_size(d.out));
  return g;
}

GemmCostKernel gemm_cost_kernel(const jit::impls::WeightOnlyDesc& d, const jit::impls::WeightOnlyConfig& c) {
  GemmCostKernel g;
  g.tile_m = c.tile_m, g.tile_n = c.tile_n, g.tile_k = c.tile_k;
  g.threads = c.threads();
  g.registers = estimated_registers(c.tile_m / c.warps_m, c.tile_n / c.warps_n, 1);
  g.smem_bytes = c.smem_bytes(jit::impls::qgemm_wo_weight_bytes(d));
  g.stages = c.stages;
  g.x_bytes = static_cast<double>(dtype_size(d.x));
  g.w_bytes = jit::impls::qgemm_wo_weight_bytes(d);
  g.out_bytes = static_cast<double>(dtype_size(d.out));
  return g;
}

GemmCostEstimate estimate_gemm_cost(const GpuModel& g, const GemmCostKernel& c, std::int64_t m, std::int64_t n,
                                    std::int64_t k, const GemmCostInputs& in) {
  const double bands = static_cast<double>((m + c.tile_m - 1) / c.tile_m);
  const double ctas = bands * static_cast<double>((n + c.tile_n - 1) / c.tile_n);
  sim::SimCounters total = extrapolated(in.per_cta_k1, in.per_cta_k2, in.k1, in.k2, k, ctas);
  const sim::SimCounters band = extrapolated(in.per_band_k1, in.per_band_k2, in.k1, in.k2, k, bands);
  total.warp_instructions += band.warp_instructions;
  total.shared_wavefronts += band.shared_wavefronts;
  total.global_load_sectors += band.global_load_sectors;
  total.global_store_sectors += band.global_store_sectors;

  // NOTE: CTAs resident on one SM share its units, so a unit's time is set by the busiest
  // SM's CTAs, ceil(CTAs / SMs) of them: the compute terms are stretched by the SMs that run
  // fewer. Occupancy (CTAs per SM, from shared memory, threads, registers and the CTA limit)
  // sets the waves the pipeline's latency is paid in.
  const double smem = std::max(1, c.smem_bytes);
  const double threads = std::max(1, c.threads);
  const double per_sm = std::max(1.0, std::min({std::floor(g.smem_per_sm / smem), std::floor(g.max_threads_per_sm / threads),
                                                std::floor(g.registers_per_sm / (std::max(1, c.registers) * threads)),
                                                g.max_ctas_per_sm}));
  const double waves = std::ceil(ctas / (per_sm * g.sms));
  const double stretch = std::ceil(ctas / g.sms) * g.sms / std::max(ctas, 1.0);
  const double clock = g.clock_ghz * 1e3;  // cycles per microsecond

  GemmCostEstimate e;
  e.issue_us = static_cast<double>(total.warp_instructions) / (g.sms * 4.0 * clock) * stretch;
  e.mma_us = static_cast<double>(total.mma) * 4096.0 / (g.sms * g.mma_macs_per_sm_clock * clock) * stretch;
  e.shared_us = static_cast<double>(total.shared_wavefronts) / (g.sms * clock) * stretch;
  e.l2_us = static_cast<double>(total.global_load_sectors + total.global_store_sectors) * 32.0 /
            (g.l2_bytes_per_clock * clock);
  const double compulsory = static_cast<double>(m) * static_cast<double>(k) * c.x_bytes +
                            static_cast<double>(n) * static_cast<double>(k) * c.w_bytes +
                            static_cast<double>(m) * static_cast<double>(n) * c.out_bytes;
  e.dram_us = compulsory / (g.dram_gb_s * 1e3);
  // NOTE: the CTAs of a wave wait side by side; the waves one after another.
  const double k_steps = std::ceil(static_cast<double>(k) / static_cast<double>(std::max<std::int64_t>(c.tile_k, 1)));
  e.latency_us = waves * k_steps * g.load_latency_cycles / std::max(1, c.stages - 1) / clock;
  e.launch_us = g.launch_us * in.launches;
  const std::pair<double, const char*> terms[] = {{e.issue_us, "issue"}, {e.mma_us, "mma"},   {e.shared_us, "shared"},
                                                  {e.l2_us, "l2"},       {e.dram_us, "dram"}, {e.latency_us, "latency"}};
  const auto* top = std::max_element(std::begin(terms), std::end(terms),
                                     [](const auto& a, const auto& b) { return a.first < b.first; });
  e.us = top->first + e.launch_us;
  e.bound = top->second;
  return e;
}

}  // namespace qjit
