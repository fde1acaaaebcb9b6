// The qgemm op on every device it runs on (cpu: the reference; sim: the PTX interpreter;
// cuda: a real GPU, skipped with the reason when none answers): int8 W8A8 bit-identical to
// the reference, and fp8 near it. The detailed kernel tests are qgemm_sim_test.cpp.

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include <fmt/format.h>

#include "common/error.hpp"
#include "quant_ops/qgemm.hpp"
#include "quant_ops/reference/gemm.hpp"
#include "runtime/kernels.hpp"

#include "device_test_util.hpp"

namespace qjit {
namespace {

using test::device_available;

struct Operands {
  Tensor a, sa, w, sw, bias;
};

Operands make(std::int64_t m, std::int64_t n, std::int64_t k, QType q, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(m * k)), wf(static_cast<size_t>(n * k)), b(static_cast<size_t>(n));
  for (auto& v : x) v = normal(rng);
  for (auto& v : wf) v = 0.05f * normal(rng);
  for (auto& v : b) v = normal(rng);
  const auto qa = reference::quantize_dynamic(x, m, k, q, Granularity::kPerToken);
  const auto qw = reference::quantize_weights(wf, n, k, q, Granularity::kPerChannel);
  Operands o;
  o.a = Tensor::from_raw({m, k}, qtype_storage(q), qa.q.data());
  o.w = Tensor::from_raw({n, k}, qtype_storage(q), qw.q.data());
  o.sa = Tensor::from_vector<float>({m}, qa.scales);
  o.sw = Tensor::from_vector<float>({n}, qw.scales);
  o.bias = Tensor::from_vector<float>({n}, b).to_dtype(DType::kBF16);
  return o;
}

class QGemmOnDevice : public ::testing::TestWithParam<const char*> {};

TEST_P(QGemmOnDevice, Int8IsBitIdenticalToTheReference) {
  const Device dev = Device::parse(GetParam());
  std::string why;
  if (!device_available(dev, why)) GTEST_SKIP() << "device " << GetParam() << " unavailable: " << why;
  struct Shape {
    std::int64_t m, n, k;
  };
  std::vector<Shape> shapes = {{1, 48, 128}, {129, 128, 400}};
  if (dev.kind == DeviceKind::kCuda) shapes.push_back({512, 1536, 1536});
  for (const Shape s : shapes) {
    for (DType out : {DType::kBF16, DType::kF32}) {
      const Operands o = make(s.m, s.n, s.k, QType::kInt8, static_cast<unsigned>(s.m + s.n));
      QGemmOptions opt;
      opt.bias = o.bias;
      opt.out_dtype = out;
      const Tensor want = qgemm(o.a, o.sa, o.w, o.sw, opt);
      // On a GPU every shipped config (they must all give these bits); elsewhere the heuristic's.
      std::vector<std::optional<jit::impls::GemmConfig>> configs = {std::nullopt};
      if (dev.kind == DeviceKind::kCuda) {
        for (const auto& c : jit::impls::qgemm_shipped_configs()) configs.push_back(c);
      }
      for (const auto& config : configs) {
        const std::string what = fmt::format("{} M={} N={} K={} out={} config={}", GetParam(), s.m, s.n, s.k,
                                             dtype_name(out), config ? config->str() : "heuristic");
        SCOPED_TRACE(what);
        opt.config = config;
        const Tensor y = qgemm(o.a.to(dev), o.sa, o.w.to(dev), o.sw, opt);
        EXPECT_EQ(y.device(), dev);
        const Tensor got = y.to(Device::cpu());
        ASSERT_EQ(got.nbytes(), want.nbytes());
        EXPECT_EQ(std::memcmp(got.raw_data_ptr(), want.raw_data_ptr(), want.nbytes()), 0) << what;
      }
    }
  }
}

// fp8 on the device against the fp32 reference. NOTE: a sanity bound, not a derived one:
// real tensor cores keep fewer than 24 bits in their fp8 partial sums (the reason for the
// promotion every 128 K), so only the output rounding (bf16: NMSE <= (2 * 2^-9)^2 ~ 1.5e-5)
// and a few 2^-13-sized partial-sum roundings are expected; 1e-4 leaves room for both and
// still fails on any indexing or promotion bug (NMSE ~ 1). qgemm_sim_test.cpp derives the
// exact bound for the sim.
TEST_P(QGemmOnDevice, Fp8IsNearTheReference) {
  const Device dev = Device::parse(GetParam());
  std::string why;
  if (!device_available(dev, why)) GTEST_SKIP() << "device " << GetParam() << " unavailable: " << why;
  if (!dev.is_host() && target_arch(*driver_for(dev)).number < 89) GTEST_SKIP() << "fp8 mma needs sm_89+";
  const Operands o = make(129, 256, 1536, QType::kE4M3, 5);
  QGemmOptions opt;
  opt.bias = o.bias;
  const auto got = qgemm(o.a.to(dev), o.sa, o.w.to(dev), o.sw, opt).to(Device::cpu()).to_f32_vector();
  const auto want = qgemm(o.a, o.sa, o.w, o.sw, opt).to_f32_vector();
  EXPECT_LE(reference::nmse(got, std::vector<double>(want.begin(), want.end())), 1e-4);
}

INSTANTIATE_TEST_SUITE_P(Devices, QGemmOnDevice, ::testing::Values("cpu", "cuda", "sim"),
                         [](const auto& info) { return std::string(info.param); });

}  // namespace
}  // namespace qjit
