// Tensor on the cpu device: factories, views sharing storage, strides, copies, dtype
// conversions, element access, the printed summary and the errors.

#include "runtime/tensor.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <sstream>

#include "common/error.hpp"
#include "runtime/float_convert.hpp"

namespace qjit {
namespace {

using Shape = std::vector<std::int64_t>;

std::vector<float> iota(std::size_t n, float start = 0.0f) {
  std::vector<float> v(n);
  std::iota(v.begin(), v.end(), start);
  return v;
}

// The message of the qjit::Error `fn` throws ("" when it throws none).
template <typename Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.message();
  }
  return "";
}

#define EXPECT_ERROR_HAS(stmt, text)                                        \
  do {                                                                      \
    const std::string msg_ = error_of([&] { (void)(stmt); });               \
    EXPECT_NE(msg_.find(text), std::string::npos) << "error was: " << msg_; \
  } while (0)

// --- factories and metadata ---------------------------------------------------------------

TEST(Tensor, EmptyIsContiguousAndAligned) {
  const Tensor t = Tensor::empty({2, 3, 4}, DType::kBF16);
  EXPECT_TRUE(t.defined());
  EXPECT_EQ(t.shape(), (Shape{2, 3, 4}));
  EXPECT_EQ(t.strides(), (Shape{12, 4, 1}));
  EXPECT_EQ(t.dim(), 3);
  EXPECT_EQ(t.size(-1), 4);
  EXPECT_EQ(t.stride(0), 12);
  EXPECT_EQ(t.numel(), 24);
  EXPECT_EQ(t.nbytes(), 48u);
  EXPECT_EQ(t.element_size(), 2u);
  EXPECT_EQ(t.offset(), 0);
  EXPECT_EQ(t.device(), Device::cpu());
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(t.raw_data_ptr()) % Storage::kHostAlignment, 0u);
  EXPECT_GE(t.storage()->bytes(), 48u);
}

TEST(Tensor, ZerosAndScalarsAndEmptyShapes) {
  const Tensor z = Tensor::zeros({3, 5}, DType::kF16);
  for (float v : z.to_f32_vector()) EXPECT_EQ(v, 0.0f);
  const Tensor s = Tensor::from_vector<float>({}, {2.5f});
  EXPECT_EQ(s.dim(), 0);
  EXPECT_EQ(s.numel(), 1);
  EXPECT_EQ(s.item_f32(), 2.5f);
  const Tensor e = Tensor::zeros({4, 0}, DType::kF32);
  EXPECT_EQ(e.numel(), 0);
  EXPECT_TRUE(e.is_contiguous());
  EXPECT_TRUE(e.to_f32_vector().empty());
  EXPECT_EQ(e.contiguous().numel(), 0);
}

TEST(Tensor, FromVectorConvertsToTheDtype) {
  const Tensor f = Tensor::from_vector<float>({2, 2}, {1.0f, -2.0f, 0.5f, 3.0f});
  EXPECT_EQ(f.dtype(), DType::kF32);
  EXPECT_EQ(f.item_f32(1, 0), 0.5f);
  EXPECT_EQ(f.data_ptr<float>()[3], 3.0f);

  // bf16: 1 + 2^-8 is a tie between 1 and 1 + 2^-7: RNE keeps 1.
  const Tensor b = Tensor::from_vector<float>({3}, {1.0f + 0x1p-8f, 1.0f + 0x3p-8f, 3.0f}, DType::kBF16);
  EXPECT_EQ(b.to_f32_vector(), (std::vector<float>{1.0f, 1.0f + 0x1p-6f, 3.0f}));
  EXPECT_EQ(b.data_ptr<std::uint16_t>()[2], f32_to_bf16(3.0f));

  const Tensor d = Tensor::from_vector<double>({2}, {0.25, -8.0}, DType::kF16);
  EXPECT_EQ(d.to_f32_vector(), (std::vector<float>{0.25f, -8.0f}));

  const Tensor i = Tensor::from_vector<int>({3}, {-5, 0, 1 << 20});
  EXPECT_EQ(i.dtype(), DType::kI32);
  EXPECT_EQ(i.data_ptr<std::int32_t>()[2], 1 << 20);
  const Tensor i8 = Tensor::from_vector<std::int8_t>({2}, {-127, 127});
  EXPECT_EQ(i8.dtype(), DType::kI8);
  EXPECT_EQ(i8.item_f32(0), -127.0f);
  const Tensor as_float = Tensor::from_vector<int>({2}, {3, -4}, DType::kE4M3);
  EXPECT_EQ(as_float.to_f32_vector(), (std::vector<float>{3.0f, -4.0f}));

  const std::uint16_t raw[] = {0x3f80, 0xc000};
  EXPECT_EQ(Tensor::from_raw({2}, DType::kBF16, raw).to_f32_vector(), (std::vector<float>{1.0f, -2.0f}));
}

