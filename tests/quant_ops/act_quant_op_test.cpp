// quantize_activations on every device against the reference: bit-identical (DESIGN.md
// section 5: the formulas are exactly rounded, so every device gives the same bits).

#include "quant_ops/act_quant.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <random>

#include "common/error.hpp"
#include "quant_ops/reference/act_quant.hpp"
#include "runtime/driver/cuda_driver.hpp"
#include "runtime/float_convert.hpp"

#include "device_test_util.hpp"
#include "tests/support/checks.hpp"

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

const char* mode_name(ActScale mode) {
  switch (mode) {
    case ActScale::kDynamicPerToken: return "per-token";
    case ActScale::kStaticPerTensor: return "static";
    case ActScale::kDynamicPerTensor: return "per-tensor";
    case ActScale::kDynamicGroup128: return "group128";
  }
  return "?";
}

Granularity granularity(ActScale mode) {
  return mode == ActScale::kDynamicPerTensor ? Granularity::kPerTensor
         : mode == ActScale::kDynamicGroup128 ? Granularity::kGroup128
                                               : Granularity::kPerToken;
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
      {1, 1, DType::kF32, QType::kE4M3, ActScale::kDynamicPerTensor},
      {7, 200, DType::kBF16, QType::kInt8, ActScale::kDynamicPerTensor},
      {300, 48, DType::kF16, QType::kE5M2, ActScale::kDynamicPerTensor},
      {1, 16, DType::kF16, QType::kInt8, ActScale::kDynamicGroup128},
      {7, 200, DType::kF32, QType::kE4M3, ActScale::kDynamicGroup128},
      {300, 1536, DType::kBF16, QType::kE5M2, ActScale::kDynamicGroup128},
      {5, 131, DType::kBF16, QType::kInt8, ActScale::kDynamicGroup128},
  };
  for (const auto& c : cases) {
    const std::string what =
        fmt::format("{}x{} {} -> {} {}", c.m, c.k, dtype_name(c.in), qtype_name(c.q), mode_name(c.mode));
    SCOPED_TRACE(what);
    const auto xf = make_rows(c.m, c.k, static_cast<std::uint32_t>(c.m * 31 + c.k), true);
    const Tensor x_host = Tensor::from_vector<float>({c.m, c.k}, xf).to_dtype(c.in);
    const float s = 0.05f;
    const auto view = reference::ActView::dense(x_host.raw_data_ptr(), c.in, c.m, c.k);
    const bool is_static = c.mode == ActScale::kStaticPerTensor;
    const auto want =
        is_static ? reference::quantize_static(view, c.q, s) : reference::quantize_dynamic(view, c.q, granularity(c.mode));
    const auto got =
        quantize_activations(x_host.to(dev), c.q, c.mode,
                             is_static ? std::optional<Tensor>(Tensor::from_vector<float>({1}, std::vector<float>{s}))
                                       : std::nullopt);
    EXPECT_EQ(got.q.device(), dev);
    EXPECT_EQ(got.scales.device(), dev);
    expect_same_codes(got.q, want, what);
    expect_same_scales(got.scales, want.scales, what);
  }
}


