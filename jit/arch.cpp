#include "jit/arch.hpp"

#include <algorithm>
#include <cctype>

#include "common/error.hpp"
#include "jit/nvrtc_api.hpp"

namespace qjit::jit {

Arch Arch::parse(std::string_view text) {
  std::string s(text);
  if (s == "host") return host();
  std::string t = s;
  if (t.rfind("sm_", 0) == 0) t = t.substr(3);
  else if (t.rfind("sm", 0) == 0) t = t.substr(2);
  Arch a;
  if (!t.empty() && t.back() == 'a') {
    a.accel = true;
    t.pop_back();
  }
  if (auto dot = t.find('.'); dot != std::string::npos) t.erase(dot, 1);
  const bool digits = !t.empty() && t.size() <= 3 && std::all_of(t.begin(), t.end(), [](unsigned char c) { return std::isdigit(c); });
  QJIT_CHECK_GEN("jit", digits, "bad arch '{}': expected e.g. sm_80, sm_89, sm_90a", s);
  a.number = std::stoi(t);
  QJIT_CHECK_GEN("jit", a.number >= 50 && a.number < 200, "bad arch '{}': compute capability out of range", s);
  return a;
}

std::string Arch::str() const {
  if (is_host()) return "host";
  return "sm_" + std::to_string(number) + (accel ? "a" : "");
}

std::vector<Arch> supported_archs() {
  std::vector<Arch> out = {{80, false}, {86, false}, {89, false}, {90, false}, {90, true}};
  // Without NVRTC (a deployment from a bundle) the list is the one above.
  const NvrtcApi* api = nvrtc_api();
  int n = 0;
  if (api != nullptr && api->nvrtcGetNumSupportedArchs(&n) == NVRTC_SUCCESS && n > 0) {
    std::vector<int> nums(n);
    if (api->nvrtcGetSupportedArchs(nums.data()) == NVRTC_SUCCESS) {
      for (int v : nums) {
        Arch a{v, false};
        if (v >= 80 && std::find(out.begin(), out.end(), a) == out.end()) out.push_back(a);
      }
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<Arch> default_archs() { return {{80, false}, {89, false}, {90, false}}; }

}  // namespace qjit::jit