TEST(Tensor, FromStorageChecksBounds) {
  auto storage = Storage::allocate(64, Device::cpu());
  const Tensor t = Tensor::from_storage(storage, {4, 2}, {1, 4}, 8, DType::kF32);  // elements 8..15
  EXPECT_FALSE(t.is_contiguous());
  EXPECT_ERROR_HAS(Tensor::from_storage(storage, {4, 2}, {1, 4}, 9, DType::kF32),
                   "needs 68 bytes, the storage has 64");
  EXPECT_ERROR_HAS(Tensor::from_storage(storage, {2}, {1, 1}, 0, DType::kF32), "2 strides");
}

// --- views ----------------------------------------------------------------------------------

TEST(Tensor, SliceSharesStorageAndOffsets) {
  Tensor t = Tensor::from_vector<float>({3, 4}, iota(12));
  const Tensor s = t.slice(1, 1, 3);
  EXPECT_TRUE(s.shares_storage(t));
  EXPECT_EQ(s.shape(), (Shape{3, 2}));
  EXPECT_EQ(s.strides(), (Shape{4, 1}));
  EXPECT_EQ(s.offset(), 1);
  EXPECT_FALSE(s.is_contiguous());
  EXPECT_EQ(s.to_f32_vector(), (std::vector<float>{1, 2, 5, 6, 9, 10}));

  s.data_ptr<float>()[4] = 100.0f;  // element (1, 0) of s is t(1, 1)
  EXPECT_EQ(t.item_f32(1, 1), 100.0f);

  const Tensor stepped = t.slice(-1, 0, 4, 3);
  EXPECT_EQ(stepped.shape(), (Shape{3, 2}));
  EXPECT_EQ(stepped.strides(), (Shape{4, 3}));
  EXPECT_EQ(stepped.to_f32_vector(), (std::vector<float>{0, 3, 4, 7, 8, 11}));

  const Tensor rows = t.narrow(0, 1, 2);
  EXPECT_TRUE(rows.is_contiguous());  // whole rows stay dense
  EXPECT_EQ(rows.offset(), 4);
  EXPECT_EQ(t.slice(0, 3, 3).numel(), 0);
}

TEST(Tensor, SelectRemovesTheDim) {
  const Tensor t = Tensor::from_vector<float>({2, 3}, iota(6));
  const Tensor col = t.select(1, 2);
  EXPECT_EQ(col.shape(), (Shape{2}));
  EXPECT_EQ(col.strides(), (Shape{3}));
  EXPECT_EQ(col.to_f32_vector(), (std::vector<float>{2, 5}));
  const Tensor scalar = t.select(0, 1).select(0, 0);
  EXPECT_EQ(scalar.dim(), 0);
  EXPECT_EQ(scalar.item_f32(), 3.0f);
  EXPECT_TRUE(scalar.shares_storage(t));
}

TEST(Tensor, TransposeAndPermuteSwapStrides) {
  const Tensor t = Tensor::from_vector<float>({2, 3, 4}, iota(24));
  const Tensor tt = t.transpose(0, 2);
  EXPECT_EQ(tt.shape(), (Shape{4, 3, 2}));
  EXPECT_EQ(tt.strides(), (Shape{1, 4, 12}));
  EXPECT_TRUE(tt.shares_storage(t));
  EXPECT_FALSE(tt.is_contiguous());
  EXPECT_EQ(tt.item_f32(3, 1, 1), t.item_f32(1, 1, 3));

  const Tensor p = t.permute({1, 2, 0});
  EXPECT_EQ(p.shape(), (Shape{3, 4, 2}));
  EXPECT_EQ(p.strides(), (Shape{4, 1, 12}));
  EXPECT_EQ(p.item_f32(2, 1, 1), t.item_f32(1, 2, 1));
  EXPECT_TRUE(p.permute({2, 0, 1}).is_contiguous());  // undoes it
}

