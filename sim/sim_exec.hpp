#pragma once
// Runs a decoded kernel over a grid: CTAs in parallel on host threads, each CTA's threads
// executed warp by warp (min-PC scheduling: a warp runs the lanes at its lowest PC
// together, so divergent paths reconverge), with memory checking, cp.async asynchrony,
// barriers, warp-collective rendezvous and counters.

#include <cstdint>
#include <vector>

#include "runtime/driver.hpp"
#include "sim/sim_counters.hpp"
#include "sim/sim_heap.hpp"
#include "sim/sim_program.hpp"

namespace qjit::sim {

struct SimOptions {
  bool race_check = false;  // report shared-memory races between two barriers
  int host_threads = 0;     // CTAs run in parallel on this many host threads (0: all cores)
};

struct GridLaunch {
  const SimModule* module = nullptr;
  const SimFunction* fn = nullptr;
  SimHeap* heap = nullptr;
  Dim3 grid, block;
  std::uint32_t dynamic_smem = 0;
  std::vector<std::uint8_t> params;  // the .param space of the entry, laid out as fn->params
  int sm_count = 1;
  SimOptions options;
};

// Throws qjit::Error (subsystem "sim") for the first error of any CTA: an out-of-bounds or
// misaligned access, a read of shared memory never written or still targeted by an
// unwaited cp.async, a shared-memory race (with race_check), a warp collective whose lanes
// do not all arrive, a deadlock at a barrier. The message names the kernel, the PTX line,
// the block and the thread.
SimCounters run_grid(const GridLaunch& launch);

}  // namespace qjit::sim
