// The 3-D RoPE kernel (templates/impls/rope.cuh) on the sim device against the reference
// (runtime/ops/rope_reference.hpp), bit for bit: f32 / f16 / bf16 in and out, Dh 128 / 64 /
// 6, grids (2,3,5) and (1,1,1), padding tokens, B = 1 and 2, a strided input, an empty batch.

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include <fmt/format.h>

#include "jit/compiler.hpp"
#include "jit/impls/rope.hpp"
#include "jit/source_gen.hpp"
#include "runtime/ops/rope.hpp"
#include "tests/support/checks.hpp"
#include "tests/support/wave_data.hpp"
#include "tests/support/compile_checks.hpp"
#include "tests/support/sim_devices.hpp"

namespace qjit {
namespace {

std::vector<float> data(std::int64_t n, unsigned seed) { return test::wave(n, seed, 0.731f, 1.0f, true); }

TEST(RopeSim, BitIdenticalToReference) {
  struct Case {
    std::int64_t b, s, heads, dh;
    RopeGrid grid;
    DType in, out;
  };
  // Every dtype in and out, each Dh and grid at least once; tails: padding tokens, one token,
  // odd S, B = 1 and 2.
  const Case cases[] = {
      {2, 32, 1, 128, {2, 3, 5}, DType::kF32, DType::kF32},   {1, 31, 2, 64, {2, 3, 5}, DType::kBF16, DType::kBF16},
      {2, 3, 2, 64, {1, 1, 1}, DType::kF16, DType::kF16},     {2, 7, 3, 6, {1, 2, 3}, DType::kBF16, DType::kF32},
      {1, 30, 1, 128, {2, 3, 5}, DType::kF32, DType::kBF16},  {2, 1, 1, 128, {1, 1, 1}, DType::kF16, DType::kF32},
      {1, 33, 2, 64, {2, 3, 5}, DType::kF32, DType::kF16},
  };
  for (const Case& c : cases) {
    const std::string what = fmt::format("B={} S={} heads={} Dh={} grid=({},{},{}) {} -> {}", c.b, c.s, c.heads, c.dh,
                                         c.grid.frames, c.grid.height, c.grid.width, dtype_name(c.in),
                                         dtype_name(c.out));
    SCOPED_TRACE(what);
    const Tensor host = Tensor::from_vector<float>({c.b, c.s, c.heads * c.dh}, data(c.b * c.s * c.heads * c.dh, 2),
                                                   c.in);
    const Tensor want = rope_3d(host, c.heads, c.grid, c.out);
    const Tensor got = rope_3d(host.to(Device::sim(), test::sim_device("sm_90")), c.heads, c.grid, c.out);
    EXPECT_EQ(got.device(), Device::sim());
    EXPECT_EQ(got.dtype(), c.out);
    test::expect_same_bits(got.to_f32_vector(), want.to_f32_vector(), what);
  }
}

// Non-finite values rotate as the formula says (NaN spreads to both halves of its pair).
TEST(RopeSim, NonFiniteValues) {
  std::vector<float> v = data(2 * 6 * 16, 4);
  v[16 + 3] = std::numeric_limits<float>::quiet_NaN();
  v[32 + 4] = std::numeric_limits<float>::infinity();
  v[5 * 16] = -std::numeric_limits<float>::infinity();  // token 5: padding, copied
  const Tensor host = Tensor::from_vector<float>({2, 6, 16}, v);
  const Tensor want = rope_3d(host, 2, RopeGrid{1, 1, 5});
  const Tensor got = rope_3d(host.to(Device::sim(), test::sim_device("sm_90")), 2, RopeGrid{1, 1, 5});
  test::expect_same_bits(got.to_f32_vector(), want.to_f32_vector(), "non-finite");
}

// A strided input (a column slice) is copied to a contiguous one first; an empty batch
// launches nothing; the sm_80 sim gives the same bits.
TEST(RopeSim, StridedEmptyAndSm80) {
  const Tensor wide = Tensor::from_vector<float>({2, 5, 48}, data(2 * 5 * 48, 6), DType::kBF16);
  const Tensor want = rope_3d(wide.narrow(2, 24, 24).contiguous(), 2, RopeGrid{1, 2, 2});
  const Tensor dev = wide.to(Device::sim(), test::sim_device("sm_90")).narrow(2, 24, 24);
  ASSERT_FALSE(dev.is_contiguous());
  EXPECT_TRUE(test::same_bits(rope_3d(dev, 2, RopeGrid{1, 2, 2}), want));
  EXPECT_TRUE(test::same_bits(rope_3d(wide.to(Device::sim(), test::sim_device("sm_80")).narrow(2, 24, 24), 2,
                                      RopeGrid{1, 2, 2}),
                              want));
  const Tensor empty = Tensor::zeros({0, 4, 8}, DType::kF32).to(Device::sim(), test::sim_device("sm_90"));
  EXPECT_EQ(rope_3d(empty, 1, RopeGrid{2, 2, 1}).shape(), (std::vector<std::int64_t>{0, 4, 8}));
}

// The kernel compiles for sm_80, sm_89 and sm_90 (cubins, ptxas) with no spills and no stack,
// for the widest (f32) and a 16-bit input.
TEST(RopeSim, CompilesWithoutSpills) {
  for (const char* arch : {"sm_80", "sm_89", "sm_90"}) {
    for (const DType dtype : {DType::kF32, DType::kBF16}) {
      const jit::impls::RopeDesc d{dtype, dtype};
      const jit::KernelSpec spec = jit::impls::rope_spec(d, jit::impls::rope_heuristic(d), jit::Arch::parse(arch));
      SCOPED_TRACE(spec.summary());
      const jit::Artifact a = jit::compile(jit::build_program(spec));
      ASSERT_EQ(a.kernels.size(), 1u);
      test::expect_no_spills(a, a.kernels[0]);
    }
  }
  test::expect_error([] { jit::impls::rope_spec({DType::kF32, DType::kI8}, {}, jit::Arch::parse("sm_90")); },
                     {"rope: output dtype 'int8'"});
  test::expect_error([] { jit::impls::rope_spec({DType::kF32, DType::kF32}, {100}, jit::Arch::parse("sm_90")); },
                     {"threads 100"});
}

}  // namespace
}  // namespace qjit
