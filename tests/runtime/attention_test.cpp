// Scaled-dot-product attention on the cpu (runtime/ops/attention.hpp, the reference
// runtime/ops/attention_reference.hpp) against a float64 ideal within an NMSE bound derived
// below; defaults (scale 1/sqrt(Dh), q's dtype), strided views, cross-attention shapes; and
// every validation error, each naming its problem, thrown before any work.

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include <fmt/format.h>

#include "common/error.hpp"
#include "runtime/ops/attention.hpp"
#include "tests/runtime/attention_ideal.hpp"
#include "tests/support/checks.hpp"

namespace qjit {
namespace {

using test::gamma;
using test::Ideal;
using test::ideal;
using test::unit_roundoff;

using test::expect_error_mentions;

Tensor make(std::int64_t b, std::int64_t s, std::int64_t w, DType t, unsigned seed, float amp = 1.5f) {
  return test::attention_input(b, s, w, t, seed, amp);
}

// ---- NMSE bound of the reference ---------------------------------------------------------
//
// u = 2^-24 (fp32), γ(n) = n u / (1 - n u). Per row (b, i, h), against the ideal from the same
// rounded inputs:
//  - Logits: the dot product of Dh products summed sequentially (a 16-bit product is exact,
//    an f32 product rounds once): |δdot_j| <= γ(Dh + 1) Σ_d |q_d k_jd|; times the scale, one
//    more rounding: |δs_j| <= scale γ(Dh + 1) max_j Σ|qk| + u max|s| =: δ.
//  - p_j = exp(s_j - m): m is one of the computed logits, so it cancels in the softmax except
//    through the rounding of s_j - m (u |s_j - m| <= 2 u max|s|) and expf's error (< 1 ulp,
//    2u). Each weight's relative error, the max's included: η <= 2 δ + 2 u max|s| + 2u.
//  - o_d = Σ p_j v_jd / Σ p_j: numerator and denominator each off by η relative to their
//    weights plus their sequential sums γ(Skv + 1), the division u:
//    |δo_d| <= 1.01 ((2 η + 2 γ(Skv + 1)) W_d + u |o_d|), W_d = Σ P_j |v_jd| / Σ P_j
//    (1.01 covers the second-order terms), then rounding to the output: u_out |o_d| with
//    u_out = 2^-24 (f32), 2^-11 (f16), 2^-8 (bf16).
// NMSE <= Σ e_d² / Σ o_d². A wrong head, key or dim gives NMSE ~ 1, far above it.
double reference_bound(const Ideal& id, std::int64_t heads, std::int64_t width, std::int64_t skv, double scale,
                       DType out) {
  const double u = std::ldexp(1.0, -24);
  const std::int64_t dh = width / heads;
  double num = 0, den = 0;
  for (size_t e = 0; e < id.o.size(); ++e) {
    const size_t row = e / static_cast<size_t>(width), h = (e % static_cast<size_t>(width)) / static_cast<size_t>(dh);
    const size_t r = row * static_cast<size_t>(heads) + h;
    const double delta = scale * gamma(static_cast<double>(dh + 1)) * id.dot_abs[r] + u * id.logit_abs[r];
    const double eta = 2 * delta + 2 * u * id.logit_abs[r] + 2 * u;
    const double o = std::fabs(id.o[e]);
    const double err = 1.01 * ((2 * eta + 2 * gamma(static_cast<double>(skv + 1))) * id.w[e] + u * o) +
                       unit_roundoff(out) * o;
    num += err * err, den += o * o;
  }
  return num / den;
}

double nmse(const std::vector<float>& got, const std::vector<double>& want) {
  double num = 0, den = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!std::isfinite(got[i])) return INFINITY;
    const double d = got[i] - want[i];
    num += d * d, den += want[i] * want[i];
  }
  return num / den;
}

struct Case {
  std::int64_t b, sq, skv, heads, dh;
  DType in, out;
};

TEST(Attention, ReferenceIsWithinTheDerivedBoundOfTheIdeal) {
  const std::vector<Case> cases = {
      {1, 1, 1, 1, 8, DType::kF32, DType::kF32},      {2, 5, 7, 3, 16, DType::kBF16, DType::kBF16},
      {2, 9, 4, 2, 64, DType::kF16, DType::kF32},     {1, 3, 33, 2, 128, DType::kBF16, DType::kF16},
      {1, 17, 1, 1, 24, DType::kF32, DType::kBF16},   {2, 1, 12, 2, 40, DType::kF16, DType::kF16},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(fmt::format("B={} Sq={} Skv={} H={} Dh={} {} -> {}", c.b, c.sq, c.skv, c.heads, c.dh,
                             dtype_name(c.in), dtype_name(c.out)));
    const std::int64_t w = c.heads * c.dh;
    const Tensor q = make(c.b, c.sq, w, c.in, 1), k = make(c.b, c.skv, w, c.in, 2), v = make(c.b, c.skv, w, c.in, 3);
    AttentionOptions opt;
    opt.out_dtype = c.out;
    const Tensor o = attention(q, k, v, c.heads, opt);
    EXPECT_EQ(o.shape(), (std::vector<std::int64_t>{c.b, c.sq, w}));
    EXPECT_EQ(o.dtype(), c.out);
    const double scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(c.dh)));
    const Ideal id = ideal(q, k, v, c.heads, scale);
    const double bound = reference_bound(id, c.heads, w, c.skv, scale, c.out);
    const double got = nmse(o.to_f32_vector(), id.o);
    EXPECT_LE(got, bound);
    // The bound is meaningful: far below what a wrong head or key would give (~1).
    EXPECT_LT(bound, 1e-3);
  }
}

