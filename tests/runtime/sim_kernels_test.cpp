// Real NVRTC output executed on the sim device and checked against host results: the
// elementwise, shuffle-reduction, transpose and mma.sync + cp.async kernels of issue 3,
// plus deliberately broken kernels that the sim must catch.

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <random>

#include "common/error.hpp"
#include "sim_test_util.hpp"
#include "tests/support/checks.hpp"

namespace qjit {
namespace {

using test::error_of;
using test::SimBench;

constexpr const char* kSaxpy = R"(
extern "C" __global__ void saxpy(float a, const float* x, float* y, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = a * x[i] + y[i];
})";

TEST(SimKernels, ElementwiseMatchesHost) {
  SimBench b;
  auto fn = b.load(kSaxpy, "saxpy");
  const int n = 1000;
  std::vector<float> x(n), y(n);
  for (int i = 0; i < n; ++i) x[i] = 0.5f * i - 3.0f, y[i] = 1.0f / (i + 1);
  const DevicePtr dx = b.upload(x), dy = b.upload(y);
  b.launch(fn, {(n + 127) / 128, 1, 1}, {128, 1, 1}, 0, 2.5f, dx, dy, n);
  const auto got = b.download<float>(dy, n);
  for (int i = 0; i < n; ++i) EXPECT_EQ(got[i], std::fma(2.5f, x[i], y[i])) << i;  // NVRTC contracts to fma.rn
}

constexpr const char* kReduce = R"(
extern "C" __global__ void block_sum(const int* x, int* out, int n) {
  __shared__ int warp_sums[32];
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  int v = i < n ? x[i] : 0;
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  if (threadIdx.x % 32 == 0) warp_sums[threadIdx.x / 32] = v;
  __syncthreads();
  if (threadIdx.x < 32) {
    int s = threadIdx.x < blockDim.x / 32 ? warp_sums[threadIdx.x] : 0;
    for (int o = 16; o > 0; o >>= 1) s += __shfl_down_sync(0xffffffffu, s, o);
    if (threadIdx.x == 0) atomicAdd(out, s);
  }
})";

TEST(SimKernels, ShuffleReductionMatchesHostOnAnyHostThreadCount) {
  const int n = 5000;
  std::vector<int> x(n);
  std::mt19937 rng(7);
  for (auto& v : x) v = static_cast<int>(rng() % 2001) - 1000;
  const long long want = std::accumulate(x.begin(), x.end(), 0ll);
  sim::SimCounters first;
  for (int threads : {1, 2}) {
    SimBench b("sm_89", false, threads);
    auto fn = b.load(kReduce, "block_sum");
    const DevicePtr dx = b.upload(x), dout = b.zeros(4);
    const auto c = b.launch(fn, {(n + 255) / 256, 1, 1}, {256, 1, 1}, 0, dx, dout, n);
    EXPECT_EQ(b.download<int>(dout, 1)[0], want) << threads << " host threads";
    if (threads == 1) first = c;
    else EXPECT_EQ(c.thread_instructions, first.thread_instructions);
    EXPECT_GT(c.collectives + c.alu, 0u);
    EXPECT_EQ(c.barriers, static_cast<std::uint64_t>((n + 255) / 256) * 8);  // one per warp per block
  }
}

constexpr const char* kTranspose = R"(
template <int kPad>
__device__ void transpose_tile(const float* in, float* out, int n) {
  __shared__ float tile[32][32 + kPad];
  int x = blockIdx.x * 32 + threadIdx.x, y = blockIdx.y * 32 + threadIdx.y;
  for (int j = 0; j < 32; j += 8) tile[threadIdx.y + j][threadIdx.x] = in[(y + j) * n + x];
  __syncthreads();
  x = blockIdx.y * 32 + threadIdx.x;
  y = blockIdx.x * 32 + threadIdx.y;
  for (int j = 0; j < 32; j += 8) out[(y + j) * n + x] = tile[threadIdx.x][threadIdx.y + j];
}
extern "C" __global__ void transpose_conflicts(const float* in, float* out, int n) { transpose_tile<0>(in, out, n); }
extern "C" __global__ void transpose_padded(const float* in, float* out, int n) { transpose_tile<1>(in, out, n); }
)";

