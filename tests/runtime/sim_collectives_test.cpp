// Warp collectives, atomics and tensor-core forms executed from real NVRTC output on the
// sim device, checked against host results.

#include <gtest/gtest.h>

#include <bit>
#include <random>

#include "common/error.hpp"
#include "runtime/float_convert.hpp"
#include "sim_test_util.hpp"

namespace qjit {
namespace {

using test::SimBench;

constexpr const char* kVoteMatchRedux = R"(
extern "C" __global__ void collectives(const unsigned* x, unsigned* out) {
  const unsigned lane = threadIdx.x % 32;
  const unsigned v = x[threadIdx.x];
  unsigned ballot = __ballot_sync(0xffffffffu, v & 1);
  int all = __all_sync(0xffffffffu, v < 1000);
  int any = __any_sync(0xffffffffu, v == 7);
  unsigned match;
  asm volatile("match.any.sync.b32 %0, %1, 0xffffffff;" : "=r"(match) : "r"(v % 4));
  unsigned sum, mx;
  asm volatile("redux.sync.add.u32 %0, %1, 0xffffffff;" : "=r"(sum) : "r"(v));
  asm volatile("redux.sync.max.u32 %0, %1, 0xffffffff;" : "=r"(mx) : "r"(v));
  unsigned* o = out + threadIdx.x * 6;
  o[0] = ballot; o[1] = all; o[2] = any; o[3] = match; o[4] = sum; o[5] = mx;
  (void)lane;
})";

TEST(SimCollectives, VoteMatchReduxMatchHost) {
  SimBench b("sm_89");
  auto fn = b.load(kVoteMatchRedux, "collectives");
  std::vector<unsigned> x(64);
  std::mt19937 rng(11);
  for (auto& v : x) v = rng() % 50;
  x[40] = 7;
  const DevicePtr dx = b.upload(x), dout = b.zeros(64 * 6 * 4);
  const auto c = b.launch(fn, {1, 1, 1}, {64, 1, 1}, 0, dx, dout);
  const auto out = b.download<unsigned>(dout, 64 * 6);
  for (int w = 0; w < 2; ++w) {
    unsigned ballot = 0, sum = 0, mx = 0;
    bool any7 = false;
    for (int l = 0; l < 32; ++l) {
      const unsigned v = x[w * 32 + l];
      ballot |= (v & 1u) << l;
      sum += v;
      mx = std::max(mx, v);
      any7 |= v == 7;
    }
    for (int l = 0; l < 32; ++l) {
      const unsigned* o = &out[(w * 32 + l) * 6];
      unsigned match = 0;
      for (int j = 0; j < 32; ++j) match |= (x[w * 32 + j] % 4 == x[w * 32 + l] % 4 ? 1u : 0u) << j;
      EXPECT_EQ(o[0], ballot);
      EXPECT_EQ(o[1], 1u);
      EXPECT_EQ(o[2], any7 ? 1u : 0u);
      EXPECT_EQ(o[3], match);
      EXPECT_EQ(o[4], sum);
      EXPECT_EQ(o[5], mx);
    }
  }
  EXPECT_GE(c.collectives, 2u * 6);
}

constexpr const char* kAtomics = R"(
extern "C" __global__ void histogram(const unsigned* x, unsigned* global_hist, float* fsum, int n) {
  __shared__ unsigned hist[16];
  if (threadIdx.x < 16) hist[threadIdx.x] = 0;
  __syncthreads();
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
    atomicAdd(&hist[x[i] % 16], 1u);
    atomicAdd(fsum, 1.0f);
  }
  __syncthreads();
  if (threadIdx.x < 16) atomicAdd(&global_hist[threadIdx.x], hist[threadIdx.x]);
})";

TEST(SimCollectives, SharedAndGlobalAtomicsAcrossParallelCtas) {
  SimBench b("sm_89", false, 2);
  auto fn = b.load(kAtomics, "histogram");
  const int n = 3000;
  std::vector<unsigned> x(n);
  for (int i = 0; i < n; ++i) x[i] = static_cast<unsigned>(i * 7 + 3);
  const DevicePtr dx = b.upload(x), dh = b.zeros(16 * 4), df = b.zeros(4);
  b.launch(fn, {6, 1, 1}, {128, 1, 1}, 0, dx, dh, df, n);
  const auto h = b.download<unsigned>(dh, 16);
  std::vector<unsigned> want(16, 0);
  for (unsigned v : x) want[v % 16]++;
  EXPECT_EQ(h, want);
  EXPECT_EQ(b.download<float>(df, 1)[0], static_cast<float>(n));  // integers below 2^24: exact
}