TEST(Tensor, ViewAndReshape) {
  const Tensor t = Tensor::from_vector<float>({2, 6}, iota(12));
  const Tensor v = t.view({3, -1});
  EXPECT_EQ(v.shape(), (Shape{3, 4}));
  EXPECT_TRUE(v.shares_storage(t));
  EXPECT_EQ(v.item_f32(2, 1), 9.0f);
  EXPECT_EQ(t.view({12}).strides(), (Shape{1}));

  const Tensor tt = t.transpose(0, 1);  // [6, 2], not contiguous
  EXPECT_ERROR_HAS(tt.view({12}), "view needs a contiguous tensor");
  const Tensor r = tt.reshape({12});
  EXPECT_FALSE(r.shares_storage(t));
  EXPECT_EQ(r.to_f32_vector(), (std::vector<float>{0, 6, 1, 7, 2, 8, 3, 9, 4, 10, 5, 11}));
  EXPECT_TRUE(t.reshape({4, 3}).shares_storage(t));

  EXPECT_ERROR_HAS(t.view({5, -1}), "cannot infer -1");
  EXPECT_ERROR_HAS(t.view({-1, -1}), "more than one -1");
  EXPECT_ERROR_HAS(t.view({13}), "has 13 elements");
}

// --- copies ---------------------------------------------------------------------------------

