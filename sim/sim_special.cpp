// Special registers (%tid, %laneid, %lanemask_*, ...) of one lane.

#include <chrono>

#include "sim/sim_lane.hpp"

namespace qjit::sim {

std::uint64_t read_special(Special s, const LaneCtx& c) {
  switch (s) {
    case Special::kTidX: return c.tid[0];
    case Special::kTidY: return c.tid[1];
    case Special::kTidZ: return c.tid[2];
    case Special::kNtidX: return c.ntid[0];
    case Special::kNtidY: return c.ntid[1];
    case Special::kNtidZ: return c.ntid[2];
    case Special::kCtaidX: return c.ctaid[0];
    case Special::kCtaidY: return c.ctaid[1];
    case Special::kCtaidZ: return c.ctaid[2];
    case Special::kNctaidX: return c.nctaid[0];
    case Special::kNctaidY: return c.nctaid[1];
    case Special::kNctaidZ: return c.nctaid[2];
    case Special::kLaneid: return c.laneid;
    case Special::kWarpid: return c.warpid;
    case Special::kNwarpid: return c.nwarpid;
    case Special::kSmid: return c.smid;
    case Special::kNsmid: return c.nsmid;
    case Special::kClock: return static_cast<std::uint32_t>(*c.clock);
    case Special::kClock64: return *c.clock;
    case Special::kGlobaltimer:
      return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                            std::chrono::steady_clock::now().time_since_epoch())
                                            .count());
    case Special::kLanemaskEq: return 1u << c.laneid;
    case Special::kLanemaskLt: return (1u << c.laneid) - 1u;
    case Special::kLanemaskLe: return c.laneid == 31 ? 0xffffffffu : (2u << c.laneid) - 1u;
    case Special::kLanemaskGt: return c.laneid == 31 ? 0u : ~((2u << c.laneid) - 1u);
    case Special::kLanemaskGe: return ~((1u << c.laneid) - 1u);
    case Special::kDynamicSmemSize: return c.dynamic_smem;
    case Special::kTotalSmemSize: return c.total_smem;
  }
  return 0;
}

}  // namespace qjit::sim
