#include "runtime/plan_driver.hpp"

#include <cstring>

#include "common/error.hpp"
#include "sim/sim_driver.hpp"

namespace qjit {

namespace {
constexpr const char* kSub = "plan";
constexpr DevicePtr kAlign = 256;
}  // namespace

PlanDriver::PlanDriver(const std::string& arch) : props_(sim::SimDeviceConfig::for_arch(arch).props) {}

DevicePtr PlanDriver::alloc(std::size_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  const DevicePtr base = next_;
  next_ += (static_cast<DevicePtr>(bytes) + kAlign - 1) / kAlign * kAlign + kAlign;
  Block b;
  b.bytes = bytes;
  if (bytes <= kBackedBytes) b.data.assign(bytes, 0);
  blocks_.emplace(base, std::move(b));
  return base;
}

void PlanDriver::free(DevicePtr ptr) {
  std::lock_guard<std::mutex> lock(mu_);
  QJIT_CHECK_GEN(kSub, blocks_.erase(ptr) == 1, "free of 0x{:x}, which is no allocation", ptr);
}

PlanDriver::Block* PlanDriver::find(DevicePtr addr, std::size_t bytes, DevicePtr& base) {
  auto it = blocks_.upper_bound(addr);
  if (it == blocks_.begin()) return nullptr;
  --it;
  if (addr + bytes > it->first + it->second.bytes) return nullptr;
  base = it->first;
  return &it->second;
}

void PlanDriver::copy_to_device(DevicePtr dst, const void* src, std::size_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  DevicePtr base = 0;
  Block* b = find(dst, bytes, base);
  QJIT_CHECK_GEN(kSub, b != nullptr, "copy of {} bytes to 0x{:x}, outside every allocation", bytes, dst);
  if (!b->data.empty() && bytes > 0) std::memcpy(b->data.data() + (dst - base), src, bytes);
}

void PlanDriver::copy_to_host(void* dst, DevicePtr src, std::size_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  DevicePtr base = 0;
  Block* b = find(src, bytes, base);
  QJIT_CHECK_GEN(kSub, b != nullptr, "copy of {} bytes from 0x{:x}, outside every allocation", bytes, src);
  if (bytes == 0) return;
  if (b->data.empty()) std::memset(dst, 0, bytes);
  else std::memcpy(dst, b->data.data() + (src - base), bytes);
}

void PlanDriver::copy_device(DevicePtr dst, DevicePtr src, std::size_t bytes) {
  std::vector<std::uint8_t> tmp(bytes);
  copy_to_host(tmp.data(), src, bytes);
  copy_to_device(dst, tmp.data(), bytes);
}

void PlanDriver::memset8(DevicePtr dst, std::uint8_t value, std::size_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  DevicePtr base = 0;
  Block* b = find(dst, bytes, base);
  QJIT_CHECK_GEN(kSub, b != nullptr, "memset of {} bytes at 0x{:x}, outside every allocation", bytes, dst);
  if (!b->data.empty() && bytes > 0) std::memset(b->data.data() + (dst - base), value, bytes);
}

namespace {
// Handles are indices + 1 (never null).
void* handle_of(std::size_t index) {
  return reinterpret_cast<void*>(static_cast<std::uintptr_t>(index + 1));
}
std::size_t index_of(void* handle) { return static_cast<std::size_t>(reinterpret_cast<std::uintptr_t>(handle)) - 1; }
}  // namespace

ModuleHandle PlanDriver::load_module(const ModuleImage& image) {
  QJIT_CHECK_GEN(kSub, image.spec != nullptr, "module {} carries no spec to plan", image.name);
  std::lock_guard<std::mutex> lock(mu_);
  modules_.push_back(*image.spec);
  return handle_of(modules_.size() - 1);
}

void PlanDriver::unload_module(ModuleHandle) {}

FunctionHandle PlanDriver::get_function(ModuleHandle module, const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::size_t m = index_of(module);
  QJIT_CHECK_GEN(kSub, m < modules_.size(), "function {} of a module this device did not load", name);
  // The entry's template: the name without its config argument (a spec-only module names its
  // functions by their name expressions, runtime/kernels.cpp).
  const std::string kernel_template = name.substr(0, name.find('<'));
  for (std::size_t i = 0; i < planned_.size(); ++i) {
    if (planned_[i].spec == modules_[m] && planned_[i].kernel_template == kernel_template) return handle_of(i);
  }
  planned_.push_back({modules_[m], kernel_template, 0});
  return handle_of(planned_.size() - 1);
}

int PlanDriver::get_attribute(FunctionHandle, FuncAttr attr) {
  // What the device allows; a kernel that never compiled has no registers or static memory.
  switch (attr) {
    case FuncAttr::kMaxThreadsPerBlock: return props_.max_threads_per_block;
    case FuncAttr::kMaxDynamicSharedBytes: return static_cast<int>(props_.smem_per_block_optin);
    default: return 0;
  }
}
void PlanDriver::set_attribute(FunctionHandle, FuncAttr, int) {}

void PlanDriver::launch(FunctionHandle fn, const LaunchConfig&, void**) {
  count_launch();
  std::lock_guard<std::mutex> lock(mu_);
  const std::size_t i = index_of(fn);
  QJIT_CHECK_GEN(kSub, i < planned_.size(), "launch of a function this device did not record");
  ++planned_[i].launches;
}

std::vector<PlannedLaunch> PlanDriver::planned() const {
  std::lock_guard<std::mutex> lock(mu_);
  return planned_;
}

}  // namespace qjit
