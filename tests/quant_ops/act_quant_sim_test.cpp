// The activation-quantization kernels on the sim device, one simulated GPU per shipped
// arch (sm_80 takes the integer fp8 rounding path, sm_89 and sm_90 the cvt instruction),
// bit-identical to the reference on odd shapes and on rows of zeros, tiny values, NaN and
// Inf (DESIGN.md section 5).

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include <fmt/format.h>

#include "quant_ops/act_quant.hpp"
#include "quant_ops/reference/act_quant.hpp"
#include "runtime/sim/sim_driver.hpp"

namespace qjit {
namespace {

std::vector<float> rows_with_specials(std::int64_t m, std::int64_t k) {
  std::vector<float> x(static_cast<size_t>(m * k));
  for (std::int64_t i = 0; i < m * k; ++i) x[i] = std::sin(0.37f * static_cast<float>(i)) * (1 + i % 5);
  for (std::int64_t r = 0; r < m; ++r) {
    float* row = x.data() + r * k;
    switch (r % 6) {
      case 1: std::fill(row, row + k, 0.0f); break;                                     // zeros
      case 2: for (std::int64_t i = 0; i < k; ++i) row[i] = 1e-35f * (i + 1); break;   // tiny
      case 3: row[k / 2] = std::numeric_limits<float>::quiet_NaN(); break;
      case 4: row[0] = std::numeric_limits<float>::infinity(); break;
      case 5: row[k - 1] = -std::numeric_limits<float>::infinity(); break;
      default: break;
    }
  }
  return x;
}

struct Shape {
  std::int64_t m, k;
};

class ActQuantSim : public ::testing::TestWithParam<const char*> {};

TEST_P(ActQuantSim, BitIdenticalToReference) {
  auto driver = std::make_shared<sim::SimDriver>(sim::SimDeviceConfig::for_arch(GetParam()));
  for (const Shape s : {Shape{1, 1}, Shape{3, 17}, Shape{257, 1536}}) {
    for (DType in : {DType::kF32, DType::kBF16}) {
      for (QType q : {QType::kInt8, QType::kE4M3, QType::kE5M2}) {
        for (ActScale mode : {ActScale::kDynamicPerToken, ActScale::kStaticPerTensor}) {
          if (s.m == 257 && in == DType::kF32 && mode == ActScale::kStaticPerTensor) continue;  // keep the suite quick
          const std::string what = fmt::format("{} {}x{} {} -> {} {}", GetParam(), s.m, s.k, dtype_name(in),
                                               qtype_name(q), mode == ActScale::kDynamicPerToken ? "per-token" : "static");
          SCOPED_TRACE(what);
          const Tensor host = Tensor::from_vector<float>({s.m, s.k}, rows_with_specials(s.m, s.k)).to_dtype(in);
          const float scale = 0.02f;
          const auto view = reference::ActView::dense(host.raw_data_ptr(), in, s.m, s.k);
          const auto want = mode == ActScale::kDynamicPerToken ? reference::quantize_dynamic(view, q, Granularity::kPerToken)
                                                               : reference::quantize_static(view, q, scale);
          const auto got = quantize_activations(host.to(Device::sim(), driver), q, mode,
                                                Tensor::from_vector<float>({1}, std::vector<float>{scale}));
          const Tensor codes = got.q.to(Device::cpu());
          ASSERT_EQ(std::memcmp(codes.raw_data_ptr(), want.q.data(), want.q.size()), 0) << what;
          if (mode == ActScale::kDynamicPerToken) {
            const auto scales = got.scales.to(Device::cpu()).to_f32_vector();
            for (size_t i = 0; i < scales.size(); ++i) {
              if (std::isnan(want.scales[i])) EXPECT_TRUE(std::isnan(scales[i])) << i;
              else EXPECT_EQ(scales[i], want.scales[i]) << i;
            }
          }
        }
      }
    }
  }
  const auto c = driver->total_counters();
  EXPECT_GT(c.thread_instructions, 0u);
  std::printf("%s: %llu thread-instructions in %.2f s (%.1f M/s)\n", GetParam(),
              static_cast<unsigned long long>(c.thread_instructions), c.seconds, c.thread_instructions / c.seconds / 1e6);
}

INSTANTIATE_TEST_SUITE_P(Archs, ActQuantSim, ::testing::Values("sm_80", "sm_89", "sm_90"),
                         [](const auto& info) { return std::string(info.param); });

}  // namespace
}  // namespace qjit
