#include "sim/sim_counters.hpp"

#include <fmt/format.h>

namespace qjit::sim {

SimCounters& SimCounters::operator+=(const SimCounters& o) {
  warp_instructions += o.warp_instructions;
  thread_instructions += o.thread_instructions;
  alu += o.alu;
  fpu += o.fpu;
  conversions += o.conversions;
  control += o.control;
  global_loads += o.global_loads;
  global_stores += o.global_stores;
  shared_loads += o.shared_loads;
  shared_stores += o.shared_stores;
  local_accesses += o.local_accesses;
  atomics += o.atomics;
  collectives += o.collectives;
  mma += o.mma;
  ldmatrix += o.ldmatrix;
  cp_async += o.cp_async;
  barriers += o.barriers;
  shared_wavefronts += o.shared_wavefronts;
  shared_ideal_wavefronts += o.shared_ideal_wavefronts;
  global_load_sectors += o.global_load_sectors;
  global_load_bytes += o.global_load_bytes;
  global_store_sectors += o.global_store_sectors;
  global_store_bytes += o.global_store_bytes;
  seconds += o.seconds;
  return *this;
}

std::string SimCounters::str() const {
  return fmt::format(
      "instructions: {} warp, {} thread ({:.1f} M thread-inst/s)\n"
      "  by class: alu {} fpu {} cvt {} control {} collectives {} mma {} ldmatrix {} cp.async {} barriers {}\n"
      "  memory: global ld {} st {}, shared ld {} st {}, local {}, atomics {}\n"
      "  shared: {} wavefronts, {} ideal, {} bank conflicts\n"
      "  global loads: {} sectors, {} bytes used, efficiency {:.1f}%; stores: efficiency {:.1f}%",
      warp_instructions, thread_instructions, seconds > 0 ? thread_instructions / seconds / 1e6 : 0.0, alu, fpu,
      conversions, control, collectives, mma, ldmatrix, cp_async, barriers, global_loads, global_stores, shared_loads,
      shared_stores, local_accesses, atomics, shared_wavefronts, shared_ideal_wavefronts, bank_conflicts(),
      global_load_sectors, global_load_bytes, 100.0 * global_load_efficiency(), 100.0 * global_store_efficiency());
}

}  // namespace qjit::sim
