// The elementwise kernel (templates/impls/elementwise.cuh) on the sim device against the
// reference (runtime/ops/elementwise_reference.hpp), bit for bit: SiLU (the sim's ex2.approx
// is the reference's exp2_f32), the gated residual with gates [B, D], [B, 1, D] and [D], and
// the broadcast add; f32 / f16 / bf16 in and out, odd and one-element shapes, B = 1 and 2,
// special values, strided inputs, empty tensors.

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include <fmt/format.h>

#include "jit/compiler.hpp"
#include "jit/impls/elementwise.hpp"
#include "jit/source_gen.hpp"
#include "runtime/ops/elementwise.hpp"
#include "tests/support/checks.hpp"
#include "tests/support/wave_data.hpp"
#include "tests/support/compile_checks.hpp"
#include "tests/support/sim_devices.hpp"

namespace qjit {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

std::vector<float> data(std::int64_t n, float amp, unsigned seed) { return test::wave(n, seed, 0.917f, amp); }

Tensor on_sim(const Tensor& t) { return t.to(Device::sim(), test::sim_device("sm_90")); }

void expect_same(const Tensor& got, const Tensor& want, const std::string& what) {
  EXPECT_EQ(got.device(), Device::sim()) << what;
  EXPECT_EQ(got.dtype(), want.dtype()) << what;
  EXPECT_EQ(got.shape(), want.shape()) << what;
  test::expect_same_bits(got.to_f32_vector(), want.to_f32_vector(), what);
}

TEST(ElementwiseSim, SiluBitIdenticalToReference) {
  struct Case {
    std::vector<std::int64_t> shape;
    DType in, out;
  };
  const Case cases[] = {{{1}, DType::kF32, DType::kF32},          {{7, 33}, DType::kBF16, DType::kBF16},
                        {{2, 5, 48}, DType::kF16, DType::kF16},   {{7, 33}, DType::kF32, DType::kBF16},
                        {{2, 5, 48}, DType::kBF16, DType::kF32},  {{1}, DType::kF16, DType::kF32},
                        {{2, 5, 48}, DType::kF32, DType::kF16}};
  for (const Case& c : cases) {
    std::int64_t n = 1;
    for (auto s : c.shape) n *= s;
    std::vector<float> v = data(n, 30.0f, 1);
    // Specials where there is room: overflow of 2^t (x < -88.7), infinities, NaN, zeros,
    // subnormals.
    const float specials[] = {-100.0f, kInf, -kInf, std::nanf(""), -0.0f, 1e-40f, -89.0f, 88.0f};
    for (std::size_t i = 0; i < std::size(specials) && i + 1 < v.size(); ++i) v[i + 1] = specials[i];
    const std::string what = fmt::format("silu {} {} -> {}", n, dtype_name(c.in), dtype_name(c.out));
    const Tensor host = Tensor::from_vector<float>(c.shape, v, c.in);
    expect_same(silu(on_sim(host), c.out), silu(host, c.out), what);
  }
}

TEST(ElementwiseSim, GatedResidualBitIdenticalToReference) {
  struct Case {
    std::int64_t b, s, d;
    int gate_rank;  // 2: [B, D], 3: [B, 1, D], 1: [D]
    DType x, y, g, out;
  };
  // Wan: x f32 (residual stream), y the block output (bf16 or f32), gate f32.
  const Case cases[] = {{2, 7, 48, 2, DType::kF32, DType::kBF16, DType::kF32, DType::kF32},
                        {2, 5, 33, 3, DType::kF32, DType::kF32, DType::kF32, DType::kF32},
                        {1, 9, 17, 1, DType::kBF16, DType::kBF16, DType::kBF16, DType::kBF16},
                        {1, 1, 1, 2, DType::kF16, DType::kF32, DType::kF16, DType::kF16},
                        {2, 3, 16, 1, DType::kF32, DType::kF16, DType::kBF16, DType::kBF16}};
  for (const Case& c : cases) {
    const std::string what = fmt::format("gated_residual [{}, {}, {}] gate rank {} {} {} {} -> {}", c.b, c.s, c.d,
                                         c.gate_rank, dtype_name(c.x), dtype_name(c.y), dtype_name(c.g),
                                         dtype_name(c.out));
    const std::int64_t n = c.b * c.s * c.d;
    const Tensor x = Tensor::from_vector<float>({c.b, c.s, c.d}, data(n, 4.0f, 2), c.x);
    const Tensor y = Tensor::from_vector<float>({c.b, c.s, c.d}, data(n, 2.0f, 3), c.y);
    const std::vector<std::int64_t> gshape = c.gate_rank == 2   ? std::vector<std::int64_t>{c.b, c.d}
                                             : c.gate_rank == 3 ? std::vector<std::int64_t>{c.b, 1, c.d}
                                                                : std::vector<std::int64_t>{c.d};
    const Tensor g = Tensor::from_vector<float>(gshape, data(c.gate_rank == 1 ? c.d : c.b * c.d, 1.5f, 4), c.g);
    expect_same(gated_residual(on_sim(x), on_sim(y), on_sim(g), c.out), gated_residual(x, y, g, c.out), what);
  }
}

TEST(ElementwiseSim, AddBitIdenticalToReference) {
  struct Case {
    std::vector<std::int64_t> a, b;
    DType ta, tb, out;
  };
  const Case cases[] = {{{2, 6, 16}, {6, 16}, DType::kF32, DType::kF32, DType::kF32},  // Wan: modulation + e0
                        {{2, 6, 16}, {1, 6, 16}, DType::kBF16, DType::kF32, DType::kF32},
                        {{3, 7}, {3, 7}, DType::kF16, DType::kBF16, DType::kF16},
                        {{5, 9}, {9}, DType::kBF16, DType::kBF16, DType::kBF16},
                        {{1}, {1}, DType::kF32, DType::kF16, DType::kBF16}};
  for (const Case& c : cases) {
    std::int64_t na = 1, nb = 1;
    for (auto s : c.a) na *= s;
    for (auto s : c.b) nb *= s;
    const std::string what = fmt::format("add {} + {} -> {}", na, nb, dtype_name(c.out));
    std::vector<float> av = data(na, 3.0f, 5);
    av[0] = kInf;  // + finite: Inf; the NaN of Inf - Inf is not exercised
    const Tensor a = Tensor::from_vector<float>(c.a, av, c.ta);
    const Tensor b = Tensor::from_vector<float>(c.b, data(nb, 70000.0f, 6), c.tb);  // f16 overflow on output
    expect_same(add(on_sim(a), on_sim(b), c.out), add(a, b, c.out), what);
  }
}

// Non-contiguous inputs are copied first; empty tensors launch nothing; the sm_80 sim agrees.
TEST(ElementwiseSim, StridedEmptyAndSm80) {
  const Tensor m = Tensor::from_vector<float>({4, 6}, data(24, 20.0f, 7), DType::kBF16);
  const Tensor t = on_sim(m).transpose(0, 1);
  ASSERT_FALSE(t.is_contiguous());
  expect_same(silu(t), silu(m.transpose(0, 1).contiguous()), "silu of a transposed view");
  expect_same(add(t, t.select(0, 2)), add(m.transpose(0, 1).contiguous(), m.transpose(0, 1).select(0, 2).contiguous()),
              "add of views");
  const Tensor sm80 = m.to(Device::sim(), test::sim_device("sm_80"));
  EXPECT_TRUE(test::same_bits(silu(sm80), silu(m)));
  const Tensor empty = on_sim(Tensor::zeros({2, 0, 8}, DType::kF32));
  EXPECT_EQ(silu(empty).numel(), 0);
  EXPECT_EQ(gated_residual(empty, empty, on_sim(Tensor::zeros({2, 8}, DType::kF32))).shape(),
            (std::vector<std::int64_t>{2, 0, 8}));
  EXPECT_EQ(add(empty, on_sim(Tensor::zeros({8}, DType::kF32))).numel(), 0);
  // Operands on another device are refused, naming both.
  test::expect_error([&] { add(t, m.transpose(0, 1)); },
                     {"b Tensor(shape=[6, 4]", "device=cpu", "is not on the device of a"});
  test::expect_error([&] { gated_residual(empty, empty, Tensor::zeros({2, 8}, DType::kF32)); },
                     {"gate", "is not on the device of x"});
}

// Every op compiles for sm_80, sm_89 and sm_90 (cubins, ptxas) with no spills and no stack.
TEST(ElementwiseSim, CompilesWithoutSpills) {
  using jit::impls::ElementwiseOp;
  for (const char* arch : {"sm_80", "sm_89", "sm_90"}) {
    for (ElementwiseOp op : {ElementwiseOp::kSilu, ElementwiseOp::kGatedResidual, ElementwiseOp::kAdd}) {
      const jit::impls::ElementwiseDesc d{op, DType::kBF16, DType::kF32, DType::kF16, DType::kBF16};
      const jit::KernelSpec spec =
          jit::impls::elementwise_spec(d, jit::impls::elementwise_heuristic(d), jit::Arch::parse(arch));
      SCOPED_TRACE(spec.summary());
      const jit::Artifact a = jit::compile(jit::build_program(spec));
      ASSERT_EQ(a.kernels.size(), 1u);
      test::expect_no_spills(a, a.kernels[0]);
    }
  }
  // Unused operands do not vary the spec; used ones are checked.
  const jit::Arch sm90 = jit::Arch::parse("sm_90");
  EXPECT_EQ(jit::impls::elementwise_spec({ElementwiseOp::kSilu, DType::kBF16, DType::kI8, DType::kI32, DType::kF32},
                                         {}, sm90),
            jit::impls::elementwise_spec({ElementwiseOp::kSilu, DType::kBF16, DType::kF16, DType::kBF16, DType::kF32},
                                         {}, sm90));
  test::expect_error(
      [&] {
        jit::impls::elementwise_spec({ElementwiseOp::kAdd, DType::kF32, DType::kE4M3, DType::kF32, DType::kF32}, {},
                                     sm90);
      },
      {"input b dtype 'fp8_e4m3'"});
  test::expect_error(
      [&] {
        jit::impls::elementwise_spec({ElementwiseOp::kGatedResidual, DType::kF32, DType::kF32, DType::kI8, DType::kF32},
                                     {}, sm90);
      },
      {"gate", "'int8'"});
}

}  // namespace
}  // namespace qjit