TEST(Attention, DefaultsAndExplicitScale) {
  const Tensor q = make(1, 3, 32, DType::kBF16, 4), k = make(1, 5, 32, DType::kBF16, 5),
               v = make(1, 5, 32, DType::kBF16, 6);
  const Tensor o = attention(q, k, v, 2);
  EXPECT_EQ(o.dtype(), DType::kBF16);  // q's dtype
  AttentionOptions explicit_scale;
  explicit_scale.softmax_scale = 0.25f;  // 1/sqrt(16)
  EXPECT_TRUE(test::same_bits(o, attention(q, k, v, 2, explicit_scale)));
  explicit_scale.softmax_scale = 0.7f;
  const Ideal id = ideal(q, k, v, 2, 0.7);
  EXPECT_LE(nmse(attention(q, k, v, 2, explicit_scale).to_f32_vector(), id.o),
            reference_bound(id, 2, 32, 5, 0.7, DType::kBF16));
}

TEST(Attention, OneKeyGivesItsValue) {
  // softmax over one key is 1: o = v exactly (p = exp(0) = 1, l = 1).
  const Tensor q = make(2, 4, 16, DType::kF32, 7), k = make(2, 1, 16, DType::kF32, 8), v = make(2, 1, 16, DType::kF32, 9);
  const auto o = attention(q, k, v, 2).to_f32_vector(), vv = v.to_f32_vector();
  for (std::int64_t b = 0; b < 2; ++b) {
    for (std::int64_t i = 0; i < 4; ++i) {
      for (std::int64_t d = 0; d < 16; ++d) EXPECT_EQ(o[(b * 4 + i) * 16 + d], vv[b * 16 + d]);
    }
  }
}

TEST(Attention, StridedViewsEqualTheirContiguousCopies) {
  // q, k and v as column slices of one fused qkv projection [B, S, 3W], as a model gets them.
  const std::int64_t w = 32;
  const Tensor qkv = make(2, 6, 3 * w, DType::kF16, 10);
  const Tensor q = qkv.narrow(2, 0, w), k = qkv.narrow(2, w, w), v = qkv.narrow(2, 2 * w, w);
  EXPECT_TRUE(test::same_bits(attention(q, k, v, 2), attention(q.contiguous(), k.contiguous(), v.contiguous(), 2)));
  // A transposed view (last dimension strided).
  const Tensor qt = make(2, w, 6, DType::kF16, 11).transpose(1, 2);
  EXPECT_TRUE(test::same_bits(attention(qt, k, v, 4), attention(qt.contiguous(), k, v, 4)));
}

TEST(Attention, EmptyQueriesGiveAnEmptyOutput) {
  const Tensor q = make(2, 0, 16, DType::kF32, 1), k = make(2, 3, 16, DType::kF32, 2);
  EXPECT_EQ(attention(q, k, k, 1).shape(), (std::vector<std::int64_t>{2, 0, 16}));
}

TEST(Attention, RejectsBadInputsNamingThem) {
  auto t = [](std::int64_t b, std::int64_t s, std::int64_t w, DType d = DType::kBF16) {
    return Tensor::zeros({b, s, w}, d);
  };
  const Tensor q = t(2, 4, 32), k = t(2, 5, 32);
  const auto has = expect_error_mentions;
  has([&] { attention(Tensor::zeros({4, 32}, DType::kBF16), k, k, 2); }, "q must be [B, Sq, H*Dh]");
  has([&] { attention(Tensor(), k, k, 2); }, "q must be [B, Sq, H*Dh], got an undefined tensor");
  has([&] { attention(q, Tensor::zeros({5, 32}, DType::kBF16), k, 2); }, "k must be [B, Skv, H*Dh]");
  has([&] { attention(q, k, Tensor::zeros({5, 32}, DType::kBF16), 2); }, "v must be [B, Skv, H*Dh]");
  has([&] { attention(t(2, 4, 32, DType::kI8), t(2, 5, 32, DType::kI8), t(2, 5, 32, DType::kI8), 2); },
      "q must be f32, f16 or bf16");
  has([&] { attention(q, t(2, 5, 32, DType::kF16), k, 2); }, "q, k and v must share one dtype");
  has([&] { attention(q, k, t(2, 5, 32, DType::kF32), 2); }, "q, k and v must share one dtype");
  has([&] { attention(q, t(1, 5, 32), t(1, 5, 32), 2); }, "batch differs");
  has([&] { attention(q, k, t(2, 6, 32), 2); }, "key count Skv differs");
  has([&] { attention(q, t(2, 5, 48), t(2, 5, 48), 2); }, "width H*Dh differs");
  has([&] { attention(q, t(2, 0, 32), t(2, 0, 32), 2); }, "no keys (Skv = 0)");
  has([&] { attention(q, k, k, 3); }, "heads 3 must be >= 1 and divide the width 32");
  has([&] { attention(q, k, k, 0); }, "heads 0 must be >= 1");
  AttentionOptions bad_scale;
  bad_scale.softmax_scale = NAN;
  has([&] { attention(q, k, k, 2, bad_scale); }, "softmax_scale nan must be finite");
  bad_scale.softmax_scale = INFINITY;
  has([&] { attention(q, k, k, 2, bad_scale); }, "softmax_scale inf must be finite");
  AttentionOptions bad_out;
  bad_out.out_dtype = DType::kI8;
  has([&] { attention(q, k, k, 2, bad_out); }, "output dtype int8 is not f32, f16 or bf16");
}

}  // namespace
}  // namespace qjit
