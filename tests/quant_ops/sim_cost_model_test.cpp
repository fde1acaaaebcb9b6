// The sim cost model (quant_ops/sim_cost_model.hpp) on synthetic counters: each term's
// arithmetic, the SMs a small grid leaves idle, the pipeline's latency against its shared
// memory, and the two families' kernels.
#include <gtest/gtest.h>

#include <cmath>

#include "common/error.hpp"
#include "quant_ops/sim_cost_model.hpp"

namespace qjit {
namespace {

// One CTA's counters, the same at both depths (no extrapolation: k1 == k2 == k).
GemmCostInputs flat(std::uint64_t instructions, std::uint64_t mma, std::int64_t k) {
  GemmCostInputs in;
  in.per_cta_k1.warp_instructions = in.per_cta_k2.warp_instructions = instructions;
  in.per_cta_k1.mma = in.per_cta_k2.mma = mma;
  in.k1 = in.k2 = k;
  return in;
}

GemmCostKernel kernel(std::int64_t tile_m, std::int64_t tile_n, std::int64_t tile_k, int stages, int smem) {
  GemmCostKernel c;
  c.tile_m = tile_m, c.tile_n = tile_n, c.tile_k = tile_k;
  c.threads = 128;
  c.registers = 128;
  c.stages = stages;
  c.smem_bytes = smem;
  c.x_bytes = 2, c.w_bytes = 1, c.out_bytes = 2;
  return c;
}

TEST(SimCostModel, TermsFollowTheirFormulas) {
  const GpuModel g = GpuModel::for_arch("sm_80");
  // 108 x 4 = 432 CTAs: four per SM, no idle SM.
  const GemmCostKernel c = kernel(64, 128, 64, 4, 32 * 1024);
  const GemmCostEstimate e = estimate_gemm_cost(g, c, 64 * 4, 128 * 108, 1024, flat(10000, 2000, 1024));
  const double clock = 1.41e3, ctas = 432;
  EXPECT_NEAR(e.issue_us, ctas * 10000 / (108 * 4 * clock), 1e-9);
  EXPECT_NEAR(e.mma_us, ctas * 2000 * 4096 / (108 * 2048 * clock), 1e-9);
  // 5 CTAs fit an SM by shared memory (164 KiB / 32 KiB), so 432 CTAs are one wave; 16 K
  // steps, three loads in flight.
  EXPECT_NEAR(e.latency_us, 16 * 600.0 / 3 / clock, 1e-9);
  const double compulsory = 256.0 * 1024 * 2 + 13824.0 * 1024 + 256.0 * 13824 * 2;
  EXPECT_NEAR(e.dram_us, compulsory / (2039 * 1e3), 1e-9);
  EXPECT_EQ(e.bound, "mma");
  EXPECT_NEAR(e.us, e.mma_us + 3, 1e-9) << "the largest term plus one launch";
  EXPECT_THROW(GpuModel::for_arch("sm_75"), Error);
}

TEST(SimCostModel, ASmallGridPaysForTheSmsItLeavesIdleWhateverItsOccupancy) {
  const GpuModel g = GpuModel::for_arch("sm_90");
  // 12 CTAs on 132 SMs: each unit runs at 12/132 of the GPU's rate, with small or large tiles'
  // shared memory alike (CTAs on one SM would share its units).
  const GemmCostInputs in = flat(10000, 0, 64);
  const double small = estimate_gemm_cost(g, kernel(64, 128, 64, 2, 16 * 1024), 64, 12 * 128, 64, in).issue_us;
  const double large = estimate_gemm_cost(g, kernel(64, 128, 64, 2, 200 * 1024), 64, 12 * 128, 64, in).issue_us;
  EXPECT_DOUBLE_EQ(small, large);
  EXPECT_NEAR(small, 10000 / (4 * 1.83e3), 1e-9) << "one CTA's instructions on one SM";
}

TEST(SimCostModel, DeeperPipelinesHideLatencyUntilSharedMemoryCostsAWave) {
  const GpuModel g = GpuModel::for_arch("sm_90");
  const GemmCostInputs in = flat(100, 10, 4096);
  // 264 CTAs (two per SM); K = 4096 in 64 steps.
  auto latency = [&](int stages, int smem) {
    return estimate_gemm_cost(g, kernel(64, 128, 64, stages, smem), 64 * 2, 128 * 132, 4096, in).latency_us;
  };
  EXPECT_GT(latency(2, 32 * 1024), latency(3, 48 * 1024));
  EXPECT_GT(latency(3, 48 * 1024), latency(4, 64 * 1024));
  EXPECT_NEAR(latency(2, 32 * 1024) / latency(5, 80 * 1024), 4.0, 1e-9) << "one load in flight against four";
  // Past 114 KiB only one CTA fits an SM: two waves, and the fifth stage no longer pays.
  EXPECT_GT(latency(5, 120 * 1024), latency(4, 64 * 1024));
  EXPECT_NEAR(latency(5, 120 * 1024), 2 * 64 * 600.0 / 4 / 1.83e3, 1e-9);
  // Registers bound occupancy too: 192 a thread at 256 threads leave room for one CTA an SM.
  GemmCostKernel heavy = kernel(64, 128, 64, 3, 48 * 1024);
  heavy.threads = 256;
  heavy.registers = 192;
  EXPECT_NEAR(estimate_gemm_cost(g, heavy, 64 * 2, 128 * 132, 4096, in).latency_us, 2 * 64 * 600.0 / 2 / 1.83e3, 1e-9);
  // A latency-bound problem says so.
  const GemmCostEstimate e = estimate_gemm_cost(g, kernel(64, 128, 64, 2, 32 * 1024), 64, 128, 4096, in);
  EXPECT_EQ(e.bound, "latency");
}

TEST(SimCostModel, FamiliesDescribeTheirKernels) {
  jit::impls::WeightOnlyDesc wd;
  wd.n = 1536, wd.k = 1536;
  const jit::impls::WeightOnlyConfig wc{64, 128, 64, 1, 4, 3};
  const GemmCostKernel w = gemm_cost_kernel(wd, wc);
  EXPECT_EQ(w.smem_bytes, wc.smem_bytes(1));
  EXPECT_EQ(w.threads, 128);
  EXPECT_EQ(w.stages, 3);
  EXPECT_EQ(w.x_bytes, 2);
  EXPECT_EQ(w.w_bytes, 1);
  EXPECT_EQ(w.registers, 128) << "64x32 warp tiles: 64 accumulators, and 64";
  EXPECT_EQ(gemm_cost_kernel(wd, jit::impls::WeightOnlyConfig{128, 256, 32, 1, 8, 4}).registers, 192);
  wd.qtype_w = QType::kNone;  // the unquantized GEMM reads 16-bit weights
  EXPECT_EQ(gemm_cost_kernel(wd, wc).w_bytes, 2);
  EXPECT_EQ(gemm_cost_kernel(wd, wc).smem_bytes, wc.smem_bytes(2));
  jit::impls::GemmDesc qd;
  qd.n = 1536, qd.k = 1536;
  qd.a_source = jit::impls::ActSource::kQuantized;
  const jit::impls::GemmConfig qc;
  const GemmCostKernel q = gemm_cost_kernel(qd, qc);
  EXPECT_EQ(q.x_bytes, 1) << "codes";
  EXPECT_EQ(q.registers, 128) << "int8 32x64 warp tiles: 64 accumulators, and 64";
  qd.qtype_a = qd.qtype_w = QType::kE4M3;  // fp8 keeps each block's sum beside the main one
  EXPECT_EQ(gemm_cost_kernel(qd, jit::impls::GemmConfig{64, 128, 64, 2, 4, 4}).registers, 128);
  EXPECT_EQ(q.smem_bytes, jit::impls::qgemm_smem_bytes(qd, qc));
  qd.a_source = jit::impls::ActSource::kDynamic;
  qd.x_dtype = DType::kBF16;
  EXPECT_EQ(gemm_cost_kernel(qd, qc).x_bytes, 2) << "the float input";
}

}  // namespace
}  // namespace qjit
