#include "cli_device.hpp"

#include <cstdlib>

#include "common/error.hpp"
#include "runtime/driver/cuda_driver.hpp"

namespace qjit::cli {

Device parse_device_flag(const std::string& text, const char* sub) {
  if (text.rfind("sim:", 0) == 0) {
    // NOTE: the sim driver is created on first use from QJIT_SIM_ARCH, which is read then.
    ::setenv("QJIT_SIM_ARCH", text.substr(4).c_str(), 1);
    return Device::sim();
  }
  Device device;
  try {
    device = Device::parse(text);
  } catch (const Error& e) {
    QJIT_THROW(sub, "--device {}: {}", text, e.message());
  }
  QJIT_CHECK_GEN(sub, device.kind != DeviceKind::kCuda || cuda_available(), "--device {}: no GPU answers ({})", text,
                 cuda_unavailable_reason());
  return device;
}

}  // namespace qjit::cli
