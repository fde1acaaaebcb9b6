// The unquantized GEMM op on the cpu (runtime/ops/gemm.hpp -> gemm_reference.hpp): exact
// values of small problems, the sequential fp32 summation order, the epilogue (bias, GELU,
// output rounding), f32 operands, strided views, defaults.

#include <gtest/gtest.h>

#include <cmath>

#include "runtime/ops/gemm.hpp"
#include "runtime/ops/gemm_reference.hpp"

namespace qjit {
namespace {

// y = x w^T + bias by hand: x [2, 3], w [2, 3] (small integers: exact in every dtype).
TEST(Gemm, SmallProblemExactInEveryDtype) {
  for (DType d : {DType::kBF16, DType::kF16, DType::kF32}) {
    const Tensor x = Tensor::from_vector<float>({2, 3}, {1, 2, 3, -4, 5, -6}, d);
    const Tensor w = Tensor::from_vector<float>({2, 3}, {1, 0, -1, 2, 2, 2}, d);
    GemmOptions o;
    o.bias = Tensor::from_vector<float>({2}, {0.5f, -1}, DType::kF16);
    const Tensor y = gemm(x, w, o);
    EXPECT_EQ(y.dtype(), d);  // x's dtype by default
    EXPECT_EQ(y.to_f32_vector(), (std::vector<float>{1 - 3 + 0.5f, 12 - 1, -4 + 6 + 0.5f, -10 - 1}));
    o.out_dtype = DType::kF32;
    EXPECT_EQ(gemm(x, w, o).dtype(), DType::kF32);
  }
}

// The products are summed sequentially from k = 0 in fp32: 2^24 + 1 rounds back to 2^24
// (ties to even), so x = (2^24, 1, 1, -2^24) gives 0, where an exact sum gives 2.
TEST(Gemm, SumsSequentiallyInFp32) {
  const float big = 16777216.0f;
  const Tensor x = Tensor::from_vector<float>({1, 4}, {big, 1, 1, -big});
  const Tensor w = Tensor::from_vector<float>({1, 4}, {1, 1, 1, 1});
  EXPECT_EQ(gemm(x, w).item_f32(0, 0), 0.0f);
  // In bf16 (8 significant bits) too: 256 + 1 is exact in fp32, so the sum is 2.
  const Tensor xb = Tensor::from_vector<float>({1, 4}, {256, 1, 1, -256}, DType::kBF16);
  EXPECT_EQ(gemm(xb, w.to_dtype(DType::kBF16)).item_f32(0, 0), 2.0f);
}

// f32 products round once each (bf16/f16 products are exact): 1.1f * 1.1f is not 1.21f.
TEST(Gemm, F32ProductsRoundOnce) {
  const Tensor x = Tensor::from_vector<float>({1, 1}, {1.1f});
  const float want = 1.1f * 1.1f;
  EXPECT_EQ(gemm(x, x).item_f32(0, 0), want);
}

TEST(Gemm, EpilogueGeluAndRounding) {
  const Tensor x = Tensor::from_vector<float>({1, 2}, {1.5f, -0.25f}, DType::kBF16);
  const Tensor w = Tensor::from_vector<float>({16, 2}, std::vector<float>(32, 1.0f), DType::kBF16);
  GemmOptions o;
  o.bias = Tensor::from_vector<float>({16}, std::vector<float>(16, 0.1f));
  o.gelu_tanh = true;
  o.out_dtype = DType::kF32;
  const float y = 1.25f + 0.1f;
  EXPECT_EQ(gemm(x, w, o).item_f32(0, 3), ops::gelu_tanh_reference(y));
  const float u = 0.7978845608028654f * (y + 0.044715f * ((y * y) * y));
  EXPECT_EQ(ops::gelu_tanh_reference(y), (0.5f * y) * (1.0f + std::tanh(u)));
  o.out_dtype = DType::kBF16;  // RNE of the same value
  EXPECT_EQ(gemm(x, w, o).item_f32(0, 3),
            Tensor::from_vector<float>({1}, {ops::gelu_tanh_reference(y)}, DType::kBF16).item_f32(0));
  // f16 overflows to Inf.
  const Tensor big = Tensor::from_vector<float>({1, 2}, {60000, 60000}, DType::kF16);
  EXPECT_TRUE(std::isinf(gemm(big, Tensor::from_vector<float>({1, 2}, {1, 1}, DType::kF16)).item_f32(0, 0)));
}

// Strided views (a transposed weight, a column slice of x) give the contiguous result; zero
// rows give an empty [0, N].
TEST(Gemm, ViewsAndEmptyRows) {
  std::vector<float> xv(4 * 6), wv(6 * 5);
  for (size_t i = 0; i < xv.size(); ++i) xv[i] = static_cast<float>(i % 7) - 3;
  for (size_t i = 0; i < wv.size(); ++i) wv[i] = static_cast<float>(i % 5) - 2;
  const Tensor x = Tensor::from_vector<float>({4, 6}, xv, DType::kBF16);
  const Tensor wt = Tensor::from_vector<float>({6, 5}, wv, DType::kBF16);  // [K, N]
  const Tensor w = wt.transpose(0, 1);                                      // [N, K], strided
  EXPECT_EQ(gemm(x, w).to_f32_vector(), gemm(x, w.contiguous()).to_f32_vector());
  const Tensor xs = x.narrow(1, 2, 3);
  EXPECT_EQ(gemm(xs, w.narrow(1, 0, 3)).to_f32_vector(),
            gemm(xs.contiguous(), w.narrow(1, 0, 3).contiguous()).to_f32_vector());
  const Tensor y0 = gemm(Tensor::zeros({0, 6}, DType::kBF16), w);
  EXPECT_EQ(y0.shape(), (std::vector<std::int64_t>{0, 5}));
}

}  // namespace
}  // namespace qjit
