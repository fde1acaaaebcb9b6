#pragma once
// Shared by the tests that run an op on every device: whether a device can run here, and
// why not (the tests skip visibly with that reason).

#include <string>

#include "common/error.hpp"
#include "runtime/device.hpp"

namespace qjit::test {

inline bool device_available(const Device& d, std::string& why) {
  if (d.kind == DeviceKind::kCpu) return true;
  try {
    driver_for(d);
    return true;
  } catch (const Error& e) {
    why = e.message();
    return false;
  }
}

}  // namespace qjit::test
