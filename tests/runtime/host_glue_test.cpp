// The cpu device's glue kernels (templates/host/elementwise.h, norm_mod.h, rope.h) through the
// ops against cpu:ref's reference, bit for bit, on each ISA: SiLU (specials included), the
// gated residual with gates [B, D], [B, 1, D] and [D], the broadcast add (a suffix and the full
// shape), over several grid blocks and with tails; LayerNorm with and without affine and
// RMSNorm, shift / scale per batch and shared, D around the 32 summing lanes and Wan's 1536,
// strided rows, NaN / Inf rows, Wan's [B, S, D] rows with [B, D] modulation; 3-D RoPE with
// padding tokens, Wan's head dim, odd groups and empty ones (head dim 2); f32 / f16 / bf16 in
// and out; a strided operand; a call site's memo keeping one plan per ISA. NaNs compare as
// NaNs (their payloads are not part of the contract: host/elementwise.h).

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include <fmt/format.h>

#include "runtime/ops/elementwise.hpp"
#include "runtime/ops/norm_mod.hpp"
#include "runtime/ops/rope.hpp"
#include "tests/support/checks.hpp"
#include "tests/support/host_isa.hpp"
#include "tests/support/wave_data.hpp"

namespace qjit {
namespace {

using HostGlue = test::HostIsaTest;
using test::IsaScope;

constexpr float kInf = std::numeric_limits<float>::infinity();

std::vector<float> data(std::int64_t n, float amp, unsigned seed) { return test::wave(n, seed, 0.917f, amp); }

Tensor on_ref(const Tensor& t) { return t.to(Device::cpu_ref()); }

void expect_same(const Tensor& got, const Tensor& want, const std::string& what) {
  EXPECT_EQ(got.device(), Device::cpu()) << what;
  EXPECT_EQ(got.dtype(), want.dtype()) << what;
  EXPECT_EQ(got.shape(), want.shape()) << what;
  test::expect_same_bits(got.to_f32_vector(), want.to_f32_vector(), what);
}

constexpr DType kF32 = DType::kF32, kF16 = DType::kF16, kBF16 = DType::kBF16;

TEST_P(HostGlue, SiluIsTheReference) {
  IsaScope isa(GetParam());
  for (const auto& [n, in, out] : {std::tuple{1, kF32, kF32}, std::tuple{231, kBF16, kBF16},
                                   std::tuple{40000, kF32, kF32}, std::tuple{515, kF16, kBF16}}) {
    std::vector<float> v = data(n, 30.0f, 1);
    const float specials[] = {-100.0f, kInf, -kInf, std::nanf(""), -0.0f, 1e-40f, -89.0f, 88.0f};
    for (std::size_t i = 0; i < std::size(specials) && i + 1 < v.size(); ++i) v[i + 1] = specials[i];
    const Tensor x = Tensor::from_vector<float>({n}, v, in);
    expect_same(silu(x, out), silu(on_ref(x), out), fmt::format("silu {} {} -> {}", n, dtype_name(in), dtype_name(out)));
  }
}

TEST_P(HostGlue, GatedResidualAndAddAreTheReference) {
  IsaScope isa(GetParam());
  struct Case {
    std::int64_t b, s, d;
    int gate_rank;  // 2: [B, D], 3: [B, 1, D], 1: [D]
    DType x, y, g, out;
  };
  // Several grid blocks (16384 elements each) with runs cut by D, S * D and the block edges.
  for (const Case& c : {Case{2, 70, 150, 2, kF32, kBF16, kF32, kF32}, Case{2, 5, 33, 3, kF32, kF32, kF32, kF32},
                        Case{1, 9, 17, 1, kBF16, kBF16, kBF16, kBF16}, Case{1, 1, 1, 2, kF16, kF32, kF16, kF16},
                        Case{3, 41, 1536, 3, kF32, kBF16, kF32, kF32}}) {
    const std::string what = fmt::format("[{}, {}, {}] gate rank {} {} {} {} -> {}", c.b, c.s, c.d, c.gate_rank,
                                         dtype_name(c.x), dtype_name(c.y), dtype_name(c.g), dtype_name(c.out));
    const std::int64_t n = c.b * c.s * c.d;
    std::vector<float> xv = data(n, 4.0f, 2);
    xv[0] = std::nanf(""), xv[n - 1] = kInf;
    const Tensor x = Tensor::from_vector<float>({c.b, c.s, c.d}, xv, c.x);
    const Tensor y = Tensor::from_vector<float>({c.b, c.s, c.d}, data(n, 3.0f, 3), c.y);
    const std::vector<std::int64_t> gs = c.gate_rank == 2   ? std::vector<std::int64_t>{c.b, c.d}
                                         : c.gate_rank == 3 ? std::vector<std::int64_t>{c.b, 1, c.d}
                                                            : std::vector<std::int64_t>{c.d};
    const Tensor g = Tensor::from_vector<float>(gs, data(c.gate_rank == 1 ? c.d : c.b * c.d, 2.0f, 4), c.g);
    expect_same(gated_residual(x, y, g, c.out), gated_residual(on_ref(x), on_ref(y), on_ref(g), c.out),
                "gated_residual " + what);
    expect_same(add(x, g.reshape({-1, c.d}).narrow(0, 0, 1), c.out),
                add(on_ref(x), on_ref(g.reshape({-1, c.d}).narrow(0, 0, 1)), c.out), "add of a suffix " + what);
    expect_same(add(x, y, c.out), add(on_ref(x), on_ref(y), c.out), "add of the full shape " + what);
  }
  // A strided y (every other column of a wider tensor).
  const Tensor wide = Tensor::from_vector<float>({2, 5, 66}, data(2 * 5 * 66, 3.0f, 10), kBF16);
  const Tensor y = wide.narrow(2, 0, 33);
  const Tensor x = Tensor::from_vector<float>({2, 5, 33}, data(2 * 5 * 33, 4.0f, 11), kF32);
  const Tensor g = Tensor::from_vector<float>({2, 33}, data(66, 2.0f, 12), kF32);
  expect_same(gated_residual(x, y, g, kF32), gated_residual(on_ref(x), on_ref(y), on_ref(g), kF32), "strided y");
}

TEST_P(HostGlue, AMemoKeepsOnePlanPerIsa) {
  KernelMemo memo;
  const Tensor a = Tensor::from_vector<float>({3, 40}, data(120, 2.0f, 13), kF32);
  const Tensor b = Tensor::from_vector<float>({40}, data(40, 2.0f, 14), kF32);
  const Tensor want = add(on_ref(a), on_ref(b), kBF16);
  {
    IsaScope isa("generic");
    expect_same(add(a, b, kBF16, &memo), want, "generic");
    expect_same(add(a, b, kBF16, &memo), want, "generic again");
  }
  EXPECT_EQ(memo.size(), 1u);
  IsaScope isa(GetParam());
  expect_same(add(a, b, kBF16, &memo), want, GetParam());
  EXPECT_EQ(memo.size(), std::string(GetParam()) == "generic" ? 1u : 2u);
}

TEST_P(HostGlue, NormModIsTheReference) {
  IsaScope isa(GetParam());
  struct Case {
    NormKind kind;
    bool affine;
    std::int64_t m, d, batches;  // batches 0: shift / scale [D]
    DType in, out;
  };
  for (const Case& c : {Case{NormKind::kLayerNorm, false, 37, 1536, 1, kF32, kBF16},
                        Case{NormKind::kLayerNorm, false, 12, 33, 2, kBF16, kF32},
                        Case{NormKind::kLayerNorm, true, 9, 100, 0, kF32, kBF16},
                        Case{NormKind::kLayerNorm, false, 5, 1, 0, kF16, kF16},
                        Case{NormKind::kRmsNorm, false, 21, 1536, 0, kBF16, kBF16},
                        Case{NormKind::kRmsNorm, false, 8, 31, 4, kF32, kF16},
                        Case{NormKind::kRmsNorm, false, 3, 32, 0, kF16, kF32}}) {
    const std::string what = fmt::format("{} affine {} [{}, {}] batches {} {} -> {}",
                                         c.kind == NormKind::kLayerNorm ? "LayerNorm" : "RMSNorm", c.affine, c.m, c.d,
                                         c.batches, dtype_name(c.in), dtype_name(c.out));
    // x: rows of a wider tensor (row stride d + 3), one NaN row, one Inf row, one large row.
    std::vector<float> xv = data(c.m * (c.d + 3), 3.0f, 5);
    if (c.m > 4) {
      xv[1 * (c.d + 3)] = std::nanf("");
      xv[2 * (c.d + 3) + c.d - 1] = kInf;
      for (std::int64_t i = 0; i < c.d; ++i) xv[3 * (c.d + 3) + i] *= 1e4f;
    }
    const Tensor x = Tensor::from_vector<float>({c.m, c.d + 3}, xv, c.in).narrow(1, 0, c.d);
    const std::vector<std::int64_t> ps = c.batches ? std::vector<std::int64_t>{c.batches, c.d} : std::vector<std::int64_t>{c.d};
    const std::int64_t pn = c.batches ? c.batches * c.d : c.d;
    NormModArgs a;
    a.kind = c.kind;
    a.shift = Tensor::from_vector<float>(ps, data(pn, 0.5f, 6), kF32);
    a.scale = Tensor::from_vector<float>(ps, data(pn, 0.25f, 7), kF32);
    if (c.affine || c.kind == NormKind::kRmsNorm) a.weight = Tensor::from_vector<float>({c.d}, data(c.d, 1.5f, 8), kF32);
    NormModArgs ref = a;
    ref.shift = on_ref(a.shift), ref.scale = on_ref(a.scale);
    if (a.weight) ref.weight = on_ref(*a.weight);
    expect_same(norm_modulate(x, a, c.out), norm_modulate(on_ref(x), ref, c.out), what);
  }
  // Wan's layout: x [B, S, D] (the f32 residual stream), shift / scale [B, D].
  const Tensor x = Tensor::from_vector<float>({2, 6, 40}, data(480, 3.0f, 15), kF32);
  NormModArgs a;
  a.shift = Tensor::from_vector<float>({2, 40}, data(80, 0.5f, 16), kF32);
  a.scale = Tensor::from_vector<float>({2, 40}, data(80, 0.25f, 17), kF32);
  NormModArgs ref = a;
  ref.shift = on_ref(a.shift), ref.scale = on_ref(a.scale);
  expect_same(norm_modulate(x, a, kBF16), norm_modulate(on_ref(x), ref, kBF16), "[B, S, D] with [B, D]");
}

TEST_P(HostGlue, RopeIsTheReference) {
  IsaScope isa(GetParam());
  struct Case {
    std::int64_t b, s, heads, dh;
    RopeGrid grid;
    DType in, out;
  };
  // Head dims 128 (Wan's: 64 pairs, 22 / 21 / 21), 8 (4 pairs, 2 / 1 / 1), 12 (6 pairs,
  // 2 / 2 / 2) and 2 (1 pair, 1 / 0 / 0: empty height and width groups); padding tokens past
  // the grid; several grid blocks of 8 tokens.
  for (const Case& c : {Case{1, 1030, 2, 128, {4, 16, 16}, kBF16, kBF16}, Case{2, 29, 3, 8, {2, 3, 4}, kF32, kF32},
                        Case{1, 7, 1, 12, {1, 2, 3}, kF16, kBF16}, Case{2, 12, 2, 128, {3, 2, 2}, kF32, kF16},
                        Case{1, 9, 4, 2, {2, 2, 2}, kBF16, kF32}}) {
    const std::string what = fmt::format("[{}, {}, {} x {}] grid {}x{}x{} {} -> {}", c.b, c.s, c.heads, c.dh,
                                         c.grid.frames, c.grid.height, c.grid.width, dtype_name(c.in),
                                         dtype_name(c.out));
    const std::int64_t w = c.heads * c.dh;
    std::vector<float> v = data(c.b * c.s * w, 2.0f, 9);
    v[3] = std::nanf(""), v[w + 5] = -kInf;
    const Tensor x = Tensor::from_vector<float>({c.b, c.s, w}, v, c.in);
    expect_same(rope_3d(x, c.heads, c.grid, c.out), rope_3d(on_ref(x), c.heads, c.grid, c.out), what);
  }
}

INSTANTIATE_TEST_SUITE_P(Isa, HostGlue, ::testing::Values("amx", "avx512_vnni", "avx2", "generic"), test::isa_test_name);

}  // namespace
}  // namespace qjit
