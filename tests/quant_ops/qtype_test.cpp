#include "common/qtype.hpp"

#include <gtest/gtest.h>

#include <string>

#include "common/error.hpp"

namespace qjit {
namespace {

TEST(QType, CanonicalNamesRoundTrip) {
  for (QType q : {QType::kNone, QType::kInt8, QType::kE4M3, QType::kE5M2}) {
    EXPECT_EQ(parse_qtype(qtype_name(q)), q) << qtype_name(q);
  }
  EXPECT_EQ(qtype_name(QType::kNone), "none");
  EXPECT_EQ(qtype_name(QType::kInt8), "int8");
  EXPECT_EQ(qtype_name(QType::kE4M3), "fp8_e4m3");
  EXPECT_EQ(qtype_name(QType::kE5M2), "fp8_e5m2");
}

TEST(QType, Aliases) {
  EXPECT_EQ(parse_qtype("fp8"), QType::kE4M3);  // LightX2V's plain "fp8" is e4m3
  EXPECT_EQ(parse_qtype("e4m3"), QType::kE4M3);
  EXPECT_EQ(parse_qtype("fp8_e4m3fn"), QType::kE4M3);
  EXPECT_EQ(parse_qtype("float8_e4m3fn"), QType::kE4M3);
  EXPECT_EQ(parse_qtype("FP8-E4M3"), QType::kE4M3);
  EXPECT_EQ(parse_qtype("e5m2"), QType::kE5M2);
  EXPECT_EQ(parse_qtype("fp8-e5m2"), QType::kE5M2);
  EXPECT_EQ(parse_qtype("INT8"), QType::kInt8);
  EXPECT_EQ(parse_qtype("i8"), QType::kInt8);
}

TEST(QType, UnknownNameIsNamedWithTheValidOnes) {
  for (const char* bad : {"int4", "", "fp8_e4m3fnuz", "fp16"}) {
    try {
      parse_qtype(bad);
      FAIL() << "accepted '" << bad << "'";
    } catch (const Error& e) {
      const std::string m = e.message();
      EXPECT_NE(m.find(std::string("'") + bad + "'"), std::string::npos) << m;
      EXPECT_NE(m.find("int8, fp8_e4m3, fp8_e5m2, none"), std::string::npos) << m;
      EXPECT_EQ(e.subsystem(), "quant_ops");
    }
  }
}

TEST(QType, MaxAndStorage) {
  EXPECT_EQ(qtype_max(QType::kInt8), 127.0f);
  EXPECT_EQ(qtype_max(QType::kE4M3), 448.0f);
  EXPECT_EQ(qtype_max(QType::kE5M2), 57344.0f);
  EXPECT_THROW(qtype_max(QType::kNone), Error);
  EXPECT_EQ(qtype_storage(QType::kInt8), DType::kI8);
  EXPECT_EQ(qtype_storage(QType::kE4M3), DType::kE4M3);
  EXPECT_EQ(qtype_storage(QType::kE5M2), DType::kE5M2);
  EXPECT_THROW(qtype_storage(QType::kNone), Error);
}

TEST(Granularity, CanonicalNamesRoundTrip) {
  for (Granularity g : {Granularity::kPerTensor, Granularity::kPerChannel, Granularity::kPerToken,
                        Granularity::kBlock128, Granularity::kGroup128}) {
    EXPECT_EQ(parse_granularity(granularity_name(g)), g) << granularity_name(g);
  }
  EXPECT_EQ(granularity_name(Granularity::kPerTensor), "per_tensor");
  EXPECT_EQ(granularity_name(Granularity::kPerChannel), "per_channel");
  EXPECT_EQ(granularity_name(Granularity::kPerToken), "per_token");
  EXPECT_EQ(granularity_name(Granularity::kBlock128), "block128");
  EXPECT_EQ(granularity_name(Granularity::kGroup128), "group128");
}

TEST(Granularity, Aliases) {
  EXPECT_EQ(parse_granularity("per-token"), Granularity::kPerToken);
  EXPECT_EQ(parse_granularity("Per_Tensor"), Granularity::kPerTensor);
  EXPECT_EQ(parse_granularity("channel"), Granularity::kPerChannel);
  EXPECT_EQ(parse_granularity("token"), Granularity::kPerToken);
}

TEST(Granularity, UnknownNameIsNamedWithTheValidOnes) {
  try {
    parse_granularity("block64");
    FAIL() << "accepted block64";
  } catch (const Error& e) {
    const std::string m = e.message();
    EXPECT_NE(m.find("'block64'"), std::string::npos) << m;
    EXPECT_NE(m.find("per_tensor, per_channel, per_token, block128, group128"), std::string::npos) << m;
  }
}

}  // namespace
}  // namespace qjit
