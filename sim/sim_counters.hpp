#pragma once
// Per-launch counters of the sim device, for kernel quality without a GPU. Shared-memory
// bank conflicts are counted as Nsight Compute does: wavefronts beyond the minimum the
// access width needs. Global loads count 32-byte sectors requested against bytes used.

#include <cstdint>
#include <string>

namespace qjit::sim {

struct SimCounters {
  std::uint64_t warp_instructions = 0;    // instructions issued per warp
  std::uint64_t thread_instructions = 0;  // summed over the active lanes
  std::uint64_t alu = 0, fpu = 0, conversions = 0, control = 0;
  std::uint64_t global_loads = 0, global_stores = 0, shared_loads = 0, shared_stores = 0, local_accesses = 0;
  std::uint64_t atomics = 0, collectives = 0;
  std::uint64_t mma = 0, ldmatrix = 0, cp_async = 0, barriers = 0;
  // Shared memory: wavefronts issued and the minimum the access widths need.
  std::uint64_t shared_wavefronts = 0, shared_ideal_wavefronts = 0;
  // Global loads: sectors touched and bytes the lanes asked for (coalescing efficiency).
  std::uint64_t global_load_sectors = 0, global_load_bytes = 0;
  std::uint64_t global_store_sectors = 0, global_store_bytes = 0;
  double seconds = 0;

  std::uint64_t bank_conflicts() const { return shared_wavefronts - shared_ideal_wavefronts; }
  // Bytes used / bytes moved, in [0, 1]; 1 when nothing was loaded.
  double global_load_efficiency() const {
    return global_load_sectors == 0 ? 1.0 : static_cast<double>(global_load_bytes) / (32.0 * global_load_sectors);
  }
  double global_store_efficiency() const {
    return global_store_sectors == 0 ? 1.0 : static_cast<double>(global_store_bytes) / (32.0 * global_store_sectors);
  }
  SimCounters& operator+=(const SimCounters& o);
  std::string str() const;  // one line per group, for QJIT_SIM_STATS
};

}  // namespace qjit::sim