TEST(Tensor, ContiguousCopiesOnlyWhenNeeded) {
  const Tensor t = Tensor::from_vector<float>({2, 3}, iota(6));
  EXPECT_TRUE(t.contiguous().shares_storage(t));
  const Tensor c = t.transpose(0, 1).contiguous();
  EXPECT_FALSE(c.shares_storage(t));
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_EQ(c.shape(), (Shape{3, 2}));
  EXPECT_EQ(c.strides(), (Shape{2, 1}));
  EXPECT_EQ(c.to_f32_vector(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  const Tensor k = t.clone();
  EXPECT_FALSE(k.shares_storage(t));
  EXPECT_EQ(k.to_f32_vector(), t.to_f32_vector());
}

TEST(Tensor, CopyIntoAStridedView) {
  Tensor dst = Tensor::zeros({3, 3}, DType::kI32);
  const Tensor src = Tensor::from_vector<int>({3, 2}, {1, 2, 3, 4, 5, 6});
  dst.slice(1, 1, 3).copy_(src);
  EXPECT_EQ(dst.to_f32_vector(), (std::vector<float>{0, 1, 2, 0, 3, 4, 0, 5, 6}));
  // Transposed source into a transposed destination.
  Tensor d2 = Tensor::zeros({2, 3}, DType::kI32);
  d2.transpose(0, 1).copy_(src);
  EXPECT_EQ(d2.to_f32_vector(), (std::vector<float>{1, 3, 5, 2, 4, 6}));
}

TEST(Tensor, CopyBetweenOverlappingViewsOfOneStorage) {
  Tensor t = Tensor::from_vector<float>({2, 2}, {1, 2, 3, 4});
  t.copy_(t.transpose(0, 1));  // in-place transpose must read the old values
  EXPECT_EQ(t.to_f32_vector(), (std::vector<float>{1, 3, 2, 4}));
  t.copy_(t);
  EXPECT_EQ(t.to_f32_vector(), (std::vector<float>{1, 3, 2, 4}));
}

TEST(Tensor, CopyRejectsOtherShapesAndDtypes) {
  Tensor dst = Tensor::zeros({2, 3}, DType::kF32);
  EXPECT_ERROR_HAS(dst.copy_(Tensor::zeros({3, 2}, DType::kF32)),
                   "copy_ into Tensor(shape=[2, 3], dtype=f32, device=cpu) from Tensor(shape=[3, 2], "
                   "dtype=f32, device=cpu)");
  EXPECT_ERROR_HAS(dst.copy_(Tensor::zeros({2, 3}, DType::kBF16)), "dtype=bf16");
}

TEST(Tensor, ToTheSameDeviceIsTheSameTensor) {
  const Tensor t = Tensor::from_vector<float>({2}, {1, 2});
  EXPECT_TRUE(t.to(Device::cpu()).shares_storage(t));
}

// --- dtype conversions ----------------------------------------------------------------------

TEST(Tensor, ToDtypeRoundsOnceToNearestEven) {
  const Tensor f = Tensor::from_vector<float>({4}, {1.0f + 0x1p-11f, 65520.0f, -0.0f, 1e-8f});
  const Tensor h = f.to_dtype(DType::kF16);
  EXPECT_EQ(h.dtype(), DType::kF16);
  const auto* bits = h.data_ptr<std::uint16_t>();
  EXPECT_EQ(bits[0], 0x3c00);  // tie to even
  EXPECT_EQ(bits[1], 0x7c00);  // overflow tie rounds to Inf
  EXPECT_EQ(bits[2], 0x8000);
  EXPECT_EQ(bits[3], 0x0000);  // below half the smallest subnormal (2^-25 ~ 3e-8)
  // Widening back is exact.
  EXPECT_EQ(h.to_dtype(DType::kF32).to_f32_vector()[0], 1.0f);
  EXPECT_TRUE(f.to_dtype(DType::kF32).shares_storage(f));
}

TEST(Tensor, ToDtypeFp8SaturationFlag) {
  const Tensor f =
      Tensor::from_vector<float>({4}, {1000.0f, -1000.0f, 0.3f, std::numeric_limits<float>::infinity()});
  const Tensor sat = f.to_dtype(DType::kE4M3, /*satfinite=*/true);
  EXPECT_EQ(sat.to_f32_vector(),
            (std::vector<float>{448.0f, -448.0f, e4m3_to_f32(f32_to_e4m3(0.3f, true)), 448.0f}));
  const std::vector<float> nosat = f.to_dtype(DType::kE4M3).to_f32_vector();
  EXPECT_TRUE(std::isnan(nosat[0]) && std::isnan(nosat[1]) && std::isnan(nosat[3]));
  const std::vector<float> e5 = f.to_dtype(DType::kE5M2).to_f32_vector();
  EXPECT_EQ(e5[0], 1024.0f);
  EXPECT_TRUE(std::isinf(e5[3]));
}

TEST(Tensor, ToDtypeFromStridedAndIntegerSources) {
  const Tensor t = Tensor::from_vector<float>({2, 3}, {1, 2, 3, 4, 5, 6}).transpose(0, 1);
  const Tensor b = t.to_dtype(DType::kBF16);
  EXPECT_TRUE(b.is_contiguous());
  EXPECT_EQ(b.to_f32_vector(), (std::vector<float>{1, 4, 2, 5, 3, 6}));
  // Between two narrow formats, through the exact f32.
  EXPECT_EQ(b.to_dtype(DType::kE5M2).to_f32_vector(), (std::vector<float>{1, 4, 2, 5, 3, 6}));
  const Tensor i = Tensor::from_vector<std::int8_t>({2}, {-128, 7});
  EXPECT_EQ(i.to_dtype(DType::kF32).to_f32_vector(), (std::vector<float>{-128, 7}));
  EXPECT_ERROR_HAS(i.to_dtype(DType::kI32), "to_dtype converts to float dtypes, not int32");
}

// --- printing -------------------------------------------------------------------------------

TEST(Tensor, PrintsASmallTensorExactly) {
  const Tensor t = Tensor::from_vector<float>({2, 3}, {1, 2, 3, 4, 5, 6}, DType::kBF16);
  EXPECT_EQ(t.str(), "Tensor(shape=[2, 3], dtype=bf16, device=cpu, contiguous) [[1, 2, 3], [4, 5, 6]]");
  EXPECT_EQ(t.transpose(0, 1).str(),
            "Tensor(shape=[3, 2], dtype=bf16, device=cpu, strides=[1, 3]) [[1, 4], [2, 5], [3, 6]]");
  std::ostringstream os;
  os << t;
  EXPECT_EQ(os.str(), t.str());
  EXPECT_EQ(t.describe(), "Tensor(shape=[2, 3], dtype=bf16, device=cpu)");
}

TEST(Tensor, PrintsSpecialValuesScalarsAndIntegers) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(Tensor::from_vector<float>({4}, {-1.5f, 0.1f, std::nanf(""), -inf}).str(),
            "Tensor(shape=[4], dtype=f32, device=cpu, contiguous) [-1.5, 0.1, nan, -inf]");
  EXPECT_EQ(Tensor::from_vector<float>({}, {1e30f}).str(),
            "Tensor(shape=[], dtype=f32, device=cpu, contiguous) 1e+30");
  EXPECT_EQ(Tensor::from_vector<int>({2}, {-2147483647, 16777217}).str(),
            "Tensor(shape=[2], dtype=int32, device=cpu, contiguous) [-2147483647, 16777217]");
  EXPECT_EQ(Tensor::from_vector<std::int8_t>({1, 2}, {-128, 5}).str(),
            "Tensor(shape=[1, 2], dtype=int8, device=cpu, contiguous) [[-128, 5]]");
  EXPECT_EQ(Tensor::zeros({2, 0}, DType::kE4M3).str(),
            "Tensor(shape=[2, 0], dtype=fp8_e4m3, device=cpu, contiguous) [[], []]");
  EXPECT_EQ(Tensor().str(), "Tensor(undefined)");
}

TEST(Tensor, PrintsBigTensorsWithElision) {
  // 64 elements are printed in full ...
  const Tensor small = Tensor::from_vector<float>({8, 8}, iota(64));
  EXPECT_EQ(small.str().find("..."), std::string::npos);
  // ... more are elided to the first and last 3 of each longer dimension.
  const Tensor big = Tensor::from_vector<float>({10, 10}, iota(100));
  EXPECT_EQ(big.str(),
            "Tensor(shape=[10, 10], dtype=f32, device=cpu, contiguous) "
            "[[0, 1, 2, ..., 7, 8, 9], [10, 11, 12, ..., 17, 18, 19], [20, 21, 22, ..., 27, 28, 29], ..., "
            "[70, 71, 72, ..., 77, 78, 79], [80, 81, 82, ..., 87, 88, 89], [90, 91, 92, ..., 97, 98, 99]]");
  const Tensor tall = Tensor::from_vector<float>({100, 1}, iota(100));
  EXPECT_EQ(
      tall.str(),
      "Tensor(shape=[100, 1], dtype=f32, device=cpu, contiguous) [[0], [1], [2], ..., [97], [98], [99]]");
}

// --- errors ---------------------------------------------------------------------------------

TEST(Tensor, ErrorsNameTheTensor) {
  const Tensor t = Tensor::from_vector<float>({2, 3}, iota(6));
  const std::string name = "Tensor(shape=[2, 3], dtype=f32, device=cpu)";
  EXPECT_ERROR_HAS(t.slice(1, 2, 5), "slice: [2, 5) out of range for dim 1 of size 3 in " + name);
  EXPECT_ERROR_HAS(t.slice(2, 0, 1), "slice: dim 2 out of range for " + name);
  EXPECT_ERROR_HAS(t.select(0, 2), "select: index 2 out of range for dim 0 of size 2 in " + name);
  EXPECT_ERROR_HAS(t.narrow(0, 0, -1), "narrow: negative length");
  EXPECT_ERROR_HAS(t.permute({0, 0}), "repeats dim 0");
  EXPECT_ERROR_HAS(t.permute({0}), "is not a permutation");
  EXPECT_ERROR_HAS(t.item_f32(0), "item_f32: 1 indices for " + name);
  EXPECT_ERROR_HAS(t.item_f32(0, 3), "item_f32: index 3 out of range for dim 1 of " + name);
  EXPECT_ERROR_HAS(t.data_ptr<std::int8_t>(), "data_ptr<int8> requested for " + name);
  EXPECT_ERROR_HAS(t.data_ptr<std::uint16_t>(), "data_ptr of a 2-byte type requested for " + name);
  EXPECT_ERROR_HAS(t.device_ptr(), "device pointer of " + name + " requested, but it lives on the cpu");
  EXPECT_ERROR_HAS(Tensor::from_vector<float>({2, 2}, {1, 2, 3}), "3 values given for Tensor(shape=[2, 2]");
  EXPECT_ERROR_HAS(Tensor::from_vector<int>({1}, {200}, DType::kI8),
                   "value 200 at index 0 does not fit int8");
  EXPECT_ERROR_HAS(Tensor::from_f32({1}, std::vector<float>{1.0f}, DType::kI8),
                   "from_f32 makes float tensors, not int8");
  EXPECT_ERROR_HAS(Tensor::empty({2, -1}, DType::kF32), "negative size in shape [2, -1]");
  EXPECT_ERROR_HAS(Tensor::empty({1LL << 40, 1LL << 40}, DType::kF32), "is too large");
  EXPECT_ERROR_HAS(Tensor().contiguous(), "contiguous on an undefined tensor");
  EXPECT_ERROR_HAS(Tensor().to_f32_vector(), "to_f32_vector on an undefined tensor");
}

TEST(Tensor, ErrorsCarryTheRuntimeSubsystem) {
  try {
    Tensor::from_vector<float>({2}, {1, 2}).select(0, 5);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.subsystem(), "runtime");
  }
}

}  // namespace
}  // namespace qjit
