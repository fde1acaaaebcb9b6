// The cpu device's attention kernel (templates/host/attention.h) through the op
// (runtime/ops/attention.hpp): against the float64 ideal within the bound derived for tiled
// online-softmax kernels (tests/runtime/attention_sim_test.cpp; this kernel's key tiles are 64,
// its exp within 2^-22, its P kept in f32), and against the cpu:ref reference within 4x that
// bound; head dims 64 and 128, key and query tails, several key tiles, cross-attention shapes,
// batch and heads, bf16 in and every output dtype, on the AVX-512 path and the portable one.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <vector>

#include <fmt/format.h>

#include "tests/support/host_isa.hpp"
#include "jit/host_compiler.hpp"
#include "jit/impls/host_qgemm.hpp"
#include "runtime/ops/attention.hpp"
#include "tests/runtime/attention_ideal.hpp"

namespace qjit {
namespace {

using HostAttention = test::HostIsaTest;
using test::IsaScope;

struct Case {
  std::int64_t b, sq, skv, heads, dh;
  DType out;
};

TEST_P(HostAttention, MatchesIdealAndReference) {
  IsaScope isa(GetParam());
  for (const Case& c : {Case{1, 1, 1, 1, 64, DType::kBF16}, Case{2, 5, 37, 2, 128, DType::kF32},
                        Case{1, 17, 130, 3, 64, DType::kF16}, Case{1, 40, 200, 2, 128, DType::kBF16},
                        Case{2, 33, 16, 1, 128, DType::kF32}}) {
    SCOPED_TRACE(fmt::format("B={} Sq={} Skv={} H={} Dh={} -> {}", c.b, c.sq, c.skv, c.heads, c.dh, dtype_name(c.out)));
    const std::int64_t w = c.heads * c.dh;
    const Tensor q = test::attention_input(c.b, c.sq, w, DType::kBF16, 1, 2.0f);
    const Tensor k = test::attention_input(c.b, c.skv, w, DType::kBF16, 2, 2.0f);
    const Tensor v = test::attention_input(c.b, c.skv, w, DType::kBF16, 3, 1.0f);
    AttentionOptions opt;
    opt.out_dtype = c.out;
    const Tensor o = attention(q, k, v, c.heads, opt);
    ASSERT_EQ(o.shape(), (std::vector<std::int64_t>{c.b, c.sq, w}));
    ASSERT_EQ(o.dtype(), c.out);
    const std::vector<float> got = o.to_f32_vector();
    const std::vector<float> ref =
        attention(q.to(Device::cpu_ref()), k.to(Device::cpu_ref()), v.to(Device::cpu_ref()), c.heads, opt).to_f32_vector();
    const double scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(c.dh)));
    const test::Ideal id = test::ideal(q, k, v, c.heads, scale);
    const double bound = test::attention_device_bound(id, {c.skv, c.heads, c.dh, DType::kBF16, c.out}, scale);
    std::vector<float> ideal_f(id.o.begin(), id.o.end());
    EXPECT_LE(test::nmse(got, ideal_f, id.o), bound) << "vs the float64 ideal";
    EXPECT_LE(test::nmse(got, ref, id.o), 4 * bound) << "vs the fp32 reference";
    if (c.skv > 64) {
      // The bound sees a lost key tile: the ideal without the first 64 keys is outside it.
      const test::Ideal tail = test::ideal(q, k.narrow(1, 64, c.skv - 64), v.narrow(1, 64, c.skv - 64), c.heads, scale);
      EXPECT_GT(test::nmse(std::vector<float>(tail.o.begin(), tail.o.end()), ideal_f, id.o), 4 * bound);
    }
  }
}

// A NaN in q makes its row's outputs NaN (the reference's max is NaN); other rows are finite.
TEST_P(HostAttention, NanQueryRowIsNan) {
  IsaScope isa(GetParam());
  std::vector<float> qv = test::attention_values(3 * 64, 4, 1.0f);
  qv[64 + 5] = std::numeric_limits<float>::quiet_NaN();
  const Tensor q = Tensor::from_vector<float>({1, 3, 64}, qv).to_dtype(DType::kBF16);
  const Tensor kv = test::attention_input(1, 20, 64, DType::kBF16, 5, 1.0f);
  const std::vector<float> o = attention(q, kv, kv, 1).to_f32_vector();
  for (std::int64_t i = 0; i < 3; ++i) {
    for (std::int64_t d = 0; d < 64; ++d) EXPECT_EQ(std::isnan(o[static_cast<size_t>(i * 64 + d)]), i == 1) << i << "," << d;
  }
}

INSTANTIATE_TEST_SUITE_P(Isa, HostAttention, ::testing::Values("amx", "avx512_vnni", "avx2", "generic"),
                         test::isa_test_name);

}  // namespace
}  // namespace qjit
