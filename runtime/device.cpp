#include "runtime/device.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>
#include <mutex>

#include "common/error.hpp"
#include "common/knobs.hpp"
#include "runtime/driver.hpp"
#include "jit/host_compiler.hpp"
#include "runtime/driver/cuda_driver.hpp"
#include "runtime/host_driver.hpp"

namespace qjit {

namespace {

constexpr const char* kValidForms = "cpu, cpu:ref, cuda, cuda:N (N = 0, 1, ...), sim, auto";

std::string normalized(std::string_view text) {
  auto is_space = [](unsigned char c) { return std::isspace(c) != 0; };
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  std::string s(text);
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// One driver per device per process, created on first use.
// NOTE: deliberately never destroyed: drivers release libcuda objects, and at process exit
// libcuda may already have torn itself down; the OS reclaims everything anyway.
struct Registry {
  std::mutex mutex;
  std::map<std::pair<DeviceKind, int>, std::shared_ptr<Driver>> drivers;
  std::map<DeviceKind, DriverFactory> factories;  // the kinds whose drivers live outside runtime/
};

Registry& registry() {
  static Registry* r = new Registry;
  return *r;
}

std::shared_ptr<Driver> create_driver(const Device& device) {
  switch (device.kind) {
    case DeviceKind::kCpu:
      QJIT_CHECK_GEN("device", device.runs_host_kernels(), "cpu:ref has no Driver: it runs the plain reference");
      return std::make_shared<HostDriver>();
    case DeviceKind::kCuda:
      QJIT_CHECK_GEN("cuda", cuda_available(), "no GPU: {}", cuda_unavailable_reason());
      return std::make_shared<CudaDriver>(device.index);
    case DeviceKind::kSim: {
      const auto it = registry().factories.find(DeviceKind::kSim);
      QJIT_CHECK_GEN("device", it != registry().factories.end(),
                     "the sim device is not linked into this program (link qjit_sim, as the qjit target does)");
      return it->second(device);
    }
  }
  QJIT_THROW("device", "unknown device kind {}", static_cast<int>(device.kind));
}

}  // namespace

Device Device::parse(std::string_view text) {
  const std::string s = normalized(text);
  if (s == "cpu") return cpu();
  if (s == "cpu:ref") return cpu_ref();
  if (s == "sim") return sim();
  if (s == "cuda") return cuda(0);
  if (s == "auto") {
    if (cuda_available()) return cuda(0);
    return jit::host_compiler_available() ? cpu() : cpu_ref();
  }
  if (s.starts_with("cuda:")) {
    const char* first = s.data() + 5;
    const char* last = s.data() + s.size();
    int index = -1;
    auto [end, ec] = std::from_chars(first, last, index);
    if (first != last && ec == std::errc() && end == last && index >= 0) {
      return cuda(index);
    }
  }
  QJIT_THROW("device", "bad device '{}': expected one of {}", text, kValidForms);
}

Device Device::default_device() {
  auto value = knobs::device();
  if (!value || normalized(*value).empty()) return parse("auto");
  try {
    return parse(*value);
  } catch (const Error& e) {
    QJIT_THROW("device", "QJIT_DEVICE: {}", e.message());
  }
}

std::string Device::str() const {
  switch (kind) {
    case DeviceKind::kCpu: return index == kCpuReference ? "cpu:ref" : "cpu";
    case DeviceKind::kCuda: return "cuda:" + std::to_string(index);
    case DeviceKind::kSim: return "sim";
  }
  return "unknown";
}

std::string DeviceProps::arch_name() const {
  if (arch == 0) return "host";
  return fmt::format("sm_{}{}", arch, arch_accel && arch == 90 ? "a" : "");
}

void register_driver_factory(DeviceKind kind, DriverFactory factory) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  r.factories[kind] = factory;
}

std::shared_ptr<Driver> driver_for(const Device& device) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  auto key = std::make_pair(device.kind, device.index);
  if (auto it = r.drivers.find(key); it != r.drivers.end()) return it->second;
  // A failure is not cached: the next call tries again (and says why again).
  std::shared_ptr<Driver> driver = create_driver(device);
  r.drivers.emplace(key, driver);
  return driver;
}


}  // namespace qjit