// One m16n8k16 bf16 mma and one m16n8k32 e4m3 mma (sm_89+) on integer-valued inputs, whose
// products and sums are exact in fp32: the result must equal the host product exactly.
constexpr const char* kFloatMma = R"(
extern "C" __global__ void mma_bf16(const unsigned* a, const unsigned* b, float* d) {
  const int lane = threadIdx.x;
  float c[4] = {0, 0, 0, 0};
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a[lane * 4]), "r"(a[lane * 4 + 1]), "r"(a[lane * 4 + 2]), "r"(a[lane * 4 + 3]),
                 "r"(b[lane * 2]), "r"(b[lane * 2 + 1]));
  for (int i = 0; i < 4; ++i) d[lane * 4 + i] = c[i];
}
extern "C" __global__ void mma_e4m3(const unsigned* a, const unsigned* b, float* d) {
  const int lane = threadIdx.x;
  float c[4] = {0, 0, 0, 0};
  asm volatile("mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a[lane * 4]), "r"(a[lane * 4 + 1]), "r"(a[lane * 4 + 2]), "r"(a[lane * 4 + 3]),
                 "r"(b[lane * 2]), "r"(b[lane * 2 + 1]));
  for (int i = 0; i < 4; ++i) d[lane * 4 + i] = c[i];
})";

// Fragment layouts of the PTX ISA (row.col): A 16xK row-major, B Kx8, D 16x8.
//   bf16 m16n8k16: a_i holds A[g + 8*(i%2)][2*t + 8*(i/2) + {0,1}]; b_i holds B[2*t + 8*i + {0,1}][g]
//   e4m3 m16n8k32: a_i holds A[g + 8*(i%2)][4*t + 16*(i/2) + {0..3}]; b_i holds B[4*t + 16*i + {0..3}][g]
//   D: d_i is D[g + 8*(i/2)][2*t + (i%2)]   (g = lane/4, t = lane%4)
TEST(SimCollectives, Bf16AndFp8MmaMatchHostProducts) {
  SimBench b("sm_89");
  for (int k : {16, 32}) {
    const bool fp8 = k == 32;
    const int per = fp8 ? 4 : 2;  // elements per 32-bit register
    std::vector<float> A(16 * k), B(k * 8);
    for (int i = 0; i < 16 * k; ++i) A[i] = static_cast<float>((i * 5) % 7) - 3.0f;
    for (int i = 0; i < k * 8; ++i) B[i] = static_cast<float>((i * 3) % 5) - 2.0f;
    auto enc = [&](float v) -> unsigned { return fp8 ? f32_to_e4m3(v, true) : f32_to_bf16(v); };
    std::vector<unsigned> a(32 * 4, 0), bb(32 * 2, 0);
    for (int lane = 0; lane < 32; ++lane) {
      const int g = lane / 4, t = lane % 4;
      for (int i = 0; i < 4; ++i) {
        for (int e = 0; e < per; ++e) {
          const int row = g + 8 * (i % 2), col = per * t + (fp8 ? 16 : 8) * (i / 2) + e;
          a[lane * 4 + i] |= enc(A[row * k + col]) << (32 / per * e);
        }
      }
      for (int i = 0; i < 2; ++i) {
        for (int e = 0; e < per; ++e) {
          const int row = per * t + (fp8 ? 16 : 8) * i + e;
          bb[lane * 2 + i] |= enc(B[row * 8 + g]) << (32 / per * e);
        }
      }
    }
    auto fn = b.load(kFloatMma, fp8 ? "mma_e4m3" : "mma_bf16");
    const DevicePtr da = b.upload(a), db = b.upload(bb), dd = b.zeros(32 * 4 * 4);
    b.launch(fn, {1, 1, 1}, {32, 1, 1}, 0, da, db, dd);
    const auto d = b.download<float>(dd, 32 * 4);
    for (int lane = 0; lane < 32; ++lane) {
      const int g = lane / 4, t = lane % 4;
      for (int i = 0; i < 4; ++i) {
        const int row = g + 8 * (i / 2), col = 2 * t + (i % 2);
        float want = 0;
        for (int kk = 0; kk < k; ++kk) want += A[row * k + kk] * B[kk * 8 + col];
        EXPECT_EQ(d[lane * 4 + i], want) << (fp8 ? "e4m3" : "bf16") << " row " << row << " col " << col;
      }
    }
  }
}

