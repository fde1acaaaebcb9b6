// QuantLinear: a Linear quantized under a rule. Its forward is linear_forward with the same
// quantized weights, bias, GELU and static scale, bit for bit on the cpu for every family;
// on sim (sm_89) an int8 layer gives the cpu's bits (int8 W8A8 without GELU is exact on every
// device, DESIGN.md section 5); its kernels are linear_kernels' for the device's arch; the
// weight bytes before and after; and the errors from() raises before quantizing.

#include "quant_ops/quant_linear.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "device_test_util.hpp"
#include "runtime/kernels.hpp"
#include "sim/sim_driver.hpp"
#include "synthetic_model.hpp"
#include "tests/support/checks.hpp"

namespace qjit {
namespace {

using test::seeded;

ResolvedRule rule_of(const std::string& text) { return Rule::parse_one(text).resolve(); }

using test::expect_error;
using test::same_bits;

Tensor scale_of(float v) { return Tensor::from_vector<float>({1}, std::vector<float>{v}); }

// Every family on the cpu, with and without bias and GELU, on a rank-3 input: the layer is
// linear_forward on quantize_weight of the Linear's weights, byte for byte.
TEST(QuantLinear, ForwardIsLinearForwardOnTheSameQuantizedWeights) {
  const std::int64_t n = 48, k = 160;  // a partial 128-block in K for block128
  unsigned seed = 1;
  for (const std::string text : {"int8", "int8-per-tensor", "int8-static", "int8-weight-only", "fp8", "fp8-block128",
                                 "weight=fp8_e5m2,act=none,weight_granularity=per_tensor"}) {
    for (const bool bias : {false, true}) {
      for (const bool gelu : {false, true}) {
        SCOPED_TRACE(text + (bias ? " bias" : "") + (gelu ? " gelu" : ""));
        const ResolvedRule rule = rule_of(text);
        const auto lin = test::make_linear({}, n, k, ++seed, bias, gelu);
        std::optional<Tensor> scale;
        if (rule.act_static_scale) scale = scale_of(3.0f / 127.0f);
        const auto ql = QuantLinear::from(*lin, rule, scale);
        EXPECT_EQ(ql->type_name(), "QuantLinear");
        EXPECT_EQ(ql->in_features(), k);
        EXPECT_EQ(ql->out_features(), n);
        EXPECT_EQ(ql->gelu_tanh(), gelu);
        EXPECT_EQ(ql->rule(), rule);
        EXPECT_EQ(ql->act_scale().has_value(), rule.act_static_scale);

        const QuantizedWeight qw = quantize_weight(lin->weight(), rule);
        EXPECT_TRUE(same_bits(ql->weight().q, qw.q));
        EXPECT_TRUE(same_bits(ql->weight().scales, qw.scales));
        LinearOptions o;
        o.bias = lin->bias();
        o.activation = gelu ? reference::Activation::kGeluTanh : reference::Activation::kNone;
        o.act_scale = scale;
        const Tensor x = seeded({2, 3, k}, DType::kBF16, ++seed);
        const Tensor y = ql->forward(x);
        EXPECT_EQ(y.shape(), (std::vector<std::int64_t>{2, 3, n}));
        EXPECT_EQ(y.dtype(), rule.out_dtype);
        EXPECT_TRUE(same_bits(y, linear_forward(x, qw, rule, o)));
        EXPECT_TRUE(ql->kernels(6, DType::kBF16).empty());  // the cpu runs the reference
      }
    }
  }
}

// Weight-only layers run their GEMM on f16 / bf16 activations: an f32 input is converted to
// the replaced Linear's dtype first, as Linear converts x to its weights' dtype.
TEST(QuantLinear, WeightOnlyConvertsAnF32InputToTheLayersDtype) {
  for (const DType dtype : {DType::kBF16, DType::kF16}) {
    const ResolvedRule rule = rule_of("int8-weight-only");
    const auto lin = test::make_linear({}, 32, 64, 5, true, false, dtype);
    const auto ql = QuantLinear::from(*lin, rule);
    EXPECT_EQ(ql->high_precision(), dtype);
    const Tensor x = seeded({5, 64}, DType::kF32, 6);
    EXPECT_TRUE(same_bits(ql->forward(x), ql->forward(x.to_dtype(dtype))));
    EXPECT_EQ(ql->problem(5, DType::kF32).x_dtype, dtype);
  }
  // W8A8 quantizes the f32 input itself (no conversion): other codes than from its bf16 copy.
  const auto lin = test::make_linear({}, 32, 64, 7, false);
  const auto ql = QuantLinear::from(*lin, rule_of("int8"));
  const Tensor x = seeded({5, 64}, DType::kF32, 8);
  EXPECT_TRUE(same_bits(ql->forward(x), linear_forward(x, ql->weight(), ql->rule())));
  EXPECT_EQ(ql->problem(5, DType::kF32).x_dtype, DType::kF32);
}

// Bytes of the weight matrix: N * K bf16 before; N * K codes plus the scales after
// (per_channel N floats, per_tensor 1, block128 ceil(N/128) * ceil(K/128)).
TEST(QuantLinear, WeightBytesBeforeAndAfter) {
  const std::int64_t n = 144, k = 272;
  const auto lin = test::make_linear({}, n, k, 9, false);
  const struct {
    const char* rule;
    std::int64_t scales;
  } cases[] = {{"int8", n}, {"int8-per-tensor", 1}, {"fp8-block128", 2 * 3}};
  for (const auto& c : cases) {
    const auto b = QuantLinear::from(*lin, rule_of(c.rule))->weight_bytes();
    EXPECT_EQ(b.before, n * k * 2) << c.rule;
    EXPECT_EQ(b.after, n * k + 4 * c.scales) << c.rule;
    const auto shapes_only = QuantLinear::weight_bytes(*lin, rule_of(c.rule));  // nothing quantized
    EXPECT_EQ(shapes_only.before, b.before) << c.rule;
    EXPECT_EQ(shapes_only.after, b.after) << c.rule;
  }
}

// On a sim sm_89 device: the quantized weights and the static scale live there, the kernels
// are linear_kernels' for sm_89, and an int8 layer without GELU gives the cpu's bits.
TEST(QuantLinearSim, Int8OnSimIsBitIdenticalToTheCpu) {
  std::string why;
  if (!test::device_available(Device::sim(), why)) GTEST_SKIP() << "sim unavailable: " << why;
  const auto driver = std::make_shared<sim::SimDriver>(sim::SimDeviceConfig::for_arch("sm_89"));
  const test::Placement sim{driver};
  const std::int64_t n = 32, k = 64;
  for (const std::string text : {"int8", "int8-static"}) {
    SCOPED_TRACE(text);
    const ResolvedRule rule = rule_of(text);
    std::optional<Tensor> scale;
    if (rule.act_static_scale) scale = scale_of(2.5f / 127.0f);
    const auto cpu_lin = test::make_linear({}, n, k, 11, true);
    const auto sim_lin = test::make_linear(sim, n, k, 11, true);
    const auto on_cpu = QuantLinear::from(*cpu_lin, rule, scale);
    const auto on_sim = QuantLinear::from(*sim_lin, rule, scale);
    EXPECT_EQ(on_sim->weight().q.device(), Device::sim());
    EXPECT_EQ(on_sim->weight().scales.device(), Device::sim());
    if (scale) {
      EXPECT_EQ(on_sim->act_scale()->device(), Device::sim());
    }
    EXPECT_TRUE(same_bits(on_sim->weight().q, on_cpu->weight().q));

    const std::vector<KernelLaunch> launches = on_sim->kernels(7, DType::kBF16);
    ASSERT_FALSE(launches.empty());
    EXPECT_EQ(launches.back().spec.arch().str(), "sm_89");
    const auto want = linear_kernels(rule, on_sim->problem(7, DType::kBF16), jit::Arch::parse("sm_89"));
    ASSERT_EQ(launches.size(), want.size());
    for (std::size_t i = 0; i < want.size(); ++i) EXPECT_EQ(launches[i].kernels, want[i].kernels);

    const Tensor x = seeded({7, k}, DType::kBF16, 12);
    const Tensor y = on_sim->forward(x.to(Device::sim(), driver));
    EXPECT_EQ(y.device(), Device::sim());
    EXPECT_TRUE(same_bits(y, on_cpu->forward(x)));
  }
}

TEST(QuantLinear, ErrorsBeforeQuantizingNameTheProblem) {
  const auto lin = test::make_linear({}, 32, 64, 13, true);
  expect_error([&] { QuantLinear::from(*lin, rule_of("weight=none")); }, {"weight none", "high precision"});
  expect_error([&] { QuantLinear::from(*lin, rule_of("int8-static")); }, {"int8-static", "act_static_scale"});
  expect_error([&] { QuantLinear::from(*lin, rule_of("int8"), scale_of(0.1f)); }, {"int8", "dynamically"});
  expect_error([&] { QuantLinear::from(*lin, rule_of("int8-static"), scale_of(-1.0f)); }, {"finite and > 0"});
  expect_error([&] { QuantLinear::from(*test::make_linear({}, 24, 64, 14, false), rule_of("int8")); },
               {"N = 24", "multiple of 16"});
  const auto f32 = test::make_linear({}, 32, 64, 15, false, false, DType::kF32);
  expect_error([&] { QuantLinear::from(*f32, rule_of("int8-weight-only")); }, {"int8-weight-only", "weight-only", "f32"});
  const auto ql = QuantLinear::from(*lin, rule_of("int8"));
  expect_error([&] { ql->forward(seeded({4, 48}, DType::kBF16, 16)); }, {"[..., 64]", "int8"});

  std::string why;
  if (!test::device_available(Device::sim(), why)) GTEST_SKIP() << "sim unavailable: " << why;
  const auto sm80 = std::make_shared<sim::SimDriver>(sim::SimDeviceConfig::for_arch("sm_80"));
  const auto on_sm80 = test::make_linear({sm80}, 32, 64, 17, false);
  expect_error([&] { QuantLinear::from(*on_sm80, rule_of("fp8")); }, {"fp8", "sm_89", "sm_80", "sim"});
  EXPECT_NO_THROW(QuantLinear::from(*on_sm80, rule_of("weight=fp8_e4m3,act=none")));  // dequantized in software
}

}  // namespace
}  // namespace qjit
