#pragma once
// Shared by the tests that run an op on every device: whether a device can run here, and
// why not (the tests skip visibly with that reason).

#include <string>

#include "common/error.hpp"
#include "runtime/device.hpp"
#include "tests/support/cuda_required.hpp"

namespace qjit::test {

/// False (with the reason) when `d` cannot run here; a cuda device that is required
/// (tests/support/cuda_required.hpp) and missing also fails the test.
inline bool device_available(const Device& d, std::string& why) {
  if (d.kind == DeviceKind::kCpu) return true;
  try {
    driver_for(d);
    return true;
  } catch (const Error& e) {
    why = e.message();
    if (d.kind == DeviceKind::kCuda && cuda_required()) ADD_FAILURE() << "cuda required but unavailable: " << why;
    return false;
  }
}

}  // namespace qjit::test
