#include "cli_device.hpp"

#include <cstdlib>

#include "common/error.hpp"
#include "common/knobs.hpp"
#include "jit/host_compiler.hpp"
#include "sim/sim_driver.hpp"
#include "runtime/driver/cuda_driver.hpp"

namespace qjit::cli {

Device parse_device_flag(const std::string& flag, const char* sub, bool require_available) {
  const auto env = knobs::device();
  const bool from_env = flag.empty() && env && !env->empty();
  const std::string text = !flag.empty() ? flag : from_env ? *env : "cpu";
  const char* source = from_env ? "QJIT_DEVICE=" : "--device ";
  if (text.rfind("sim:", 0) == 0) {
    const std::string arch = text.substr(4);
    try {
      sim::SimDeviceConfig::for_arch(arch);
    } catch (const Error& e) {
      QJIT_THROW(sub, "{}{}: {}", source, text, e.message());
    }
    // NOTE: the sim driver is created on first use from QJIT_SIM_ARCH, which is read then.
    ::setenv("QJIT_SIM_ARCH", arch.c_str(), 1);
    return Device::sim();
  }
  Device device;
  try {
    device = Device::parse(text);
  } catch (const Error& e) {
    QJIT_THROW(sub, "{}{}: {}", source, text, e.message());
  }
  QJIT_CHECK_GEN(sub, !require_available || device.kind != DeviceKind::kCuda || cuda_available(), "{}{}: no GPU answers ({})", source, text,
                 cuda_unavailable_reason());
  std::string why;
  QJIT_CHECK_GEN(sub, !require_available || !device.runs_host_kernels() || jit::host_compiler_available(&why), "{}{}: {}",
                 source, text, why);
  return device;
}

std::vector<jit::Arch> parse_arch_flags(const std::vector<std::string>& flags, const char* sub) {
  std::vector<jit::Arch> out;
  for (const auto& flag : flags) {
    std::size_t pos = 0;
    while (pos <= flag.size()) {
      const std::size_t end = flag.find(',', pos);
      const std::string one = flag.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
      try {
        out.push_back(jit::Arch::parse(one));
      } catch (const Error& e) {
        QJIT_THROW(sub, "--arch {}: {}", flag, e.message());
      }
      if (end == std::string::npos) break;
      pos = end + 1;
    }
  }
  return out;
}

}  // namespace qjit::cli
