// quantize_activations on every device against the reference: bit-identical (DESIGN.md
// section 5: the formulas are exactly rounded, so every device gives the same bits).

#include "quant_ops/act_quant.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "common/error.hpp"
#include "quant_ops/reference/act_quant.hpp"
#include "runtime/driver/cuda_driver.hpp"
#include "runtime/float_convert.hpp"

#include "device_test_util.hpp"

namespace qjit {
namespace {

using test::device_available;

enum class RowKind { kRandom, kZeros, kTiny, kNaN, kPosInf, kNegInf, kOutlier };

std::vector<float> make_rows(std::int64_t m, std::int64_t k, std::uint32_t seed, bool special_rows) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 2.0f);
  std::vector<float> x(static_cast<size_t>(m * k));
  for (auto& v : x) v = dist(rng);
  if (!special_rows) return x;
  for (std::int64_t r = 0; r < m; ++r) {
    const auto kind = static_cast<RowKind>(r % 7);
    float* row = x.data() + r * k;
    switch (kind) {
      case RowKind::kZeros: std::fill(row, row + k, 0.0f); break;
      case RowKind::kTiny:
        for (std::int64_t i = 0; i < k; ++i) row[i] = (i % 2 ? -1.0f : 1.0f) * 1e-33f * static_cast<float>(i + 1);
        break;
      case RowKind::kNaN: row[k / 2] = std::numeric_limits<float>::quiet_NaN(); break;
      case RowKind::kPosInf: row[k - 1] = std::numeric_limits<float>::infinity(); break;
      case RowKind::kNegInf: row[0] = -std::numeric_limits<float>::infinity(); break;
      case RowKind::kOutlier: row[0] = 3.0e4f; break;
      default: break;
    }
  }
  return x;
}

struct Case {
  std::int64_t m, k;
  DType in;
  QType q;
  ActScale mode;
};

void expect_same_codes(const Tensor& got, const reference::QuantizedActs& want, const std::string& what) {
  const Tensor g = got.to(Device::cpu());
  ASSERT_EQ(static_cast<size_t>(g.numel()), want.q.size()) << what;
  const auto* p = static_cast<const std::uint8_t*>(g.raw_data_ptr());
  size_t bad = 0;
  for (size_t i = 0; i < want.q.size(); ++i) {
    if (p[i] != want.q[i] && bad++ < 5) {
      ADD_FAILURE() << what << ": code " << i << " (row " << i / want.cols << ") is 0x" << std::hex << int(p[i])
                    << ", reference 0x" << int(want.q[i]);
    }
  }
  EXPECT_EQ(bad, 0u) << what;
}

void expect_same_scales(const Tensor& got, const std::vector<float>& want, const std::string& what) {
  const auto g = got.to(Device::cpu()).to_f32_vector();
  ASSERT_EQ(g.size(), want.size()) << what;
  for (size_t i = 0; i < want.size(); ++i) {
    std::uint32_t a, b;
    std::memcpy(&a, &g[i], 4);
    std::memcpy(&b, &want[i], 4);
    if (std::isnan(g[i]) && std::isnan(want[i])) continue;
    EXPECT_EQ(a, b) << what << ": scale " << i << " " << g[i] << " vs " << want[i];
  }
}

class ActQuantOnDevice : public ::testing::TestWithParam<const char*> {};

TEST_P(ActQuantOnDevice, BitIdenticalToReference) {
  const Device dev = Device::parse(GetParam());
  std::string why;
  if (!device_available(dev, why)) GTEST_SKIP() << "device " << GetParam() << " unavailable: " << why;
  const std::vector<Case> cases = {
      {1, 1, DType::kF32, QType::kInt8, ActScale::kDynamicPerToken},
      {3, 17, DType::kBF16, QType::kE4M3, ActScale::kDynamicPerToken},
      {7, 48, DType::kF16, QType::kE5M2, ActScale::kDynamicPerToken},
      {14, 130, DType::kF32, QType::kE4M3, ActScale::kStaticPerTensor},
      {21, 64, DType::kBF16, QType::kInt8, ActScale::kStaticPerTensor},
      {257, 1536, DType::kBF16, QType::kInt8, ActScale::kDynamicPerToken},
      {33, 1536, DType::kF16, QType::kE5M2, ActScale::kStaticPerTensor},
  };
  for (const auto& c : cases) {
    const std::string what = fmt::format("{}x{} {} -> {} {}", c.m, c.k, dtype_name(c.in), qtype_name(c.q),
                                         c.mode == ActScale::kDynamicPerToken ? "per-token" : "static");
    SCOPED_TRACE(what);
    const auto xf = make_rows(c.m, c.k, static_cast<std::uint32_t>(c.m * 31 + c.k), true);
    const Tensor x_host = Tensor::from_vector<float>({c.m, c.k}, xf).to_dtype(c.in);
    const float s = 0.05f;
    const auto view = reference::ActView::dense(x_host.raw_data_ptr(), c.in, c.m, c.k);
    const auto want = c.mode == ActScale::kDynamicPerToken
                          ? reference::quantize_dynamic(view, c.q, Granularity::kPerToken)
                          : reference::quantize_static(view, c.q, s);
    const auto got = quantize_activations(x_host.to(dev), c.q, c.mode,
                                          Tensor::from_vector<float>({1}, std::vector<float>{s}));
    EXPECT_EQ(got.q.device(), dev);
    expect_same_codes(got.q, want, what);
    if (c.mode == ActScale::kDynamicPerToken) expect_same_scales(got.scales, want.scales, what);
  }
}

INSTANTIATE_TEST_SUITE_P(Devices, ActQuantOnDevice, ::testing::Values("cpu", "cuda", "sim"),
                         [](const auto& info) { return std::string(info.param); });

TEST(ActQuantOp, RejectsBadInputBeforeAnyWork) {
  const Tensor x = Tensor::zeros({4, 8}, DType::kF32);
  EXPECT_THROW(quantize_activations(x, QType::kNone, ActScale::kDynamicPerToken), Error);
  EXPECT_THROW(quantize_activations(x, QType::kInt8, ActScale::kStaticPerTensor), Error);
  EXPECT_THROW(quantize_activations(x, QType::kInt8, ActScale::kStaticPerTensor,
                                    Tensor::from_vector<float>({1}, std::vector<float>{-1.0f})),
               Error);
  EXPECT_THROW(quantize_activations(Tensor::zeros({4, 8}, DType::kI32), QType::kInt8, ActScale::kDynamicPerToken),
               Error);
}

}  // namespace
}  // namespace qjit