TEST(SimKernels, TransposeCountersShowTheBankConflicts) {
  SimBench b;
  const int n = 64;
  std::vector<float> in(n * n);
  for (int i = 0; i < n * n; ++i) in[i] = static_cast<float>(i);
  const DevicePtr din = b.upload(in);
  sim::SimCounters counters[2];
  const char* names[] = {"transpose_conflicts", "transpose_padded"};
  for (int k = 0; k < 2; ++k) {
    auto fn = b.load(kTranspose, names[k]);
    const DevicePtr dout = b.zeros(n * n * 4);
    counters[k] = b.launch(fn, {n / 32, n / 32, 1}, {32, 8, 1}, 0, din, dout, n);
    const auto out = b.download<float>(dout, n * n);
    for (int r = 0; r < n; ++r) {
      for (int c = 0; c < n; ++c) ASSERT_EQ(out[r * n + c], in[c * n + r]) << names[k];
    }
    // Global accesses of a 32-wide row are fully coalesced either way.
    EXPECT_DOUBLE_EQ(counters[k].global_load_efficiency(), 1.0);
  }
  // Column reads of a 32x32 float tile hit one bank 32 times: 31 extra wavefronts per read.
  EXPECT_EQ(counters[0].bank_conflicts(), counters[0].shared_loads * 31);
  EXPECT_EQ(counters[1].bank_conflicts(), 0u);
  EXPECT_EQ(counters[0].shared_loads, counters[1].shared_loads);
}

// One warp computes C[16x8] = A[16xK] * B[8xK]^T with int8 mma.sync, staging K-tiles of 32
// through a two-stage cp.async pipeline and loading fragments with ldmatrix.
constexpr const char* kMmaGemm = R"(
__device__ unsigned smem_addr(const void* p) {
  unsigned r;
  asm("{ .reg .u64 a; cvta.to.shared.u64 a, %1; cvt.u32.u64 %0, a; }" : "=r"(r) : "l"(p));
  return r;
}
__device__ void cp_async16(void* dst, const void* src) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" :: "r"(smem_addr(dst)), "l"(src));
}
template <int kWait>
__device__ void gemm(const signed char* a, const signed char* b, int* c, int k) {
  __shared__ __align__(128) signed char sa[2][16][32];
  __shared__ __align__(128) signed char sb[2][8][32];
  const int lane = threadIdx.x;
  const int tiles = k / 32;
  auto issue = [&](int t, int s) {
    cp_async16(&sa[s][lane / 2][(lane % 2) * 16], a + (lane / 2) * k + t * 32 + (lane % 2) * 16);
    if (lane < 16) cp_async16(&sb[s][lane / 2][(lane % 2) * 16], b + (lane / 2) * k + t * 32 + (lane % 2) * 16);
    asm volatile("cp.async.commit_group;");
  };
  int acc[4] = {0, 0, 0, 0};
  issue(0, 0);
  for (int t = 0; t < tiles; ++t) {
    const int s = t % 2;
    if (t + 1 < tiles) {
      issue(t + 1, (t + 1) % 2);
      asm volatile("cp.async.wait_group %0;" :: "n"(kWait));
    } else {
      asm volatile("cp.async.wait_group 0;");
    }
    __syncwarp();
    unsigned a0, a1, a2, a3, b0, b1;
    const int ar = (lane % 8) + 8 * ((lane / 8) % 2), ac = 16 * (lane / 16);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];"
                 : "=r"(a0), "=r"(a1), "=r"(a2), "=r"(a3) : "r"(smem_addr(&sa[s][ar][ac])));
    const int br = lane % 8, bc = 16 * ((lane / 8) % 2);
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0, %1}, [%2];"
                 : "=r"(b0), "=r"(b1) : "r"(smem_addr(&sb[s][br][bc])));
    asm volatile("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
                 "{%0, %1, %2, %3};"
                 : "+r"(acc[0]), "+r"(acc[1]), "+r"(acc[2]), "+r"(acc[3])
                 : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
    __syncwarp();
  }
  const int row = lane / 4, col = (lane % 4) * 2;
  c[row * 8 + col] = acc[0];
  c[row * 8 + col + 1] = acc[1];
  c[(row + 8) * 8 + col] = acc[2];
  c[(row + 8) * 8 + col + 1] = acc[3];
}
extern "C" __global__ void mma_gemm(const signed char* a, const signed char* b, int* c, int k) { gemm<1>(a, b, c, k); }
extern "C" __global__ void mma_gemm_wrong_wait(const signed char* a, const signed char* b, int* c, int k) {
  gemm<2>(a, b, c, k);
}
)";

