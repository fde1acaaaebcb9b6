// runtime's unquantized GEMM reference (runtime/ops/gemm_reference.hpp, which may not include
// quant_ops) agrees bit for bit with quant_ops/reference: its GELU with the epilogue's, and
// the whole GEMM with the weight-only family's when the dequantized weights are the same
// values (int8 codes with a per-tensor scale of 1 are exact in bf16/f16).

#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "quant_ops/qgemm_weight_only.hpp"
#include "quant_ops/reference/epilogue.hpp"
#include "runtime/ops/gemm.hpp"
#include "runtime/ops/gemm_reference.hpp"

namespace qjit {
namespace {

TEST(GemmFloatReference, GeluIsTheEpiloguesBitForBit) {
  std::mt19937 rng(5);
  std::uniform_int_distribution<std::uint32_t> bits;
  int checked = 0;
  for (int i = 0; i < 20000; ++i) {
    std::uint32_t b = bits(rng);
    if (i % 2) b = (b & 0x807fffffu) | ((120u + b % 16u) << 23);  // half of them in [2^-7, 2^9)
    float y;
    std::memcpy(&y, &b, 4);
    const float got = ops::gelu_tanh_reference(y), want = reference::gelu_tanh(y);
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(got)) << y;
    } else {
      ASSERT_EQ(std::memcmp(&got, &want, 4), 0) << y;
      ++checked;
    }
  }
  EXPECT_GT(checked, 15000);
}

TEST(GemmFloatReference, GemmIsTheWeightOnlyReferenceOnTheSameWeights) {
  const std::int64_t m = 5, n = 32, k = 48;
  std::mt19937 rng(9);
  std::normal_distribution<float> normal(0, 2);
  std::uniform_int_distribution<int> code(-127, 127);
  std::vector<float> xv(m * k), wv(n * k);
  for (float& v : xv) v = normal(rng);
  std::vector<std::int8_t> q(n * k);
  for (size_t i = 0; i < q.size(); ++i) q[i] = static_cast<std::int8_t>(code(rng)), wv[i] = q[i];
  const Tensor tq = Tensor::from_raw({n, k}, DType::kI8, q.data());
  const Tensor one = Tensor::from_vector<float>({1}, {1.0f});
  for (DType d : {DType::kBF16, DType::kF16}) {
    for (DType out : {DType::kBF16, DType::kF16, DType::kF32}) {
      for (bool gelu : {false, true}) {
        const Tensor x = Tensor::from_vector<float>({m, k}, xv, d);
        const Tensor bias = Tensor::from_vector<float>({n}, std::vector<float>(n, 0.3f), DType::kBF16);
        WeightOnlyOptions wo;
        wo.weight_granularity = Granularity::kPerTensor;
        wo.bias = bias, wo.out_dtype = out;
        wo.activation = gelu ? reference::Activation::kGeluTanh : reference::Activation::kNone;
        GemmOptions g;
        g.bias = bias, g.out_dtype = out, g.gelu_tanh = gelu;
        // NOTE: on cpu:ref, both references (the cpu device's kernels sum in another order).
        const Device ref = Device::cpu_ref();
        const std::vector<float> want = qgemm_weight_only(x.to(ref), tq.to(ref), one.to(ref), wo).to_f32_vector();
        const std::vector<float> got =
            gemm(x.to(ref), Tensor::from_vector<float>({n, k}, wv, d).to(ref), g).to_f32_vector();
        ASSERT_EQ(got.size(), want.size());
        EXPECT_EQ(std::memcmp(got.data(), want.data(), 4 * got.size()), 0)
            << dtype_name(d) << " out " << dtype_name(out) << " gelu " << gelu;
      }
    }
  }
}

}  // namespace
}  // namespace qjit
