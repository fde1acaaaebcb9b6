#pragma once
// A CUDA target architecture: "sm_80", "sm_89", "sm_90a".

#include <string>
#include <string_view>
#include <vector>

namespace qjit::jit {

struct Arch {
  int number = 80;     // major * 10 + minor; 0: the host (the cpu device's programs)
  bool accel = false;  // the "a" suffix (arch-specific features, e.g. sm_90a)

  // Accepts "sm_90a", "sm90", "90", "9.0", and "host". Throws qjit::Error naming the string.
  static Arch parse(std::string_view text);
  static constexpr Arch host() { return {0, false}; }
  constexpr bool is_host() const { return number == 0; }
  std::string str() const;  // "sm_90a"; "host"
  auto operator<=>(const Arch&) const = default;
};

// The archs qjit ships configs for (sm_80, sm_86, sm_89, sm_90, sm_90a) plus every real arch
// NVRTC reports as supported.
std::vector<Arch> supported_archs();
// The archs `qjit run` compiles for when no GPU answers.
std::vector<Arch> default_archs();

}  // namespace qjit::jit
