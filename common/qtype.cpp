#include "common/qtype.hpp"

#include <array>
#include <cctype>
#include <string>

#include "common/error.hpp"

namespace qjit {

namespace {

struct QTypeAlias {
  std::string_view name;
  QType qtype;
};

// NOTE: keys are lower case with '_' (parse normalizes its input to that). Plain "fp8" means
// e4m3, as in LightX2V's mm_type names.
constexpr std::array kQTypeAliases = {
    QTypeAlias{"none", QType::kNone},          QTypeAlias{"int8", QType::kInt8},
    QTypeAlias{"i8", QType::kInt8},            QTypeAlias{"s8", QType::kInt8},
    QTypeAlias{"fp8_e4m3", QType::kE4M3},      QTypeAlias{"fp8", QType::kE4M3},
    QTypeAlias{"e4m3", QType::kE4M3},          QTypeAlias{"e4m3fn", QType::kE4M3},
    QTypeAlias{"fp8_e4m3fn", QType::kE4M3},    QTypeAlias{"float8_e4m3fn", QType::kE4M3},
    QTypeAlias{"fp8_e5m2", QType::kE5M2},      QTypeAlias{"e5m2", QType::kE5M2},
    QTypeAlias{"float8_e5m2", QType::kE5M2},
};

struct GranularityAlias {
  std::string_view name;
  Granularity granularity;
};

constexpr std::array kGranularityAliases = {
    GranularityAlias{"per_tensor", Granularity::kPerTensor},
    GranularityAlias{"tensor", Granularity::kPerTensor},
    GranularityAlias{"per_channel", Granularity::kPerChannel},
    GranularityAlias{"channel", Granularity::kPerChannel},
    GranularityAlias{"per_token", Granularity::kPerToken},
    GranularityAlias{"token", Granularity::kPerToken},
    GranularityAlias{"block128", Granularity::kBlock128},
    GranularityAlias{"group128", Granularity::kGroup128},
};

// Lower case, '-' as '_': "FP8-E4M3" and "fp8_e4m3" name the same thing.
std::string normalize(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = c == '-' ? '_' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

std::string_view qtype_name(QType q) {
  switch (q) {
    case QType::kNone: return "none";
    case QType::kInt8: return "int8";
    case QType::kE4M3: return "fp8_e4m3";
    case QType::kE5M2: return "fp8_e5m2";
  }
  QJIT_THROW("quant_ops", "invalid QType value {}", static_cast<int>(q));
}

QType parse_qtype(std::string_view name) {
  const std::string key = normalize(name);
  for (const QTypeAlias& a : kQTypeAliases) {
    if (a.name == key) return a.qtype;
  }
  QJIT_THROW("quant_ops",
             "unknown qtype '{}' (expected one of int8, fp8_e4m3, fp8_e5m2, none; \"fp8\" means fp8_e4m3)",
             name);
}

float qtype_max(QType q) {
  switch (q) {
    case QType::kInt8: return 127.0f;
    case QType::kE4M3: return 448.0f;
    case QType::kE5M2: return 57344.0f;
    case QType::kNone: break;
  }
  QJIT_THROW("quant_ops", "qtype '{}' has no quantized range", qtype_name(q));
}

DType qtype_storage(QType q) {
  switch (q) {
    case QType::kInt8: return DType::kI8;
    case QType::kE4M3: return DType::kE4M3;
    case QType::kE5M2: return DType::kE5M2;
    case QType::kNone: break;
  }
  QJIT_THROW("quant_ops", "qtype '{}' has no storage dtype: the tensor stays in its float dtype",
             qtype_name(q));
}

std::string_view granularity_name(Granularity g) {
  switch (g) {
    case Granularity::kPerTensor: return "per_tensor";
    case Granularity::kPerChannel: return "per_channel";
    case Granularity::kPerToken: return "per_token";
    case Granularity::kBlock128: return "block128";
    case Granularity::kGroup128: return "group128";
  }
  QJIT_THROW("quant_ops", "invalid Granularity value {}", static_cast<int>(g));
}

Granularity parse_granularity(std::string_view name) {
  const std::string key = normalize(name);
  for (const GranularityAlias& a : kGranularityAliases) {
    if (a.name == key) return a.granularity;
  }
  QJIT_THROW("quant_ops",
             "unknown granularity '{}' (expected one of per_tensor, per_channel, per_token, block128, group128)",
             name);
}

std::string_view activation_name(Activation a) {
  switch (a) {
    case Activation::kNone: return "none";
    case Activation::kGeluTanh: return "gelu_tanh";
  }
  return "?";
}

Activation parse_activation(std::string_view name) {
  std::string key;
  for (char c : name) key += c == '-' ? '_' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (key == "none") return Activation::kNone;
  if (key == "gelu_tanh" || key == "gelu") return Activation::kGeluTanh;
  QJIT_THROW("quant_ops", "unknown activation '{}' (expected none or gelu_tanh)", name);
}

std::optional<QType> qtype_of_storage(DType t) {
  switch (t) {
    case DType::kI8: return QType::kInt8;
    case DType::kE4M3: return QType::kE4M3;
    case DType::kE5M2: return QType::kE5M2;
    default: return std::nullopt;
  }
}

}  // namespace qjit