TEST(ActQuantOp, RejectsBadInputBeforeAnyWork) {
  const Tensor x = Tensor::zeros({4, 8}, DType::kF32);
  const auto one = [](float v) { return Tensor::from_vector<float>({1}, std::vector<float>{v}); };
  const auto expect_error = test::expect_error_mentions;
  expect_error([&] { quantize_activations(x, QType::kNone, ActScale::kDynamicPerToken); }, "'none'");
  expect_error([&] { quantize_activations(x, QType::kInt8, ActScale::kStaticPerTensor); }, "needs a scale");
  expect_error([&] { quantize_activations(x, QType::kInt8, ActScale::kStaticPerTensor, one(-1.0f)); }, "> 0");
  expect_error([&] { quantize_activations(x, QType::kInt8, ActScale::kStaticPerTensor, one(1e-40f)); }, "1e-40");
  expect_error(
      [&] { quantize_activations(x, QType::kInt8, ActScale::kStaticPerTensor, Tensor::zeros({2}, DType::kF32)); },
      "one f32 value");
  // A static scale with a dynamic mode is a caller's mix-up, not something to ignore.
  for (ActScale mode : {ActScale::kDynamicPerToken, ActScale::kDynamicPerTensor, ActScale::kDynamicGroup128}) {
    expect_error([&] { quantize_activations(x, QType::kE4M3, mode, one(0.5f)); }, "computes its scales");
  }
  for (DType bad : {DType::kI32, DType::kI8, DType::kE4M3}) {
    expect_error([&] { quantize_activations(Tensor::zeros({4, 8}, bad), QType::kInt8, ActScale::kDynamicGroup128); },
                 "must be f32, f16 or bf16");
  }
  expect_error([&] { quantize_activations(Tensor(), QType::kInt8, ActScale::kDynamicPerTensor); }, "undefined");
  expect_error([&] { quantize_activations(Tensor::zeros({}, DType::kF32), QType::kInt8, ActScale::kDynamicPerTensor); },
               "rank >= 1");
  expect_error([&] { quantize_activations(x, QType::kInt8, static_cast<ActScale>(17)); }, "unknown");
  // K (or M) beyond 32-bit indexing: a broadcast view of one element, rejected before any copy.
  const Tensor elem = Tensor::zeros({1}, DType::kBF16);
  const Tensor wide_k = Tensor::from_storage(elem.storage(), {2, (1ll << 31) + 1}, {0, 0}, 0, DType::kBF16);
  expect_error([&] { quantize_activations(wide_k, QType::kInt8, ActScale::kDynamicGroup128); }, "too large");
  const Tensor tall_m = Tensor::from_storage(elem.storage(), {(1ll << 31) + 1, 4}, {0, 0}, 0, DType::kBF16);
  expect_error([&] { quantize_activations(tall_m, QType::kInt8, ActScale::kDynamicPerTensor); }, "too large");
}

// Empty activations: no element read, scales of the right shape (per-tensor: the floor's
// scale 1e-30 / qmax, as the reference gives) on every device.
TEST_P(ActQuantOnDevice, EmptyActivations) {
  const Device dev = Device::parse(GetParam());
  std::string why;
  if (!device_available(dev, why)) GTEST_SKIP() << "device " << GetParam() << " unavailable: " << why;
  const Tensor x = Tensor::zeros({0, 200}, DType::kBF16).to(dev);
  const auto t = quantize_activations(x, QType::kInt8, ActScale::kDynamicPerTensor);
  EXPECT_EQ(t.q.shape(), (std::vector<std::int64_t>{0, 200}));
  ASSERT_EQ(t.scales.shape(), (std::vector<std::int64_t>{1}));
  EXPECT_EQ(t.scales.to(Device::cpu()).item_f32(0), 1e-30f / 127.0f);
  const auto g = quantize_activations(x, QType::kE4M3, ActScale::kDynamicGroup128);
  EXPECT_EQ(g.scales.shape(), (std::vector<std::int64_t>{0, 2}));
  const auto s = quantize_activations(x, QType::kE4M3, ActScale::kStaticPerTensor,
                                      Tensor::from_vector<float>({1}, std::vector<float>{0.25f}));
  EXPECT_EQ(s.scales.to(Device::cpu()).item_f32(0), 0.25f);
  const auto rows = quantize_activations(Tensor::zeros({3, 0}, DType::kF32).to(dev), QType::kInt8,
                                         ActScale::kDynamicPerToken);
  EXPECT_EQ(rows.q.shape(), (std::vector<std::int64_t>{3, 0}));
  EXPECT_EQ(rows.scales.to(Device::cpu()).to_f32_vector(), std::vector<float>(3, 1e-30f / 127.0f));
}

INSTANTIATE_TEST_SUITE_P(Devices, ActQuantOnDevice, ::testing::Values("cpu", "cuda", "sim"),
                         [](const auto& info) { return std::string(info.param); });

}  // namespace
}  // namespace qjit
