#include "common/dtype.hpp"

#include <gtest/gtest.h>

#include "common/error.hpp"

namespace qjit {
namespace {

constexpr DType kAll[] = {DType::kF32,  DType::kF16, DType::kBF16, DType::kE4M3,
                          DType::kE5M2, DType::kI8,  DType::kI32};

TEST(DType, SizesAndKinds) {
  EXPECT_EQ(dtype_size(DType::kF32), 4u);
  EXPECT_EQ(dtype_size(DType::kF16), 2u);
  EXPECT_EQ(dtype_size(DType::kBF16), 2u);
  EXPECT_EQ(dtype_size(DType::kE4M3), 1u);
  EXPECT_EQ(dtype_size(DType::kE5M2), 1u);
  EXPECT_EQ(dtype_size(DType::kI8), 1u);
  EXPECT_EQ(dtype_size(DType::kI32), 4u);
  for (DType t : kAll) EXPECT_EQ(is_float(t), t != DType::kI8 && t != DType::kI32) << dtype_name(t);
}

TEST(DType, CanonicalNamesRoundTrip) {
  EXPECT_EQ(dtype_name(DType::kE4M3), "fp8_e4m3");
  EXPECT_EQ(dtype_name(DType::kI32), "int32");
  for (DType t : kAll) EXPECT_EQ(parse_dtype(dtype_name(t)), t) << dtype_name(t);
}

TEST(DType, Aliases) {
  EXPECT_EQ(parse_dtype("float32"), DType::kF32);
  EXPECT_EQ(parse_dtype("float16"), DType::kF16);
  EXPECT_EQ(parse_dtype("half"), DType::kF16);
  EXPECT_EQ(parse_dtype("bfloat16"), DType::kBF16);
  EXPECT_EQ(parse_dtype("BF16"), DType::kBF16);
  EXPECT_EQ(parse_dtype("e4m3"), DType::kE4M3);
  EXPECT_EQ(parse_dtype("float8_e4m3fn"), DType::kE4M3);
  EXPECT_EQ(parse_dtype("e5m2"), DType::kE5M2);
  EXPECT_EQ(parse_dtype("float8_e5m2"), DType::kE5M2);
  EXPECT_EQ(parse_dtype("i8"), DType::kI8);
  EXPECT_EQ(parse_dtype("i32"), DType::kI32);
}

TEST(DType, UnknownNameIsAnErrorNamingIt) {
  try {
    parse_dtype("fp4");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("'fp4'"), std::string::npos) << e.what();
    EXPECT_NE(e.message().find("fp8_e4m3"), std::string::npos) << e.what();
  }
  // "fp8" alone is ambiguous as a dtype (the rule parser gives it a meaning, not this one).
  EXPECT_THROW(parse_dtype("fp8"), Error);
}

}  // namespace
}  // namespace qjit
