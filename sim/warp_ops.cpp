// shfl.sync, vote.sync, match.sync and redux.sync, from the PTX ISA's descriptions and the
// shfl pseudo-code. mma.sync lives in warp_mma.cpp, ldmatrix / stmatrix in warp_ldmatrix.cpp.

#include "sim/warp_ops.hpp"

#include <algorithm>

namespace qjit::sim {

namespace {

bool has_lane(std::uint32_t mask, int lane) { return ((mask >> lane) & 1u) != 0; }

}  // namespace

std::uint32_t shfl_sync(ShflMode mode, const std::uint32_t a[kWarpSize], const std::uint32_t b[kWarpSize],
                        const std::uint32_t c[kWarpSize], std::uint32_t membermask, std::uint32_t active_lanes,
                        std::uint32_t d[kWarpSize], bool p[kWarpSize]) {
  // Every executing lane reads the sources before any writes its destination: d may alias a
  // in the caller's buffers.
  std::uint32_t source[kWarpSize];
  std::copy(a, a + kWarpSize, source);
  const std::uint32_t valid_sources = active_lanes & membermask;
  std::uint32_t undefined = 0;
  for (int lane = 0; lane < kWarpSize; ++lane) {
    if (!has_lane(active_lanes, lane)) continue;
    // The ISA's pseudo-code, with j signed: .up can go below lane 0 and .down past 31.
    const int bval = static_cast<int>(b[lane] & 0x1fu);
    const int cval = static_cast<int>(c[lane] & 0x1fu);
    const int segmask = static_cast<int>((c[lane] >> 8) & 0x1fu);
    const int max_lane = (lane & segmask) | (cval & ~segmask);
    const int min_lane = lane & segmask;
    int j = lane;
    bool pval = false;
    switch (mode) {
      case ShflMode::kUp: j = lane - bval; pval = j >= max_lane; break;
      case ShflMode::kDown: j = lane + bval; pval = j <= max_lane; break;
      case ShflMode::kBfly: j = lane ^ bval; pval = j <= max_lane; break;
      case ShflMode::kIdx: j = min_lane | (bval & ~segmask); pval = j <= max_lane; break;
    }
    if (!pval) j = lane;  // out of range: copy from the lane's own a
    // NOTE: j is in [0, 31] here: an in-range .up source is >= max_lane >= 0, an in-range
    // .down source <= max_lane <= 31, and .bfly / .idx only combine 5-bit values.
    if (!has_lane(membermask, lane) || (pval && !has_lane(valid_sources, j))) undefined |= 1u << lane;
    d[lane] = source[j];
    p[lane] = pval;
  }
  return undefined;
}

std::uint32_t vote_sync(VoteMode mode, const bool pred[kWarpSize], std::uint32_t membermask) {
  std::uint32_t ballot = 0;
  for (int lane = 0; lane < kWarpSize; ++lane) {
    if (has_lane(membermask, lane) && pred[lane]) ballot |= 1u << lane;
  }
  switch (mode) {
    case VoteMode::kAll: return ballot == membermask ? 1u : 0u;
    case VoteMode::kAny: return ballot != 0 ? 1u : 0u;
    case VoteMode::kUni: return (ballot == 0 || ballot == membermask) ? 1u : 0u;
    case VoteMode::kBallot: return ballot;
  }
  return 0;
}

void match_sync(MatchMode mode, const std::uint64_t value[kWarpSize], bool is64, std::uint32_t membermask,
                std::uint32_t d[kWarpSize], bool p[kWarpSize]) {
  const std::uint64_t keep = is64 ? ~std::uint64_t{0} : 0xffffffffull;
  // The lanes holding the same value as lane i, among the participants.
  auto same_as = [&](int i) {
    std::uint32_t m = 0;
    for (int j = 0; j < kWarpSize; ++j) {
      if (has_lane(membermask, j) && ((value[j] ^ value[i]) & keep) == 0) m |= 1u << j;
    }
    return m;
  };
  if (mode == MatchMode::kAny) {
    for (int lane = 0; lane < kWarpSize; ++lane) {
      if (has_lane(membermask, lane)) d[lane] = same_as(lane);
    }
    return;
  }
  bool all_same = true;
  for (int lane = 0; lane < kWarpSize && all_same; ++lane) {
    if (has_lane(membermask, lane)) all_same = same_as(lane) == membermask;
  }
  for (int lane = 0; lane < kWarpSize; ++lane) {
    if (!has_lane(membermask, lane)) continue;
    d[lane] = all_same ? membermask : 0u;
    if (p != nullptr) p[lane] = all_same;
  }
}

std::uint32_t redux_sync(ReduxOp op, ReduxType type, const std::uint32_t value[kWarpSize],
                         std::uint32_t membermask) {
  const bool is_signed = type == ReduxType::kS32;
  std::uint32_t acc = 0;
  switch (op) {
    case ReduxOp::kAdd:
    case ReduxOp::kOr:
    case ReduxOp::kXor: acc = 0; break;
    case ReduxOp::kAnd: acc = 0xffffffffu; break;
    case ReduxOp::kMin: acc = is_signed ? 0x7fffffffu : 0xffffffffu; break;
    case ReduxOp::kMax: acc = is_signed ? 0x80000000u : 0u; break;
  }
  for (int lane = 0; lane < kWarpSize; ++lane) {
    if (!has_lane(membermask, lane)) continue;
    const std::uint32_t v = value[lane];
    switch (op) {
      case ReduxOp::kAdd: acc += v; break;  // unsigned: wraps, the ISA's truncation to 32 bits
      case ReduxOp::kAnd: acc &= v; break;
      case ReduxOp::kOr: acc |= v; break;
      case ReduxOp::kXor: acc ^= v; break;
      case ReduxOp::kMin:
        if (is_signed ? static_cast<std::int32_t>(v) < static_cast<std::int32_t>(acc) : v < acc) acc = v;
        break;
      case ReduxOp::kMax:
        if (is_signed ? static_cast<std::int32_t>(v) > static_cast<std::int32_t>(acc) : v > acc) acc = v;
        break;
    }
  }
  return acc;
}

}  // namespace qjit::sim
