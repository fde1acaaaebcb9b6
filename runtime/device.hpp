#pragma once
// Devices: cpu (host memory; kernels compiled for this CPU by Clang/LLVM in process, through
// runtime/host_driver.hpp), cpu:ref (host memory; the plain C++ reference, the oracle), cuda
// (a GPU through libcuda), sim (NVRTC's PTX interpreted on the CPU, behind the same Driver
// interface).

#include <memory>
#include <string>
#include <string_view>

namespace qjit {

enum class DeviceKind { kCpu, kCuda, kSim };

struct Device {
  DeviceKind kind = DeviceKind::kCpu;
  int index = 0;

  static constexpr int kCpuReference = 1;  // the cpu index of cpu:ref
  static Device cpu() { return {DeviceKind::kCpu, 0}; }
  static Device cpu_ref() { return {DeviceKind::kCpu, kCpuReference}; }
  static Device cuda(int index = 0) { return {DeviceKind::kCuda, index}; }
  static Device sim() { return {DeviceKind::kSim, 0}; }
  // "cpu", "cpu:ref", "cuda", "cuda:1", "sim", or "auto" (cuda when a GPU answers, else cpu,
  // or cpu:ref when the cpu device's compiler is missing).
  static Device parse(std::string_view text);
  // QJIT_DEVICE, else auto.
  static Device default_device();

  std::string str() const;
  bool is_host() const { return kind == DeviceKind::kCpu; }
  /// The cpu device that runs compiled host kernels (not cpu:ref).
  bool runs_host_kernels() const { return kind == DeviceKind::kCpu && index != kCpuReference; }
  bool operator==(const Device&) const = default;
};

class Driver;
// The driver behind a non-host device (one per device per process, created on first use).
// Throws qjit::Error with a clear message when the device is not available (no GPU, no
// libcuda.so.1, sim not built in).
std::shared_ptr<Driver> driver_for(const Device& device);

/// How a driver of a device kind implemented outside runtime/ is made: sim/ registers the
/// sim device's (a peer of the cuda binding under the Driver interface) when it is linked in.
using DriverFactory = std::shared_ptr<Driver> (*)(const Device& device);
void register_driver_factory(DeviceKind kind, DriverFactory factory);

}  // namespace qjit