TEST(SimMemcheck, MisalignedVectorLoadIsCaught) {
  SimBench b;
  auto fn = b.load(R"(extern "C" __global__ void mis(const char* p, float* out) {
    const float4 v = *reinterpret_cast<const float4*>(p + 4);
    out[threadIdx.x] = v.x + v.y + v.z + v.w;
  })", "mis");
  const DevicePtr p = b.zeros(64), out = b.zeros(4 * 32);
  std::string e;
  try {
    b.launch(fn, {1, 1, 1}, {1, 1, 1}, 0, p, out);
  } catch (const Error& err) {
    e = err.what();
  }
  EXPECT_NE(e.find("misaligned 16-byte load"), std::string::npos) << e;
}

TEST(SimMemcheck, LocalArraysWorkAndTheirBoundsAreChecked) {
  SimBench b;
  auto fn = b.load(R"(extern "C" __global__ void loc(const int* idx, int* out) {
    int a[16];
    for (int i = 0; i < 16; ++i) a[i] = i * i + threadIdx.x;
    out[threadIdx.x] = a[idx[threadIdx.x]];
  })", "loc");
  std::vector<int> idx(32);
  for (int i = 0; i < 32; ++i) idx[i] = (i * 5) % 16;
  const DevicePtr di = b.upload(idx), dout = b.zeros(32 * 4);
  b.launch(fn, {1, 1, 1}, {32, 1, 1}, 0, di, dout);
  const auto out = b.download<int>(dout, 32);
  for (int i = 0; i < 32; ++i) EXPECT_EQ(out[i], idx[i] * idx[i] + i);
  idx[3] = 40;  // past the 16-element frame
  const DevicePtr bad = b.upload(idx);
  std::string e;
  try {
    b.launch(fn, {1, 1, 1}, {32, 1, 1}, 0, bad, dout);
  } catch (const Error& err) {
    e = err.what();
  }
  EXPECT_NE(e.find("out-of-bounds local load"), std::string::npos) << e;
  EXPECT_NE(e.find("thread (3, 0, 0)"), std::string::npos) << e;
}

TEST(SimCounters, StridedLoadsLoseGlobalEfficiency) {
  SimBench b;
  auto fn = b.load(R"(extern "C" __global__ void gather(const float* x, float* y, int stride) {
    y[threadIdx.x] = x[threadIdx.x * stride];
  })", "gather");
  const DevicePtr x = b.zeros(32 * 8 * 4), y = b.zeros(32 * 4);
  const auto dense = b.launch(fn, {1, 1, 1}, {32, 1, 1}, 0, x, y, 1);
  const auto strided = b.launch(fn, {1, 1, 1}, {32, 1, 1}, 0, x, y, 8);
  EXPECT_DOUBLE_EQ(dense.global_load_efficiency(), 1.0);
  EXPECT_DOUBLE_EQ(strided.global_load_efficiency(), 4.0 / 32.0);  // one float used per 32-byte sector
  EXPECT_EQ(strided.global_load_sectors, 32u);
}

}  // namespace
}  // namespace qjit

namespace qjit {
namespace {

constexpr const char* kNamedBarrier = R"(
extern "C" __global__ void producer_consumer(int* out, int arrive) {
  __shared__ int buf[32];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (warp == 0) {
    buf[lane] = lane * 3;
    if (arrive) asm volatile("bar.arrive 1, 64;" ::: "memory");
  } else {
    asm volatile("bar.sync 1, 64;" ::: "memory");
    out[lane] = buf[31 - lane];
  }
})";

TEST(SimBarriers, NamedBarrierWithArriveOrdersProducerAndConsumer) {
  test::SimBench b("sm_89", /*race_check=*/true);
  auto fn = b.load(kNamedBarrier, "producer_consumer");
  const DevicePtr d = b.zeros(32 * 4);
  b.launch(fn, {1, 1, 1}, {64, 1, 1}, 0, d, 1);
  const auto out = b.download<int>(d, 32);
  for (int i = 0; i < 32; ++i) EXPECT_EQ(out[i], (31 - i) * 3);
  // Without the producer's arrive the consumer waits forever: a deadlock, named.
  std::string e;
  try {
    b.launch(fn, {1, 1, 1}, {64, 1, 1}, 0, d, 0);
  } catch (const Error& err) {
    e = err.what();
  }
  EXPECT_NE(e.find("deadlock"), std::string::npos) << e;
}

}  // namespace
}  // namespace qjit
