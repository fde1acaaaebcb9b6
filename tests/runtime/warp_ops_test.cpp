// shfl.sync, vote.sync, match.sync and redux.sync (sim/warp_ops.cpp): known answers
// from the PTX ISA text (the shfl pseudo-code and its examples) and from the CUDA
// programming guide's description of __shfl_*_sync with a `width`, which NVCC lowers to
// shfl.sync with c = ((32 - width) << 8) | clamp (clamp 0 for .up, 31 otherwise).

#include <gtest/gtest.h>

#include <cstdint>
#include <numeric>

#include "sim/warp_ops.hpp"

namespace qjit::sim {
namespace {

constexpr std::uint32_t kAll = 0xffffffffu;

struct Lanes {
  std::uint32_t v[kWarpSize];
};

Lanes fill(std::uint32_t value) {
  Lanes l;
  for (auto& x : l.v) x = value;
  return l;
}

// a[lane] = 100 + lane, so a result names its source lane.
Lanes sources() {
  Lanes l;
  for (int i = 0; i < kWarpSize; ++i) l.v[i] = 100u + static_cast<std::uint32_t>(i);
  return l;
}

struct ShflOut {
  std::uint32_t d[kWarpSize];
  bool p[kWarpSize];
  std::uint32_t undefined;
};

ShflOut shfl(ShflMode mode, const Lanes& a, std::uint32_t b, std::uint32_t c, std::uint32_t member = kAll,
             std::uint32_t active = kAll) {
  ShflOut o;
  for (auto& x : o.d) x = 0xdeadu;
  for (auto& x : o.p) x = false;
  const Lanes bb = fill(b), cc = fill(c);
  o.undefined = shfl_sync(mode, a.v, bb.v, cc.v, member, active, o.d, o.p);
  return o;
}

std::uint32_t cuda_c(ShflMode mode, int width) {
  return (static_cast<std::uint32_t>(kWarpSize - width) << 8) | (mode == ShflMode::kUp ? 0u : 0x1fu);
}

// --- shfl.sync -------------------------------------------------------------------------------

TEST(ShflSync, EveryModeMatchesCudaWidthSemantics) {
  const Lanes a = sources();
  for (int width : {1, 2, 4, 8, 16, 32}) {
    for (std::uint32_t b = 0; b < 32; ++b) {
      const ShflOut idx = shfl(ShflMode::kIdx, a, b, cuda_c(ShflMode::kIdx, width));
      const ShflOut up = shfl(ShflMode::kUp, a, b, cuda_c(ShflMode::kUp, width));
      const ShflOut down = shfl(ShflMode::kDown, a, b, cuda_c(ShflMode::kDown, width));
      const ShflOut bfly = shfl(ShflMode::kBfly, a, b, cuda_c(ShflMode::kBfly, width));
      for (int lane = 0; lane < kWarpSize; ++lane) {
        const int w = width, base = lane & ~(w - 1), pos = lane % w, delta = static_cast<int>(b);
        SCOPED_TRACE(testing::Message() << "width " << w << " b " << b << " lane " << lane);
        // __shfl_sync: lane srcLane % width of the caller's segment.
        EXPECT_EQ(idx.d[lane], a.v[base + delta % w]);
        EXPECT_TRUE(idx.p[lane]);
        // __shfl_up_sync: from lane - delta unless that leaves the segment (own value).
        EXPECT_EQ(up.d[lane], pos >= delta ? a.v[lane - delta] : a.v[lane]);
        EXPECT_EQ(up.p[lane], pos >= delta);
        // __shfl_down_sync: from lane + delta unless that leaves the segment.
        EXPECT_EQ(down.d[lane], pos + delta < w ? a.v[lane + delta] : a.v[lane]);
        EXPECT_EQ(down.p[lane], pos + delta < w);
        // __shfl_xor_sync: lane ^ laneMask; a later segment gives the own value, an earlier
        // one is allowed.
        const int src = lane ^ delta;
        EXPECT_EQ(bfly.d[lane], src < base + w ? a.v[src] : a.v[lane]);
        EXPECT_EQ(bfly.p[lane], src < base + w);
        EXPECT_EQ(idx.undefined | up.undefined | down.undefined | bfly.undefined, 0u);
      }
    }
  }
}

TEST(ShflSync, IsaExamplesScanAndButterfly) {
  // Inclusive plus scan: shfl.up.b32 Ry|p, Rx, 1/2/4/8/16, 0x0; @p add Rx, Ry, Rx.
  Lanes x;
  for (int i = 0; i < kWarpSize; ++i) x.v[i] = static_cast<std::uint32_t>(i + 1);
  for (std::uint32_t off : {1u, 2u, 4u, 8u, 16u}) {
    const ShflOut o = shfl(ShflMode::kUp, x, off, 0x0);
    for (int i = 0; i < kWarpSize; ++i) {
      if (o.p[i]) x.v[i] += o.d[i];
    }
  }
  for (int i = 0; i < kWarpSize; ++i) EXPECT_EQ(x.v[i], static_cast<std::uint32_t>((i + 1) * (i + 2) / 2)) << i;
  // Inclusive reverse scan: shfl.down with c = 0x1f.
  for (int i = 0; i < kWarpSize; ++i) x.v[i] = static_cast<std::uint32_t>(i + 1);
  for (std::uint32_t off : {1u, 2u, 4u, 8u, 16u}) {
    const ShflOut o = shfl(ShflMode::kDown, x, off, 0x1f);
    for (int i = 0; i < kWarpSize; ++i) {
      if (o.p[i]) x.v[i] += o.d[i];
    }
  }
  for (int i = 0; i < kWarpSize; ++i) EXPECT_EQ(x.v[i], static_cast<std::uint32_t>(528 - i * (i + 1) / 2)) << i;
  // Butterfly reduction: every lane ends with the sum.
  for (int i = 0; i < kWarpSize; ++i) x.v[i] = static_cast<std::uint32_t>(i * i);
  for (std::uint32_t off : {16u, 8u, 4u, 2u, 1u}) {
    const ShflOut o = shfl(ShflMode::kBfly, x, off, 0x1f);
    for (int i = 0; i < kWarpSize; ++i) x.v[i] += o.d[i];
  }
  for (int i = 0; i < kWarpSize; ++i) EXPECT_EQ(x.v[i], 10416u) << i;  // sum of i^2, i < 32
}

TEST(ShflSync, ClampValueBoundsTheSourceLane) {
  const Lanes a = sources();
  // .down, clamp 15, no segments: maxLane = 15 for every lane.
  ShflOut o = shfl(ShflMode::kDown, a, 2, 0x0f);
  for (int lane = 0; lane < kWarpSize; ++lane) {
    const bool in = lane + 2 <= 15;
    EXPECT_EQ(o.d[lane], in ? a.v[lane + 2] : a.v[lane]) << lane;
    EXPECT_EQ(o.p[lane], in) << lane;
  }
  // .idx, clamp 15: source 7 is in range everywhere, 20 nowhere.
  o = shfl(ShflMode::kIdx, a, 7, 0x0f);
  for (int lane = 0; lane < kWarpSize; ++lane) EXPECT_TRUE(o.p[lane] && o.d[lane] == a.v[7]) << lane;
  o = shfl(ShflMode::kIdx, a, 20, 0x0f);
  for (int lane = 0; lane < kWarpSize; ++lane) EXPECT_TRUE(!o.p[lane] && o.d[lane] == a.v[lane]) << lane;
  // .up, clamp 5: the source must be lane 5 or above.
  o = shfl(ShflMode::kUp, a, 1, 0x05);
  for (int lane = 0; lane < kWarpSize; ++lane) {
    EXPECT_EQ(o.p[lane], lane >= 6) << lane;
    EXPECT_EQ(o.d[lane], lane >= 6 ? a.v[lane - 1] : a.v[lane]) << lane;
  }
  // .bfly, clamp 20: lane ^ 8 must not exceed 20.
  o = shfl(ShflMode::kBfly, a, 8, 20);
  for (int lane = 0; lane < kWarpSize; ++lane) EXPECT_EQ(o.p[lane], (lane ^ 8) <= 20) << lane;
}

TEST(ShflSync, SegmentMaskWithClamp) {
  const Lanes a = sources();
  // Segments of 8 (mask c[12:8] = 0x18) with clamp 3: maxLane = segment base + 3.
  const std::uint32_t c = (0x18u << 8) | 3u;
  ShflOut o = shfl(ShflMode::kIdx, a, 2, c);
  for (int lane = 0; lane < kWarpSize; ++lane) {
    const int base = lane & 0x18;
    EXPECT_TRUE(o.p[lane]) << lane;
    EXPECT_EQ(o.d[lane], a.v[base + 2]) << lane;
  }
  o = shfl(ShflMode::kIdx, a, 5, c);
  for (int lane = 0; lane < kWarpSize; ++lane) EXPECT_TRUE(!o.p[lane] && o.d[lane] == a.v[lane]) << lane;
  o = shfl(ShflMode::kDown, a, 1, c);
  for (int lane = 0; lane < kWarpSize; ++lane) {
    const bool in = (lane & 7) + 1 <= 3;
    EXPECT_EQ(o.p[lane], in) << lane;
    EXPECT_EQ(o.d[lane], in ? a.v[lane + 1] : a.v[lane]) << lane;
  }
}

TEST(ShflSync, OnlyLowFiveBitsOfBAndPerLaneOperands) {
  const Lanes a = sources();
  // b = 37: bval = b[4:0] = 5, a valid source lane ("an out of range value of b may still
  // result in a valid computed source lane index").
  ShflOut o = shfl(ShflMode::kIdx, a, 37, 0x1f);
  for (int lane = 0; lane < kWarpSize; ++lane) EXPECT_TRUE(o.p[lane] && o.d[lane] == a.v[5]) << lane;
  // Bits of c outside [4:0] and [12:8] are ignored.
  o = shfl(ShflMode::kDown, a, 1, 0xffff'e0ffu & ~0x1f00u);
  for (int lane = 0; lane < kWarpSize; ++lane) EXPECT_EQ(o.p[lane], lane < 31) << lane;
  // b and c per lane: a reversal, and each lane its own clamp.
  Lanes b, c = fill(0x1f);
  for (int lane = 0; lane < kWarpSize; ++lane) b.v[lane] = static_cast<std::uint32_t>(31 - lane);
  c.v[3] = 0x01;  // lane 3 reads lane 28 > clamp 1: own value
  std::uint32_t d[kWarpSize];
  bool p[kWarpSize];
  EXPECT_EQ(shfl_sync(ShflMode::kIdx, a.v, b.v, c.v, kAll, kAll, d, p), 0u);
  for (int lane = 0; lane < kWarpSize; ++lane) {
    if (lane == 3) EXPECT_TRUE(!p[lane] && d[lane] == a.v[3]);
    else EXPECT_TRUE(p[lane] && d[lane] == a.v[31 - lane]) << lane;
  }
}

TEST(ShflSync, PartialMembermaskReportsUndefinedSources) {
  const Lanes a = sources();
  // Lanes 0-15 execute with membermask 0xffff; .down by 8: lanes 8-15 read lanes 16-23,
  // which did not take part. Lanes 16-31 are left untouched.
  ShflOut o = shfl(ShflMode::kDown, a, 8, 0x1f, 0x0000ffffu, 0x0000ffffu);
  EXPECT_EQ(o.undefined, 0x0000ff00u);
  for (int lane = 0; lane < 16; ++lane) {
    EXPECT_TRUE(o.p[lane]);
    EXPECT_EQ(o.d[lane], a.v[lane + 8]);  // deterministic: the register's current value
  }
  for (int lane = 16; lane < kWarpSize; ++lane) EXPECT_EQ(o.d[lane], 0xdeadu) << lane;
  // An out-of-range source is the lane itself: defined even in a partial warp.
  o = shfl(ShflMode::kDown, a, 8, 0x0f, 0x0000ffffu, 0x0000ffffu);
  EXPECT_EQ(o.undefined, 0u);
  // A source lane in membermask that exited (not executing) is undefined too.
  o = shfl(ShflMode::kIdx, a, 4, 0x1f, 0x000000ffu, 0x0000000fu);
  EXPECT_EQ(o.undefined, 0x0000000fu);
  // An executing lane missing from membermask is undefined.
  o = shfl(ShflMode::kIdx, a, 0, 0x1f, 0x7fffffffu, kAll);
  EXPECT_EQ(o.undefined, 0x80000000u);
}

// --- vote.sync ---------------------------------------------------------------------------------

struct Preds {
  bool v[kWarpSize];
};

Preds preds(std::uint32_t bits) {
  Preds p;
  for (int i = 0; i < kWarpSize; ++i) p.v[i] = ((bits >> i) & 1u) != 0;
  return p;
}

TEST(WarpVote, AllAnyUniBallot) {
  const Preds all = preds(kAll), none = preds(0), some = preds(0x0000f00fu);
  EXPECT_EQ(vote_sync(VoteMode::kAll, all.v, kAll), 1u);
  EXPECT_EQ(vote_sync(VoteMode::kAll, some.v, kAll), 0u);
  EXPECT_EQ(vote_sync(VoteMode::kAny, some.v, kAll), 1u);
  EXPECT_EQ(vote_sync(VoteMode::kAny, none.v, kAll), 0u);
  EXPECT_EQ(vote_sync(VoteMode::kUni, all.v, kAll), 1u);
  EXPECT_EQ(vote_sync(VoteMode::kUni, none.v, kAll), 1u);
  EXPECT_EQ(vote_sync(VoteMode::kUni, some.v, kAll), 0u);
  EXPECT_EQ(vote_sync(VoteMode::kBallot, some.v, kAll), 0x0000f00fu);
  // Only the participants count: lanes 0-3 and 12-15 are all true.
  EXPECT_EQ(vote_sync(VoteMode::kAll, some.v, 0x0000f00fu), 1u);
  EXPECT_EQ(vote_sync(VoteMode::kUni, some.v, 0x0000f00fu), 1u);
  EXPECT_EQ(vote_sync(VoteMode::kAny, some.v, 0xffff0000u), 0u);
  EXPECT_EQ(vote_sync(VoteMode::kBallot, some.v, 0x000000ffu), 0x0000000fu);
  EXPECT_EQ(vote_sync(VoteMode::kBallot, all.v, 0x80000001u), 0x80000001u);
}

// --- match.sync --------------------------------------------------------------------------------

TEST(WarpMatch, AnyGroupsEqualValues) {
  std::uint64_t v[kWarpSize];
  for (int i = 0; i < kWarpSize; ++i) v[i] = static_cast<std::uint64_t>(i % 3) * 0x1'0000'0001ull;
  std::uint32_t d[kWarpSize];
  match_sync(MatchMode::kAny, v, true, kAll, d, nullptr);
  for (int i = 0; i < kWarpSize; ++i) {
    std::uint32_t want = 0;
    for (int j = 0; j < kWarpSize; ++j) {
      if (j % 3 == i % 3) want |= 1u << j;
    }
    EXPECT_EQ(d[i], want) << i;
  }
  // Non-participants neither match nor get a result.
  for (auto& x : d) x = 0xdeadu;
  match_sync(MatchMode::kAny, v, true, 0x0000000fu, d, nullptr);
  EXPECT_EQ(d[0], 0x9u);  // lanes 0 and 3
  EXPECT_EQ(d[1], 0x2u);
  EXPECT_EQ(d[2], 0x4u);
  EXPECT_EQ(d[4], 0xdeadu);
}

TEST(WarpMatch, AllAndB32ComparesLowHalf) {
  std::uint64_t v[kWarpSize];
  for (int i = 0; i < kWarpSize; ++i) v[i] = 0x1234'5678ull | (static_cast<std::uint64_t>(i) << 32);
  std::uint32_t d[kWarpSize];
  bool p[kWarpSize];
  match_sync(MatchMode::kAll, v, false, kAll, d, p);  // .b32: only the low words, all equal
  for (int i = 0; i < kWarpSize; ++i) EXPECT_TRUE(p[i] && d[i] == kAll) << i;
  match_sync(MatchMode::kAll, v, true, kAll, d, p);  // .b64: they differ
  for (int i = 0; i < kWarpSize; ++i) EXPECT_TRUE(!p[i] && d[i] == 0u) << i;
  match_sync(MatchMode::kAll, v, true, 0x00000100u, d, p);  // a lone participant matches itself
  EXPECT_TRUE(p[8] && d[8] == 0x100u);
  v[5] = 7;  // lane 5 differs, but only lanes 8-15 take part
  match_sync(MatchMode::kAll, v, false, 0x0000ff00u, d, p);
  EXPECT_TRUE(p[9] && d[9] == 0x0000ff00u);
  match_sync(MatchMode::kAny, v, false, kAll, d, p);
  EXPECT_EQ(d[5], 0x20u);
  EXPECT_EQ(d[0], kAll & ~0x20u);
}

// --- redux.sync --------------------------------------------------------------------------------

TEST(WarpRedux, EveryOperation) {
  std::uint32_t v[kWarpSize];
  for (int i = 0; i < kWarpSize; ++i) v[i] = static_cast<std::uint32_t>(i * 7 - 100);  // -100 .. 117
  EXPECT_EQ(redux_sync(ReduxOp::kAdd, ReduxType::kS32, v, kAll), static_cast<std::uint32_t>(7 * 496 - 3200));
  EXPECT_EQ(static_cast<std::int32_t>(redux_sync(ReduxOp::kMin, ReduxType::kS32, v, kAll)), -100);
  EXPECT_EQ(static_cast<std::int32_t>(redux_sync(ReduxOp::kMax, ReduxType::kS32, v, kAll)), 117);
  // Unsigned: the negative values are the largest.
  EXPECT_EQ(redux_sync(ReduxOp::kMin, ReduxType::kU32, v, kAll), 5u);   // 15 * 7 - 100
  EXPECT_EQ(redux_sync(ReduxOp::kMax, ReduxType::kU32, v, kAll), static_cast<std::uint32_t>(-2));  // 14 * 7 - 100
  std::uint32_t bits[kWarpSize];
  for (int i = 0; i < kWarpSize; ++i) bits[i] = (1u << i) | 0x80000000u;
  EXPECT_EQ(redux_sync(ReduxOp::kOr, ReduxType::kB32, bits, kAll), kAll);
  EXPECT_EQ(redux_sync(ReduxOp::kAnd, ReduxType::kB32, bits, kAll), 0x80000000u);
  EXPECT_EQ(redux_sync(ReduxOp::kXor, ReduxType::kB32, bits, kAll), 0x7fffffffu);  // 32 copies of bit 31 cancel
  EXPECT_EQ(redux_sync(ReduxOp::kAnd, ReduxType::kB32, bits, 0x3u), 0x80000000u);
  EXPECT_EQ(redux_sync(ReduxOp::kOr, ReduxType::kB32, bits, 0x3u), 0x80000003u);
  // .add truncates to 32 bits.
  std::uint32_t big[kWarpSize];
  for (auto& x : big) x = 0x80000000u;
  EXPECT_EQ(redux_sync(ReduxOp::kAdd, ReduxType::kU32, big, 0x7u), 0x80000000u);
  EXPECT_EQ(redux_sync(ReduxOp::kAdd, ReduxType::kU32, big, 0x3u), 0u);
  // Only participants: lanes 20-23 hold 40, 47, 54, 61.
  EXPECT_EQ(redux_sync(ReduxOp::kAdd, ReduxType::kS32, v, 0x00f00000u), 202u);
  EXPECT_EQ(redux_sync(ReduxOp::kMin, ReduxType::kU32, v, 0x00f00000u), 40u);
}

}  // namespace
}  // namespace qjit::sim
