// Linear: the unquantized layer over runtime/ops/gemm. The GEMM's numerics are tested in
// gemm_test / gemm_sim_test; here the layer's own behaviour: leading dimensions flattened
// and restored, bias and GELU passed to the op, the output in x's dtype, parameters moved
// once, the same bits as the op on cpu and on sim, validation naming the problem, and a
// Linear reached through a parent's slot after replace().

#include "runtime/linear.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "common/error.hpp"
#include "runtime/ops/gemm.hpp"
#include "sim/sim_driver.hpp"

namespace qjit {
namespace {

Tensor random_tensor(std::vector<std::int64_t> shape, DType dtype, unsigned seed) {
  std::int64_t n = 1;
  for (auto s : shape) n *= s;
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(static_cast<std::size_t>(n));
  for (float& x : v) x = dist(rng);
  return Tensor::from_f32(shape, v).to_dtype(dtype);
}

bool same_bits(const Tensor& a, const Tensor& b) {
  const Tensor ha = a.to(Device::cpu()).contiguous(), hb = b.to(Device::cpu()).contiguous();
  return ha.shape() == hb.shape() && ha.dtype() == hb.dtype() &&
         std::memcmp(ha.raw_data_ptr(), hb.raw_data_ptr(), ha.nbytes()) == 0;
}

TEST(Linear, IsTheGemmOpWithLeadingDimensionsRestored) {
  const Tensor w = random_tensor({32, 48}, DType::kBF16, 1), b = random_tensor({32}, DType::kF32, 2);
  const Tensor x = random_tensor({2, 3, 48}, DType::kBF16, 3);
  Linear lin(w, b, /*gelu_tanh=*/true);
  EXPECT_EQ(lin.in_features(), 48);
  EXPECT_EQ(lin.out_features(), 32);
  const Tensor y = lin.forward(x);
  EXPECT_EQ(y.shape(), (std::vector<std::int64_t>{2, 3, 32}));
  EXPECT_EQ(y.dtype(), DType::kBF16);
  const Tensor want = gemm(x.reshape({6, 48}), w, {.bias = b, .gelu_tanh = true}).reshape({2, 3, 32});
  EXPECT_TRUE(same_bits(y, want));
}

TEST(Linear, ConvertsInputsToTheWeightDtypeAndAnswersInTheInputDtype) {
  const Tensor w = random_tensor({16, 32}, DType::kF16, 4);
  const Tensor x = random_tensor({5, 32}, DType::kF32, 5);
  Linear lin(w);
  const Tensor y = lin.forward(x);
  EXPECT_EQ(y.dtype(), DType::kF32);
  EXPECT_TRUE(same_bits(y, gemm(x.to_dtype(DType::kF16), w, {.out_dtype = DType::kF32})));
}

TEST(Linear, OnSimGivesTheOpsBitsAndMovesParametersOnce) {
  auto driver = std::make_shared<sim::SimDriver>(sim::SimDeviceConfig::for_arch("sm_80"));
  const Tensor w = random_tensor({32, 64}, DType::kBF16, 6), b = random_tensor({32}, DType::kBF16, 7);
  const Tensor x_host = random_tensor({7, 64}, DType::kBF16, 8);
  const Tensor x = x_host.to(Device::sim(), driver);
  Linear lin(w.to(Device::sim(), driver), b.to(Device::sim(), driver));
  const Tensor y = lin.forward(x);
  EXPECT_EQ(y.device().str(), "sim");
  EXPECT_TRUE(same_bits(y, gemm(x, lin.weight(), {.bias = lin.bias()})));
}

TEST(Linear, RejectsBadParametersAndInputsNamingThem) {
  auto message = [](auto&& f) {
    try {
      f();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message([] { Linear(random_tensor({16}, DType::kBF16, 1)); }).find("[N, K]"), std::string::npos);
  EXPECT_NE(message([] { Linear(Tensor::zeros({16, 16}, DType::kI8)); }).find("int8"), std::string::npos);
  EXPECT_NE(message([] { Linear(random_tensor({16, 16}, DType::kBF16, 1), random_tensor({8}, DType::kF32, 2)); })
                .find("[N] = [16]"),
            std::string::npos);
  Linear lin(random_tensor({16, 32}, DType::kBF16, 1));
  const std::string m = message([&] { lin.forward(random_tensor({4, 16}, DType::kBF16, 2)); });
  EXPECT_NE(m.find("[..., 32]"), std::string::npos) << m;
}

class Holder final : public Module {
 public:
  explicit Holder(std::shared_ptr<LinearLayer> l) : proj_(add<LinearLayer>("proj", std::move(l))) {}
  std::string type_name() const override { return "Holder"; }
  Tensor forward(const Tensor& x) { return proj_->forward(x); }

 private:
  Slot<LinearLayer> proj_;
};

TEST(Linear, ReplacedLayerIsWhatTheParentRuns) {
  const Tensor x = random_tensor({3, 16}, DType::kBF16, 9);
  Holder h(std::make_shared<Linear>(random_tensor({16, 16}, DType::kBF16, 10)));
  const Tensor w2 = random_tensor({16, 16}, DType::kBF16, 11);
  h.replace("proj", std::make_shared<Linear>(w2, std::nullopt, true));
  EXPECT_TRUE(same_bits(h.forward(x), gemm(x, w2, {.gelu_tanh = true})));
}

}  // namespace
}  // namespace qjit
