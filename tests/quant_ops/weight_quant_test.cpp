// Reference weight quantization: the scale layouts of DESIGN.md section 5 (per_channel [N],
// per_tensor [1], block128 [ceil(N/128), ceil(K/128)] with partial edge blocks), hand-computed
// answers, and NaN/Inf/zero groups. The formulas are those of activations, so the
// per_channel and per_tensor results must equal act_quant's per_token and per_tensor ones.

#include "quant_ops/reference/weight_quant.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "common/error.hpp"
#include "quant_ops/reference/act_quant.hpp"
#include "quant_ops/reference/quantize_value.hpp"
#include "runtime/float_convert.hpp"

namespace qjit::reference {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr QType kAllQTypes[] = {QType::kInt8, QType::kE4M3, QType::kE5M2};

std::vector<float> gaussian(std::size_t count, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> out(count);
  for (float& v : out) v = dist(rng);
  return out;
}

TEST(WeightQuantPerChannel, Int8KnownAnswer) {
  // Row 0: amax 4, inv 31.75: 31.75 -> 32, -63.5 -> -64 (tie, even), 15.875 -> 16, 127.
  // Row 1: amax 254, inv 0.5: -127, 63.5 -> 64 (tie, even), 31.75 -> 32, 0.
  const std::vector<float> w = {1.0f, -2.0f, 0.5f, 4.0f, -254.0f, 127.0f, 63.5f, 0.0f};
  const QuantizedWeights r = quantize_weights(w, 2, 4, QType::kInt8, Granularity::kPerChannel);
  EXPECT_EQ(r.q_int8(), (std::vector<std::int8_t>{32, -64, 16, 127, -127, 64, 32, 0}));
  EXPECT_EQ(r.scales, (std::vector<float>{4.0f / 127.0f, 2.0f}));
  EXPECT_EQ(r.rows, 2);
  EXPECT_EQ(r.cols, 4);
  EXPECT_EQ(r.scale_at(1, 3), 2.0f);
}

TEST(WeightQuantPerChannel, Fp8KnownAnswer) {
  // e4m3, amax 448 (inv 1): 448 -> 0x7E, -1.0625 -> 0xB8 (tie, even), 432 -> 0x7E (tie, even),
  // 1.1875 -> 0x3A (tie, even). e5m2, amax 57344 (inv 1): 0x7B, 1.125 -> 0x3C, -1.375 -> 0xBE.
  const QuantizedWeights e4 = quantize_weights(std::vector<float>{448.0f, -1.0625f, 432.0f, 1.1875f}, 1, 4,
                                               QType::kE4M3, Granularity::kPerChannel);
  EXPECT_EQ(e4.q, (std::vector<std::uint8_t>{0x7E, 0xB8, 0x7E, 0x3A}));
  EXPECT_EQ(e4.scales, (std::vector<float>{1.0f}));
  const QuantizedWeights e5 = quantize_weights(std::vector<float>{57344.0f, 1.125f, -1.375f, 0.0f}, 1, 4,
                                               QType::kE5M2, Granularity::kPerChannel);
  EXPECT_EQ(e5.q, (std::vector<std::uint8_t>{0x7B, 0x3C, 0xBE, 0x00}));
  EXPECT_EQ(e5.scales, (std::vector<float>{1.0f}));
}

TEST(WeightQuantPerTensor, Int8KnownAnswer) {
  // amax 8 over the whole tensor, inv 15.875: 16, -32, 48, -127, 8, 32.
  const std::vector<float> w = {1.0f, -2.0f, 3.0f, -8.0f, 0.5f, 2.0f};
  const QuantizedWeights r = quantize_weights(w, 2, 3, QType::kInt8, Granularity::kPerTensor);
  EXPECT_EQ(r.q_int8(), (std::vector<std::int8_t>{16, -32, 48, -127, 8, 32}));
  EXPECT_EQ(r.scales, (std::vector<float>{8.0f / 127.0f}));
  EXPECT_EQ(r.scale_at(1, 2), 8.0f / 127.0f);
}

TEST(WeightQuant, SameFormulasAsActivations) {
  // Weight channels are quantized as activation tokens are: per_channel == per_token and
  // per_tensor == per_tensor, byte for byte, on random data with a NaN and a zero row.
  constexpr int kN = 9;
  constexpr int kK = 37;
  std::vector<float> w = gaussian(kN * kK, 11);
  w[3 * kK + 5] = kNaN;
  for (int k = 0; k < kK; ++k) w[6 * kK + k] = 0.0f;
  for (QType q : kAllQTypes) {
    const QuantizedWeights pc = quantize_weights(w, kN, kK, q, Granularity::kPerChannel);
    const QuantizedActs pt = quantize_dynamic(w, kN, kK, q, Granularity::kPerToken);
    EXPECT_EQ(pc.q, pt.q) << qtype_name(q);
    ASSERT_EQ(pc.scales.size(), pt.scales.size());
    for (std::size_t i = 0; i < pc.scales.size(); ++i) {
      if (std::isnan(pt.scales[i])) {
        EXPECT_TRUE(std::isnan(pc.scales[i]));
      } else {
        EXPECT_EQ(pc.scales[i], pt.scales[i]) << qtype_name(q) << " row " << i;
      }
    }
    w[3 * kK + 5] = 1.5f;  // per_tensor would be all NaN with it
    EXPECT_EQ(quantize_weights(w, kN, kK, q, Granularity::kPerTensor).q,
              quantize_dynamic(w, kN, kK, q, Granularity::kPerTensor).q);
    EXPECT_EQ(quantize_weights(w, kN, kK, q, Granularity::kPerTensor).scales,
              quantize_dynamic(w, kN, kK, q, Granularity::kPerTensor).scales);
    w[3 * kK + 5] = kNaN;
  }
}

TEST(WeightQuantBlock128, LayoutWithPartialBlocks) {
  // N = 200, K = 300: blocks of rows [0, 128), [128, 200) and of columns [0, 128),
  // [128, 256), [256, 300); scales [2, 3]. Every element is 0.5 except one per block, set to
  // the block's own amax (bn * 3 + bk + 1) * 2, placed in the block's last row and column
  // so that the partial edges are inside the group.
  constexpr int kN = 200;
  constexpr int kK = 300;
  std::vector<float> w(kN * kK, 0.5f);
  auto amax_of = [](int bn, int bk) { return static_cast<float>((bn * 3 + bk + 1) * 2); };
  for (int bn = 0; bn < 2; ++bn) {
    for (int bk = 0; bk < 3; ++bk) {
      const int n = std::min(kN, (bn + 1) * 128) - 1;
      const int k = std::min(kK, (bk + 1) * 128) - 1;
      w[n * kK + k] = -amax_of(bn, bk);
    }
  }
  EXPECT_EQ(weight_scale_count(kN, kK, Granularity::kBlock128), 6);
  for (QType q : kAllQTypes) {
    const QuantizedWeights r = quantize_weights(w, kN, kK, q, Granularity::kBlock128);
    ASSERT_EQ(r.scales.size(), 6u);
    for (int bn = 0; bn < 2; ++bn) {
      for (int bk = 0; bk < 3; ++bk) {
        EXPECT_EQ(r.scales[bn * 3 + bk], amax_of(bn, bk) / qtype_max(q)) << qtype_name(q) << " " << bn << "," << bk;
      }
    }
    for (int n = 0; n < kN; ++n) {
      for (int k = 0; k < kK; ++k) {
        const int bn = n / 128;
        const int bk = k / 128;
        ASSERT_EQ(r.scale_at(n, k), r.scales[bn * 3 + bk]);
        const GroupScale g = dynamic_scale(q, amax_of(bn, bk));
        ASSERT_EQ(r.q[n * kK + k], quantize_value(q, w[n * kK + k], g.inv)) << qtype_name(q) << " at " << n << "," << k;
      }
    }
    // The marked element of each block is -qmax.
    EXPECT_EQ(decode_value(q, r.q[199 * kK + 299]), -qtype_max(q));
    EXPECT_EQ(decode_value(q, r.q[127 * kK + 127]), -qtype_max(q));
  }
  // int8 spot check: block (1, 2) has amax 12, inv 127 / 12: 0.5 -> 5.29 -> 5.
  const QuantizedWeights r = quantize_weights(w, kN, kK, QType::kInt8, Granularity::kBlock128);
  EXPECT_EQ(r.q_int8()[150 * kK + 280], 5);
}

TEST(WeightQuantBlock128, SmallerThanOneBlock) {
  // N = 3, K = 5: one partial block, the same as per_tensor.
  const std::vector<float> w = gaussian(15, 5);
  const QuantizedWeights b = quantize_weights(w, 3, 5, QType::kE4M3, Granularity::kBlock128);
  const QuantizedWeights t = quantize_weights(w, 3, 5, QType::kE4M3, Granularity::kPerTensor);
  EXPECT_EQ(b.q, t.q);
  EXPECT_EQ(b.scales, t.scales);
}

TEST(WeightQuantBlock128, NaNOrInfTouchesOnlyItsBlock) {
  constexpr int kN = 130;
  constexpr int kK = 260;  // blocks: 2 x 3
  std::vector<float> w = gaussian(kN * kK, 3);
  w[5 * kK + 200] = kNaN;   // block (0, 1)
  w[129 * kK + 259] = kInf;  // block (1, 2), the 2x4 corner
  for (QType q : kAllQTypes) {
    const QuantizedWeights r = quantize_weights(w, kN, kK, q, Granularity::kBlock128);
    for (int b = 0; b < 6; ++b) EXPECT_EQ(std::isnan(r.scales[b]), b == 1 || b == 5) << qtype_name(q) << " " << b;
    for (int n = 0; n < kN; ++n) {
      for (int k = 0; k < kK; ++k) {
        if (std::isnan(r.scale_at(n, k))) ASSERT_EQ(r.q[n * kK + k], 0);
      }
    }
    const std::vector<float> d = dequantize(r);
    EXPECT_TRUE(std::isnan(d[0 * kK + 128]));
    EXPECT_FALSE(std::isnan(d[0 * kK + 0]));
  }
}

TEST(WeightQuantPerChannel, NaNInfAndZeroRows) {
  // Row 0 normal, row 1 a NaN, row 2 +Inf, row 3 -Inf, row 4 zeros.
  const std::vector<float> w = {1.0f, -2.0f, 0.5f, 4.0f,  //
                                1.0f, kNaN, 2.0f, 3.0f,   //
                                kInf, 1.0f, 2.0f, 3.0f,   //
                                1.0f, 2.0f, 3.0f, -kInf,  //
                                0.0f, 0.0f, -0.0f, 0.0f};
  for (QType q : kAllQTypes) {
    const QuantizedWeights r = quantize_weights(w, 5, 4, q, Granularity::kPerChannel);
    EXPECT_EQ(r.scales[0], 4.0f / qtype_max(q));
    for (int row = 1; row <= 3; ++row) {
      EXPECT_TRUE(std::isnan(r.scales[row])) << qtype_name(q) << " row " << row;
      for (int k = 0; k < 4; ++k) EXPECT_EQ(r.q[row * 4 + k], 0);
    }
    EXPECT_EQ(r.scales[4], 1e-30f / qtype_max(q));
    for (int k = 0; k < 4; ++k) EXPECT_EQ(decode_value(q, r.q[16 + k]), 0.0f);
    // Per tensor: the NaN and the infinities make the one scale NaN.
    const QuantizedWeights t = quantize_weights(w, 5, 4, q, Granularity::kPerTensor);
    EXPECT_TRUE(std::isnan(t.scales[0]));
    EXPECT_EQ(t.q, std::vector<std::uint8_t>(20, 0));
  }
}

TEST(WeightQuant, F16AndBF16InputsMatchF32) {
  // Values exactly representable in both 16-bit formats quantize as their f32 values do.
  const std::vector<float> w = {1.0f, -2.0f, 0.5f, 4.0f, -0.25f, 3.0f, 0.0f, 1.5f};
  std::vector<std::uint16_t> f16, bf16;
  for (float v : w) {
    f16.push_back(f32_to_f16(v));
    bf16.push_back(f32_to_bf16(v));
  }
  for (QType q : kAllQTypes) {
    for (Granularity g : {Granularity::kPerChannel, Granularity::kPerTensor, Granularity::kBlock128}) {
      const QuantizedWeights want = quantize_weights(w, 2, 4, q, g);
      for (auto [bits, dtype] : {std::pair{f16, DType::kF16}, std::pair{bf16, DType::kBF16}}) {
        const QuantizedWeights got = quantize_weights(bits, dtype, 2, 4, q, g);
        EXPECT_EQ(got.q, want.q) << dtype_name(dtype);
        EXPECT_EQ(got.scales, want.scales) << dtype_name(dtype);
      }
    }
  }
}

TEST(WeightQuant, DequantizedWithinHalfAStep) {
  // int8: |decode(q) * scale - w| <= scale / 2 (plus the rounding of the product).
  constexpr int kN = 7;
  constexpr int kK = 300;
  const std::vector<float> w = gaussian(kN * kK, 9);
  for (Granularity g : {Granularity::kPerChannel, Granularity::kPerTensor, Granularity::kBlock128}) {
    const QuantizedWeights r = quantize_weights(w, kN, kK, QType::kInt8, g);
    const std::vector<float> d = dequantize(r);
    for (int n = 0; n < kN; ++n) {
      for (int k = 0; k < kK; ++k) {
        ASSERT_LE(std::fabs(d[n * kK + k] - w[n * kK + k]), r.scale_at(n, k) * 0.5001f) << granularity_name(g);
      }
    }
  }
}

TEST(WeightQuant, RejectsBadArguments) {
  const std::vector<float> w(6, 1.0f);
  EXPECT_THROW(quantize_weights(w, 2, 3, QType::kNone, Granularity::kPerChannel), Error);
  EXPECT_THROW(quantize_weights(w, 2, 3, QType::kInt8, Granularity::kPerToken), Error);
  EXPECT_THROW(quantize_weights(w, 2, 3, QType::kInt8, Granularity::kGroup128), Error);
  EXPECT_THROW(quantize_weights(w, 2, 4, QType::kInt8, Granularity::kPerChannel), Error);
  EXPECT_THROW(quantize_weights(std::vector<std::uint16_t>(6), DType::kF32, 2, 3, QType::kInt8,
                                Granularity::kPerChannel),
               Error);
  try {
    quantize_weights(w, 2, 3, QType::kInt8, Granularity::kPerToken);
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("per_channel, per_tensor or block128"), std::string::npos) << e.message();
  }
  // Empty weights are fine.
  const QuantizedWeights empty = quantize_weights(std::vector<float>{}, 0, 5, QType::kInt8, Granularity::kPerChannel);
  EXPECT_TRUE(empty.q.empty());
  EXPECT_TRUE(empty.scales.empty());
}

}  // namespace
}  // namespace qjit::reference
