// The weight-only GEMM op on every device it runs on (cpu: the reference; sim: the PTX
// interpreter; cuda: a real GPU, skipped with the reason when none answers), near the
// reference. The detailed kernel tests, with the derived NMSE bound, are
// qgemm_wo_sim_test.cpp.

#include <gtest/gtest.h>

#include <random>

#include <fmt/format.h>

#include "quant_ops/qgemm_weight_only.hpp"
#include "quant_ops/reference/gemm.hpp"
#include "runtime/kernels.hpp"

#include "device_test_util.hpp"

namespace qjit {
namespace {

using test::device_available;

class QGemmWoOnDevice : public ::testing::TestWithParam<const char*> {};

// NOTE: a sanity bound, not a derived one (qgemm_wo_sim_test.cpp derives it): both sides
// multiply the same bf16 values and differ by the fp32 summation order (relative ~K 2^-24
// of Σ|p|) and the bf16 output rounding (NMSE <= (2 * 2^-9)^2 ~ 1.5e-5); 1e-4 leaves room
// for both and still fails on any indexing or dequantization bug (NMSE ~ 1).
TEST_P(QGemmWoOnDevice, IsNearTheReference) {
  const Device dev = Device::parse(GetParam());
  std::string why;
  if (!device_available(dev, why)) GTEST_SKIP() << "device " << GetParam() << " unavailable: " << why;
  struct Case {
    std::int64_t m, n, k;
    QType q;
    Granularity g;
  };
  std::vector<Case> cases = {{7, 48, 128, QType::kInt8, Granularity::kPerChannel},
                             {129, 128, 272, QType::kE4M3, Granularity::kBlock128}};
  if (dev.kind == DeviceKind::kCuda) {
    cases.push_back({512, 1536, 1536, QType::kInt8, Granularity::kPerChannel});
    cases.push_back({300, 1536, 1536, QType::kE5M2, Granularity::kPerTensor});
  }
  for (const Case& c : cases) {
    std::mt19937 rng(static_cast<unsigned>(c.m + c.n));
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> x(static_cast<size_t>(c.m * c.k)), wf(static_cast<size_t>(c.n * c.k)), b(c.n);
    for (auto& v : x) v = normal(rng);
    for (auto& v : wf) v = 0.05f * normal(rng);
    for (auto& v : b) v = normal(rng);
    const auto qw = reference::quantize_weights(wf, c.n, c.k, c.q, c.g);
    const Tensor tx = Tensor::from_vector<float>({c.m, c.k}, x).to_dtype(DType::kBF16);
    const Tensor tw = Tensor::from_raw({c.n, c.k}, qtype_storage(c.q), qw.q.data());
    const Tensor tsw = Tensor::from_vector<float>({static_cast<std::int64_t>(qw.scales.size())}, qw.scales);
    WeightOnlyOptions opt;
    opt.weight_granularity = c.g;
    opt.bias = Tensor::from_vector<float>({c.n}, b).to_dtype(DType::kBF16);
    const auto want_t = qgemm_weight_only(tx, tw, tsw, opt).to_f32_vector();
    const std::vector<double> want(want_t.begin(), want_t.end());
    // On a GPU every shipped config; elsewhere the heuristic's.
    std::vector<std::optional<jit::impls::WeightOnlyConfig>> configs = {std::nullopt};
    if (dev.kind == DeviceKind::kCuda) {
      for (const auto& cfg : jit::impls::qgemm_wo_shipped_configs()) configs.push_back(cfg);
    }
    for (const auto& config : configs) {
      const std::string what = fmt::format("{} M={} N={} K={} {} {} config={}", GetParam(), c.m, c.n, c.k,
                                           qtype_name(c.q), granularity_name(c.g), config ? config->str() : "heuristic");
      SCOPED_TRACE(what);
      opt.config = config;
      const Tensor y = qgemm_weight_only(tx.to(dev), tw.to(dev), tsw, opt);
      EXPECT_EQ(y.device(), dev);
      EXPECT_LE(reference::nmse(y.to(Device::cpu()).to_f32_vector(), want), 1e-4) << what;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Devices, QGemmWoOnDevice, ::testing::Values("cpu", "cuda", "sim"),
                         [](const auto& info) { return std::string(info.param); });

}  // namespace
}  // namespace qjit
