#include "runtime/host_driver.hpp"

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "common/error.hpp"
#include "common/knobs.hpp"
#include "jit/host_compiler.hpp"

namespace qjit {

namespace {

using Clock = std::chrono::steady_clock;

// A host entry: one block of the grid (the generated extern "C" wrapper, jit/source_gen.cpp).
using HostEntry = void (*)(void* const* args, unsigned bx, unsigned by, unsigned bz);

std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  }
  return "host cpu";
}

unsigned pool_threads() {
  const unsigned knob = knobs::cpu_threads();
  if (knob > 0) return knob;
  return std::max(1u, std::thread::hardware_concurrency());
}

}  // namespace

HostDriver::HostDriver() : HostDriver(pool_threads(), nullptr) {}

// NOTE: the recorder is a PlanDriver for its bookkeeping only (modules as specs, functions as
// (spec, entry), launches counted); its GPU properties are never read. No pool threads.
HostDriver::HostDriver(Recording) : HostDriver(pool_threads(), std::make_unique<PlanDriver>("sm_90")) {}

HostDriver::HostDriver(unsigned threads, std::unique_ptr<PlanDriver> recorder)
    : pool_(recorder ? 1 : threads), threads_(threads), recorder_(std::move(recorder)) {
  props_.name = cpu_model_name();
  props_.arch = 0;  // jit::Arch::host()
  props_.sm_count = static_cast<int>(threads_);
  props_.max_threads_per_block = 1;
  props_.smem_per_block = props_.smem_per_block_optin = 0;
}

HostDriver::~HostDriver() = default;

unsigned HostDriver::threads() const { return max_threads_ == 0 ? threads_ : std::min(max_threads_, threads_); }

unsigned HostDriver::launch_threads(const LaunchConfig& config) const {
  return config.max_threads == 0 ? threads() : std::min(threads(), config.max_threads);
}

std::vector<PlannedLaunch> HostDriver::planned() const { return recorder_ ? recorder_->planned() : std::vector<PlannedLaunch>{}; }

DevicePtr HostDriver::alloc(std::size_t bytes) {
  void* p = std::aligned_alloc(64, (std::max<std::size_t>(bytes, 1) + 63) / 64 * 64);
  QJIT_CHECK_GEN("cpu", p != nullptr, "out of host memory allocating {} bytes", bytes);
  count_allocation();
  return reinterpret_cast<DevicePtr>(p);
}

void HostDriver::free(DevicePtr ptr) {
  if (ptr == 0) return;
  std::free(reinterpret_cast<void*>(ptr));
  count_free();
}

void HostDriver::copy_to_device(DevicePtr dst, const void* src, std::size_t bytes) {
  if (bytes) std::memcpy(reinterpret_cast<void*>(dst), src, bytes);
}

void HostDriver::copy_to_host(void* dst, DevicePtr src, std::size_t bytes) {
  if (bytes) std::memcpy(dst, reinterpret_cast<const void*>(src), bytes);
  count_synchronization();
}

void HostDriver::copy_device(DevicePtr dst, DevicePtr src, std::size_t bytes) {
  if (bytes) std::memmove(reinterpret_cast<void*>(dst), reinterpret_cast<const void*>(src), bytes);
}

void HostDriver::memset8(DevicePtr dst, std::uint8_t value, std::size_t bytes) {
  if (bytes) std::memset(reinterpret_cast<void*>(dst), value, bytes);
}

ModuleHandle HostDriver::load_module(const ModuleImage& image) {
  if (recorder_) return recorder_->load_module(image);
  QJIT_CHECK_GEN("cpu", !image.object.empty(), "{}: the cpu device runs host object code, and the image has none",
                 image.name);
  ModuleHandle module = jit::host_load(image.object, image.name);
  std::lock_guard<std::mutex> lock(loaded_mu_);
  loaded_.push_back(image.name);
  return module;
}

std::vector<std::string> HostDriver::loaded_modules() const {
  std::lock_guard<std::mutex> lock(loaded_mu_);
  return loaded_;
}

void HostDriver::unload_module(ModuleHandle module) {
  if (recorder_) return recorder_->unload_module(module);
  jit::host_unload(module);
}

FunctionHandle HostDriver::get_function(ModuleHandle module, const std::string& name) {
  if (recorder_) return recorder_->get_function(module, name);
  return jit::host_lookup(module, name);
}

int HostDriver::get_attribute(FunctionHandle, FuncAttr attr) {
  switch (attr) {
    case FuncAttr::kMaxThreadsPerBlock: return 1;
    case FuncAttr::kMaxDynamicSharedBytes:
    case FuncAttr::kNumRegs:
    case FuncAttr::kStaticSharedBytes:
    case FuncAttr::kLocalBytes: return 0;
  }
  return 0;
}

void HostDriver::set_attribute(FunctionHandle, FuncAttr attr, int value) {
  QJIT_CHECK_GEN("cpu", attr != FuncAttr::kMaxDynamicSharedBytes || value == 0,
                 "the cpu device has no shared memory ({} bytes asked)", value);
}

void HostDriver::launch(FunctionHandle fn, const LaunchConfig& config, void** args) {
  if (recorder_) return recorder_->launch(fn, config, args);
  count_launch();
  const auto entry = reinterpret_cast<HostEntry>(fn);
  const Dim3 g = config.grid;
  const std::int64_t blocks = static_cast<std::int64_t>(g.x) * g.y * g.z;
  pool_.parallel_for(
      blocks,
      [&](std::int64_t i) {
        const auto bx = static_cast<unsigned>(i % g.x);
        const auto by = static_cast<unsigned>((i / g.x) % g.y);
        const auto bz = static_cast<unsigned>(i / (static_cast<std::int64_t>(g.x) * g.y));
        entry(args, bx, by, bz);
      },
      launch_threads(config));
}

EventHandle HostDriver::create_event() { return new Clock::time_point(); }
void HostDriver::destroy_event(EventHandle event) { delete static_cast<Clock::time_point*>(event); }
void HostDriver::record_event(EventHandle event, StreamHandle) {
  *static_cast<Clock::time_point*>(event) = Clock::now();
}
float HostDriver::elapsed_ms(EventHandle start, EventHandle end) {
  return std::chrono::duration<float, std::milli>(*static_cast<Clock::time_point*>(end) -
                                                  *static_cast<Clock::time_point*>(start))
      .count();
}

bool runs_compiled_host_kernels(const Device& device) {
  return device.runs_host_kernels() && jit::host_compiler_available();
}

namespace {
thread_local std::shared_ptr<HostDriver> scoped_driver;
}  // namespace

std::shared_ptr<HostDriver> host_driver() {
  if (scoped_driver) return scoped_driver;
  return std::static_pointer_cast<HostDriver>(driver_for(Device::cpu()));
}

HostDriverScope::HostDriverScope(std::shared_ptr<HostDriver> driver) : previous_(std::move(scoped_driver)) {
  scoped_driver = std::move(driver);
}

HostDriverScope::~HostDriverScope() { scoped_driver = std::move(previous_); }

}  // namespace qjit
