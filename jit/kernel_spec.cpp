#include "jit/kernel_spec.hpp"

#include "common/error.hpp"
#include "common/sha256.hpp"

namespace qjit::jit {

namespace {
bool valid_identifier(const std::string& s) {
  if (s.empty() || !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  }
  return true;
}
void check_name(const std::string& family, const std::string& name) {
  QJIT_CHECK_GEN("jit", valid_identifier(name), "kernel spec '{}': parameter name '{}' is not a C++ identifier",
                 family, name);
}
}  // namespace

KernelSpec& KernelSpec::set(const std::string& name, std::int64_t v) {
  check_name(family_, name);
  params_[name] = v;
  return *this;
}
KernelSpec& KernelSpec::set(const std::string& name, bool v) {
  check_name(family_, name);
  params_[name] = v;
  return *this;
}
KernelSpec& KernelSpec::set(const std::string& name, EnumValue v) {
  check_name(family_, name);
  QJIT_CHECK_GEN("jit", valid_identifier(v.value), "kernel spec '{}': enumerator '{}' of '{}' is not an identifier",
                 family_, v.value, name);
  params_[name] = std::move(v);
  return *this;
}

const ParamValue& KernelSpec::param(const std::string& name) const {
  auto it = params_.find(name);
  QJIT_CHECK_GEN("jit", it != params_.end(), "kernel spec '{}' has no parameter '{}'", family_, name);
  return it->second;
}

nlohmann::json KernelSpec::to_json() const {
  nlohmann::json params = nlohmann::json::object();
  for (const auto& [name, value] : params_) {
    if (auto* i = std::get_if<std::int64_t>(&value)) params[name] = {{"int", *i}};
    else if (auto* b = std::get_if<bool>(&value)) params[name] = {{"bool", *b}};
    else {
      const auto& e = std::get<EnumValue>(value);
      params[name] = {{"enum", e.type}, {"value", e.value}};
    }
  }
  return {{"family", family_}, {"arch", arch_.str()}, {"params", params}};
}

KernelSpec KernelSpec::from_json(const nlohmann::json& j) {
  QJIT_CHECK_GEN("jit", j.is_object() && j.contains("family") && j.contains("arch") && j.contains("params"),
                 "kernel spec JSON needs 'family', 'arch' and 'params': {}", j.dump());
  KernelSpec s(j.at("family").get<std::string>(), Arch::parse(j.at("arch").get<std::string>()));
  for (const auto& [name, v] : j.at("params").items()) {
    if (v.contains("int")) s.set(name, v.at("int").get<std::int64_t>());
    else if (v.contains("bool")) s.set(name, v.at("bool").get<bool>());
    else if (v.contains("enum")) s.set(name, EnumValue{v.at("enum").get<std::string>(), v.at("value").get<std::string>()});
    else QJIT_THROW("jit", "kernel spec '{}': parameter '{}' has no type: {}", s.family_, name, v.dump());
  }
  return s;
}

std::string KernelSpec::canonical() const { return to_json().dump(); }  // nlohmann sorts object keys

std::string KernelSpec::hash() const { return sha256_hex(canonical()); }

std::string KernelSpec::summary() const {
  std::string out = family_;
  for (const auto& [name, value] : params_) {
    out += " " + name + "=";
    if (auto* i = std::get_if<std::int64_t>(&value)) out += std::to_string(*i);
    else if (auto* b = std::get_if<bool>(&value)) out += *b ? "true" : "false";
    else out += std::get<EnumValue>(value).value;
  }
  return out + " " + arch_.str();
}

}  // namespace qjit::jit
