// Scalar types, modifier parsing and the host floating-point environment check of the
// sim's scalar operations.

#include <gtest/gtest.h>

#include <cfenv>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "sim/scalar_ops.hpp"

namespace qjit::sim {
namespace {

using T = ScalarType;

TEST(ScalarTypes, ParseNamesWithOrWithoutTheDot) {
  EXPECT_EQ(parse_scalar_type(".u32"), T::kU32);
  EXPECT_EQ(parse_scalar_type("u32"), T::kU32);
  EXPECT_EQ(parse_scalar_type("bf16x2"), T::kBF16x2);
  EXPECT_EQ(parse_scalar_type(".e4m3x2"), T::kE4M3x2);
  EXPECT_EQ(parse_scalar_type("pred"), T::kPred);
  EXPECT_THROW(parse_scalar_type(".u128"), Error);
  EXPECT_THROW(parse_scalar_type(""), Error);
  for (int i = 0; i <= static_cast<int>(T::kPred); ++i) {
    const auto t = static_cast<T>(i);
    EXPECT_EQ(parse_scalar_type(scalar_type_name(t)), t);
  }
}

TEST(ScalarTypes, BitsAndClasses) {
  EXPECT_EQ(type_bits(T::kS8), 8);
  EXPECT_EQ(type_bits(T::kB16), 16);
  EXPECT_EQ(type_bits(T::kF16), 16);
  EXPECT_EQ(type_bits(T::kF16x2), 32);
  EXPECT_EQ(type_bits(T::kE5M2x2), 16);
  EXPECT_EQ(type_bits(T::kU64), 64);
  EXPECT_EQ(type_bits(T::kPred), 1);
  EXPECT_TRUE(is_signed_int(T::kS16));
  EXPECT_FALSE(is_signed_int(T::kU16));
  EXPECT_TRUE(is_unsigned_int(T::kB32));
  EXPECT_FALSE(is_unsigned_int(T::kF32));
  EXPECT_TRUE(is_float(T::kBF16));
  EXPECT_TRUE(is_float(T::kE4M3x2));
  EXPECT_FALSE(is_float(T::kPred));
  EXPECT_TRUE(is_packed(T::kF16x2));
  EXPECT_FALSE(is_packed(T::kF16));
}

TEST(ScalarTypes, RoundingAndCvtModifiers) {
  EXPECT_EQ(parse_rounding(".rni"), Rounding::kRni);
  EXPECT_EQ(parse_rounding("rp"), Rounding::kRp);
  EXPECT_EQ(parse_rounding("rna"), Rounding::kNone);
  EXPECT_TRUE(is_integer_rounding(Rounding::kRzi));
  EXPECT_FALSE(is_integer_rounding(Rounding::kRz));
  const std::vector<std::string> mods = {"rn", "satfinite", "relu", "e4m3x2", "f32"};
  const CvtMods m = parse_cvt_mods(mods);
  EXPECT_EQ(m.rnd, Rounding::kRn);
  EXPECT_TRUE(m.satfinite);
  EXPECT_TRUE(m.relu);
  EXPECT_FALSE(m.sat);
  EXPECT_FALSE(m.ftz);
  const CvtMods n = parse_cvt_mods({".rzi", ".ftz", ".sat"});
  EXPECT_EQ(n.rnd, Rounding::kRzi);
  EXPECT_TRUE(n.ftz);
  EXPECT_TRUE(n.sat);
  CvtMods k;
  EXPECT_FALSE(apply_cvt_mod(k, "s32"));
  EXPECT_TRUE(apply_cvt_mod(k, "rm"));
  EXPECT_EQ(k.rnd, Rounding::kRm);
}

TEST(ScalarTypes, HostEnvironmentCheck) {
  EXPECT_NO_THROW(check_host_fp_env());
  ASSERT_EQ(std::fesetround(FE_UPWARD), 0);
  EXPECT_THROW(check_host_fp_env(), Error);
  std::fesetround(FE_TONEAREST);
  EXPECT_NO_THROW(check_host_fp_env());
}

}  // namespace
}  // namespace qjit::sim
