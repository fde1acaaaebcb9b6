#pragma once
// KernelSpec: what one compiled program is — a kernel family, its named typed parameters
// and the target arch. Canonical JSON (sorted keys, no whitespace) and a stable hash.

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <variant>

#include "jit/arch.hpp"

namespace qjit::jit {

// An enumerator of a C++ enum the template knows, e.g. {"qjit::dev::DType", "kBF16"}.
struct EnumValue {
  std::string type;
  std::string value;
  bool operator==(const EnumValue&) const = default;
};

using ParamValue = std::variant<std::int64_t, bool, EnumValue>;

class KernelSpec {
 public:
  KernelSpec() = default;
  KernelSpec(std::string family, Arch arch) : family_(std::move(family)), arch_(arch) {}

  KernelSpec& set(const std::string& name, std::int64_t v);
  KernelSpec& set(const std::string& name, int v) { return set(name, static_cast<std::int64_t>(v)); }
  KernelSpec& set(const std::string& name, bool v);
  KernelSpec& set(const std::string& name, EnumValue v);

  const std::string& family() const { return family_; }
  const Arch& arch() const { return arch_; }
  void set_arch(Arch a) { arch_ = a; }
  const std::map<std::string, ParamValue>& params() const { return params_; }
  const ParamValue& param(const std::string& name) const;  // throws naming the family

  nlohmann::json to_json() const;
  static KernelSpec from_json(const nlohmann::json& j);  // throws naming the bad field
  std::string canonical() const;  // compact JSON with sorted keys
  std::string hash() const;       // sha256 of canonical()
  std::string summary() const;    // "act_quant kIn=kBF16 kOut=kI8 kThreads=256 sm_90"

  bool operator==(const KernelSpec&) const = default;

 private:
  std::string family_;
  Arch arch_;
  std::map<std::string, ParamValue> params_;
};

}  // namespace qjit::jit