TEST(SimKernels, MmaGemmWithCpAsyncPipelineMatchesHost) {
  for (const char* arch : {"sm_80", "sm_89", "sm_90"}) {
    SCOPED_TRACE(arch);
    SimBench b(arch);
    const std::string compute = std::string("compute_") + (arch + 3);
    auto fn = b.load(kMmaGemm, "mma_gemm", compute);
    const int k = 128;
    std::vector<signed char> a(16 * k), bt(8 * k);
    std::mt19937 rng(3);
    for (auto& v : a) v = static_cast<signed char>(static_cast<int>(rng() % 255) - 127);
    for (auto& v : bt) v = static_cast<signed char>(static_cast<int>(rng() % 255) - 127);
    const DevicePtr da = b.upload(a), db = b.upload(bt), dc = b.zeros(16 * 8 * 4);
    const auto counters = b.launch(fn, {1, 1, 1}, {32, 1, 1}, 0, da, db, dc, k);
    const auto c = b.download<int>(dc, 16 * 8);
    for (int i = 0; i < 16; ++i) {
      for (int j = 0; j < 8; ++j) {
        int want = 0;
        for (int kk = 0; kk < k; ++kk) want += a[i * k + kk] * bt[j * k + kk];
        ASSERT_EQ(c[i * 8 + j], want) << i << "," << j;
      }
    }
    EXPECT_EQ(counters.mma, static_cast<std::uint64_t>(k / 32));
    EXPECT_EQ(counters.ldmatrix, static_cast<std::uint64_t>(2 * k / 32));
    EXPECT_EQ(counters.cp_async, static_cast<std::uint64_t>(2 * k / 32));
  }
}

TEST(SimBroken, WrongCpAsyncWaitGroupIsCaught) {
  SimBench b;
  auto fn = b.load(kMmaGemm, "mma_gemm_wrong_wait");
  const int k = 128;
  const DevicePtr da = b.zeros(16 * k), db = b.zeros(8 * k), dc = b.zeros(16 * 8 * 4);
  const auto e = error_of([&] { b.launch(fn, {1, 1, 1}, {32, 1, 1}, 0, da, db, dc, k); });
  EXPECT_NE(e.find("unwaited cp.async"), std::string::npos) << e;
  EXPECT_NE(e.find("mma_gemm_wrong_wait"), std::string::npos) << e;
  EXPECT_NE(e.find("PTX line"), std::string::npos) << e;
}

TEST(SimBroken, OutOfBoundsStoreIsCaught) {
  SimBench b;
  auto fn = b.load(R"(extern "C" __global__ void oob(float* y, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i <= n) y[i] = 1.0f;  // off by one
  })", "oob");
  const DevicePtr dy = b.zeros(100 * 4);
  const auto e = error_of([&] { b.launch(fn, {1, 1, 1}, {128, 1, 1}, 0, dy, 100); });
  EXPECT_NE(e.find("out-of-bounds global store"), std::string::npos) << e;
  EXPECT_NE(e.find("0 bytes past the end of the 400-byte allocation"), std::string::npos) << e;
  EXPECT_NE(e.find("thread (100, 0, 0)"), std::string::npos) << e;
  EXPECT_NE(e.find("block (0, 0, 0)"), std::string::npos) << e;
}

