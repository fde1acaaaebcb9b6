// Scalar types, modifier parsing and the host floating-point environment check.

#include <cfenv>
#include <string>

#include "common/error.hpp"
#include "sim/scalar_ops.hpp"

namespace qjit::sim {

namespace {

struct TypeInfo {
  std::string_view name;
  ScalarType type;
  int bits;
};

constexpr TypeInfo kTypes[] = {
    {"b8", ScalarType::kB8, 8},          {"b16", ScalarType::kB16, 16},
    {"b32", ScalarType::kB32, 32},       {"b64", ScalarType::kB64, 64},
    {"u8", ScalarType::kU8, 8},          {"u16", ScalarType::kU16, 16},
    {"u32", ScalarType::kU32, 32},       {"u64", ScalarType::kU64, 64},
    {"s8", ScalarType::kS8, 8},          {"s16", ScalarType::kS16, 16},
    {"s32", ScalarType::kS32, 32},       {"s64", ScalarType::kS64, 64},
    {"f16", ScalarType::kF16, 16},       {"f32", ScalarType::kF32, 32},
    {"f64", ScalarType::kF64, 64},       {"bf16", ScalarType::kBF16, 16},
    {"f16x2", ScalarType::kF16x2, 32},   {"bf16x2", ScalarType::kBF16x2, 32},
    {"e4m3x2", ScalarType::kE4M3x2, 16}, {"e5m2x2", ScalarType::kE5M2x2, 16},
    {"pred", ScalarType::kPred, 1},
};

const TypeInfo& info(ScalarType t) {
  // NOTE: kTypes lists the enumerators in declaration order.
  return kTypes[static_cast<int>(t)];
}

std::string_view strip_dot(std::string_view s) { return !s.empty() && s.front() == '.' ? s.substr(1) : s; }

}  // namespace

ScalarType parse_scalar_type(std::string_view name) {
  const std::string_view n = strip_dot(name);
  for (const auto& t : kTypes) {
    if (t.name == n) return t.type;
  }
  QJIT_THROW("sim", "unknown scalar type '{}'", name);
}

std::string_view scalar_type_name(ScalarType t) { return info(t).name; }
int type_bits(ScalarType t) { return info(t).bits; }

bool is_signed_int(ScalarType t) { return t >= ScalarType::kS8 && t <= ScalarType::kS64; }
bool is_unsigned_int(ScalarType t) { return t <= ScalarType::kU64; }
bool is_float(ScalarType t) { return t >= ScalarType::kF16 && t <= ScalarType::kE5M2x2; }
bool is_packed(ScalarType t) { return t >= ScalarType::kF16x2 && t <= ScalarType::kE5M2x2; }

Rounding parse_rounding(std::string_view name) {
  const std::string_view n = strip_dot(name);
  if (n == "rn") return Rounding::kRn;
  if (n == "rz") return Rounding::kRz;
  if (n == "rm") return Rounding::kRm;
  if (n == "rp") return Rounding::kRp;
  if (n == "rni") return Rounding::kRni;
  if (n == "rzi") return Rounding::kRzi;
  if (n == "rmi") return Rounding::kRmi;
  if (n == "rpi") return Rounding::kRpi;
  return Rounding::kNone;
}

bool is_integer_rounding(Rounding r) { return r >= Rounding::kRni; }

bool apply_cvt_mod(CvtMods& m, std::string_view mod) {
  const std::string_view n = strip_dot(mod);
  if (const Rounding r = parse_rounding(n); r != Rounding::kNone) {
    m.rnd = r;
    return true;
  }
  if (n == "ftz") return m.ftz = true;
  if (n == "sat") return m.sat = true;
  if (n == "satfinite") return m.satfinite = true;
  if (n == "relu") return m.relu = true;
  return false;
}

CvtMods parse_cvt_mods(std::span<const std::string> mods) {
  CvtMods m;
  for (const auto& s : mods) apply_cvt_mod(m, s);
  return m;
}

CvtMods parse_cvt_mods(std::initializer_list<std::string_view> mods) {
  CvtMods m;
  for (const auto s : mods) apply_cvt_mod(m, s);
  return m;
}

void check_host_fp_env() {
  if (std::fegetround() != FE_TONEAREST) {
    QJIT_THROW("sim",
               "the host rounding mode is not round-to-nearest; the sim's float arithmetic needs the "
               "default floating-point environment (restore it with std::fesetround(FE_TONEAREST))");
  }
}

TestpOp parse_testp_op(std::string_view name) {
  const std::string_view n = strip_dot(name);
  if (n == "finite") return TestpOp::kFinite;
  if (n == "infinite") return TestpOp::kInfinite;
  if (n == "number") return TestpOp::kNumber;
  if (n == "notanumber") return TestpOp::kNotANumber;
  if (n == "normal") return TestpOp::kNormal;
  if (n == "subnormal") return TestpOp::kSubnormal;
  QJIT_THROW("sim", "unknown testp operation '{}'", name);
}

PrmtMode parse_prmt_mode(std::string_view name) {
  const std::string_view n = strip_dot(name);
  if (n.empty()) return PrmtMode::kDefault;
  if (n == "f4e") return PrmtMode::kF4e;
  if (n == "b4e") return PrmtMode::kB4e;
  if (n == "rc8") return PrmtMode::kRc8;
  if (n == "ecl") return PrmtMode::kEcl;
  if (n == "ecr") return PrmtMode::kEcr;
  if (n == "rc16") return PrmtMode::kRc16;
  QJIT_THROW("sim", "unknown prmt mode '{}'", name);
}

}  // namespace qjit::sim
