// How a forward executes (DESIGN.md section 3a), counted by the driver: a warm forward of the
// Wan model under int8, int8-static and fp8 synchronizes the host only where it needs data
// (the output's copy back: once), allocates no device memory after the first forward (the
// caching allocator serves every tensor), and gives the same bits as the first.

#include <gtest/gtest.h>

#include <fmt/format.h>

#include "quant_ops/calibration.hpp"
#include "quant_ops/rule.hpp"
#include "runtime/kernels.hpp"
#include "runtime/models/wan_model.hpp"
#include "runtime/models/wan_synthetic.hpp"
#include "tests/support/checks.hpp"
#include "tests/support/sim_devices.hpp"

namespace qjit {
namespace {

struct ForwardCounts {
  DriverCounters driver;
  std::uint64_t spec_lookups = 0;
};

ForwardCounts operator-(const ForwardCounts& a, const ForwardCounts& b) {
  return {{a.driver.synchronizations - b.driver.synchronizations, a.driver.allocations - b.driver.allocations,
           a.driver.frees - b.driver.frees, a.driver.launches - b.driver.launches},
          a.spec_lookups - b.spec_lookups};
}

ForwardCounts counts(const Driver& d) { return {d.counters(), KernelCache::global().spec_lookups()}; }

// A model of `config` on a fresh sim device (its counters are this model's alone) under
// `preset`; static scales from the calibrator on the input itself.
struct Run {
  std::shared_ptr<sim::SimDriver> driver = std::make_shared<sim::SimDriver>(sim::SimDeviceConfig::for_arch("sm_90"));
  std::shared_ptr<WanModel> model;
  WanInputs in;

  Run(const WanConfig& config, const std::string& preset, std::int64_t frames, std::int64_t hw) {
    const auto weights = wan_synthetic_weights(config, 5);
    model = std::make_shared<WanModel>(config, weights, Device::sim(), driver);
    in = wan_synthetic_inputs(config, 1, frames, hw, hw, 8, 6);
    const Rule rule = Rule::preset(preset);
    ApplyOptions o;
    if (rule.resolve().act_static_scale) {
      WanModel float_model(config, weights);
      Calibrator cal(float_model);
      float_model.forward(in.latents, in.timesteps, in.context);
      o = act_scales_for(cal.finish(), QType::kInt8);
    }
    rule.apply(*model, o);
  }
  Tensor forward() { return model->forward(in.latents, in.timesteps, in.context); }
};

void expect_warm_forward_is_stream_ordered(const WanConfig& config, std::int64_t frames, std::int64_t hw) {
  for (const char* preset : {"int8", "int8-static", "fp8"}) {
    SCOPED_TRACE(fmt::format("{} {}", config.name, preset));
    Run run(config, preset, frames, hw);
    const Tensor first = run.forward();
    const ForwardCounts before = counts(*run.driver);
    const Tensor second = run.forward();
    const ForwardCounts d = counts(*run.driver) - before;
    EXPECT_EQ(d.driver.synchronizations, 1u) << "only the output's copy to the host waits";
    EXPECT_EQ(d.driver.allocations, 0u) << "the caching allocator serves a warm forward";
    EXPECT_EQ(d.driver.frees, 0u);
    EXPECT_GT(d.driver.launches, 0u);
    EXPECT_EQ(d.spec_lookups, 0u) << "every call site launches the kernels it resolved, building no spec";
    EXPECT_TRUE(test::same_bits(second, first)) << "a warm forward gives the first one's bits";
    ::testing::Test::RecordProperty(fmt::format("{}_{}_launches", config.name, preset), static_cast<int>(d.driver.launches));
  }
}

TEST(Execution, WarmTinyForwardSynchronizesOnceAndAllocatesNothing) {
  expect_warm_forward_is_stream_ordered(WanConfig::tiny(), 2, 4);
}

// One block at Wan2.1-1.3B's dimensions (dim 1536, FFN 8960, 12 heads of 128): the layer
// shapes of the real model. NOTE: a short prompt (text_len 16) and 4 video tokens keep the
// sim's work small; neither changes which kernels run or how a forward is executed.
TEST(Execution, WarmOneBlock13BForwardSynchronizesOnceAndAllocatesNothing) {
  WanConfig config = WanConfig::wan_1_3b();
  config.layers = 1;
  config.text_len = 16;
  expect_warm_forward_is_stream_ordered(config, 1, 4);
}

}  // namespace
}  // namespace qjit
