#pragma once
// One sim device per arch for a whole test binary (kernels loaded once stay loaded), an op's
// outputs on sim and cpu, and the main-loop counter checks the GEMM sim tests make of a
// default config.

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "sim/sim_driver.hpp"

namespace qjit::test {

/// The binary's sim device of `arch` (sm_80, sm_89, sm_90), made on first use.
inline std::shared_ptr<sim::SimDriver> sim_device(const std::string& arch) {
  static std::map<std::string, std::shared_ptr<sim::SimDriver>> devices;
  auto& d = devices[arch];
  if (!d) d = std::make_shared<sim::SimDriver>(sim::SimDeviceConfig::for_arch(arch));
  return d;
}

/// An op's output on a sim device and on the cpu (the reference), as f32 values, with the
/// sim's counters of the op's last launch.
struct SimOutputs {
  std::vector<float> sim, ref;
  sim::SimCounters counters;
};

/// A tensor-core GEMM's launch: mma, ldmatrix and cp.async all ran; no shared-memory bank
/// conflicts, coalesced global loads (>= 90% efficiency), nothing in local memory.
inline void expect_clean_main_loop(const sim::SimCounters& c) {
  EXPECT_GT(c.mma, 0u);
  EXPECT_GT(c.ldmatrix, 0u);
  EXPECT_GT(c.cp_async, 0u);
  EXPECT_EQ(c.bank_conflicts(), 0u) << c.str();
  EXPECT_GE(c.global_load_efficiency(), 0.9) << c.str();
  EXPECT_EQ(c.local_accesses, 0u) << c.str();
}

}  // namespace qjit::test