TEST(SimBroken, MissingBarrierIsARaceWhenRaceCheckingIsOn) {
  const char* src = R"(extern "C" __global__ void racy(int* out) {
    __shared__ int s[64];
    s[threadIdx.x] = 0;
    __syncthreads();
    s[threadIdx.x] = threadIdx.x;
    // missing __syncthreads(): warp 0 reads what warp 1 is about to overwrite
    out[threadIdx.x] = s[63 - threadIdx.x];
  })";
  {
    SimBench b("sm_89", /*race_check=*/true);
    auto fn = b.load(src, "racy");
    const DevicePtr d = b.zeros(64 * 4);
    const auto e = error_of([&] { b.launch(fn, {1, 1, 1}, {64, 1, 1}, 0, d); });
    EXPECT_NE(e.find("shared-memory race"), std::string::npos) << e;
    EXPECT_NE(e.find("racy"), std::string::npos) << e;
  }
  {
    // Without race checking the kernel runs, and warp 0 sees stale zeros.
    SimBench b("sm_89", /*race_check=*/false);
    auto fn = b.load(src, "racy");
    const DevicePtr d = b.zeros(64 * 4);
    b.launch(fn, {1, 1, 1}, {64, 1, 1}, 0, d);
    EXPECT_EQ(b.download<int>(d, 64)[0], 0);
  }
}

TEST(SimBroken, ShuffleByHalfAWarpIsCaught) {
  SimBench b;
  auto fn = b.load(R"(extern "C" __global__ void half(int* out) {
    int v = threadIdx.x;
    if (threadIdx.x < 16) v = __shfl_xor_sync(0xffffffffu, v, 1);
    out[threadIdx.x] = v;
  })", "half");
  const DevicePtr d = b.zeros(32 * 4);
  const auto e = error_of([&] { b.launch(fn, {1, 1, 1}, {32, 1, 1}, 0, d); });
  EXPECT_NE(e.find("half"), std::string::npos) << e;
  EXPECT_NE(e.find("warp 0"), std::string::npos) << e;
  EXPECT_NE(e.find("shfl.sync"), std::string::npos) << e;
}

constexpr const char* kDynamicSmem = R"(
extern "C" __global__ void dyn(float* out) {
  extern __shared__ float buf[];
  buf[threadIdx.x] = threadIdx.x;
  __syncthreads();
  out[threadIdx.x] = buf[(threadIdx.x + 1) % blockDim.x];
})";

TEST(SimDevice, RefusesWhatARealDeviceRefuses) {
  SimBench b("sm_89");
  auto fn = b.load(kDynamicSmem, "dyn");
  const DevicePtr d = b.zeros(1024 * 4);
  auto launch = [&](unsigned threads, unsigned smem) {
    return error_of([&] { b.launch(fn, {1, 1, 1}, {threads, 1, 1}, smem, d); });
  };
  EXPECT_EQ(launch(256, 1024), "");
  const auto out = b.download<float>(d, 256);
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[255], 0.0f);
  EXPECT_NE(launch(256, 64 * 1024).find("has not opted in"), std::string::npos);
  b.driver->set_attribute(fn, FuncAttr::kMaxDynamicSharedBytes, 64 * 1024);
  EXPECT_EQ(launch(256, 64 * 1024), "");
  EXPECT_THROW(b.driver->set_attribute(fn, FuncAttr::kMaxDynamicSharedBytes, 100 * 1024), Error);  // > 99 KB opt-in
  EXPECT_NE(launch(2048, 0).find("2048 threads"), std::string::npos);
  // A module built for sm_90 does not load on an sm_89 device.
  const auto e = error_of([&] { b.driver->load_module({test::nvrtc_ptx(kDynamicSmem, "compute_90"), "", "", "dyn90"}); });
  EXPECT_NE(e.find("newer arch"), std::string::npos) << e;
}

TEST(SimDevice, UnsupportedInstructionIsALoadTimeError) {
  SimBench b;
  const std::string ptx = R"(.version 8.0
.target sm_89
.address_size 64
.visible .entry k(.param .u64 p)
{
  .reg .b32 %r<2>;
  mov.u32 %r0, 1;
  bogus.op.u32 %r1, %r0;
  ret;
}
)";
  const auto e = error_of([&] { b.driver->load_module({ptx, "", "", "bogus"}); });
  EXPECT_NE(e.find("bogus"), std::string::npos) << e;
  EXPECT_NE(e.find("line 8"), std::string::npos) << e;
}

}  // namespace
}  // namespace qjit
