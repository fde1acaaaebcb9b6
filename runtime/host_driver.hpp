#pragma once
// The cpu device's Driver: the kernels are host object code the JIT compiled for this CPU
// (KernelCode::kHostObject: templates/host/, jit/host_compiler.hpp), linked into the process
// by the compiler plugin, and a launch runs the blocks of its grid on the runtime's thread
// pool (runtime/thread_pool.hpp), returning when they are done. Memory is host memory, so a
// DevicePtr is an address. Same KernelCache, same typed launch as cuda and sim: only this
// binding differs. `cpu:ref` (Device::cpu_ref()) has no driver: it runs the plain reference.

#include <chrono>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "runtime/driver.hpp"
#include "runtime/plan_driver.hpp"
#include "runtime/thread_pool.hpp"

namespace qjit {

/// Whether ops on `device` run the cpu device's compiled kernels: `cpu` with its compiler
/// plugin. Without the plugin (or on cpu:ref) they run the reference, with the same results
/// up to the order of float additions; asking for `cpu` by name without it is refused where
/// the device is chosen (the qjit command), with the reason.
bool runs_compiled_host_kernels(const Device& device);

class HostDriver final : public Driver {
 public:
  HostDriver();
  /// A cpu device that runs no kernel, for planning (`qjit compile --arch host`, as
  /// plan_driver.hpp's PlanDriver is for GPUs): memory is host memory as always, and the ops'
  /// host code runs, but a kernel is recorded (its spec and entry), not compiled or run, and
  /// its launches only count. It reports the real driver's thread count, so every config
  /// chosen from it is the one a real run chooses. Used through HostDriverScope.
  struct Recording {};
  explicit HostDriver(Recording);
  ~HostDriver() override;

  Device device() const override { return Device::cpu(); }
  const DeviceProps& props() const override { return props_; }
  KernelCode kernel_code() const override { return recorder_ ? KernelCode::kNone : KernelCode::kHostObject; }
  /// A recording driver's kernels, in first-use order (empty for a running one).
  std::vector<PlannedLaunch> planned() const;
  /// The names of the modules a running driver loaded, in order (tests compare a plan to them).
  std::vector<std::string> loaded_modules() const;

  /// Caps the threads every launch uses (0: no cap), for benchmarks that compare thread
  /// counts in one process. threads(): the pool's (QJIT_CPU_THREADS, else every core) under
  /// that cap.
  void set_max_threads(unsigned n) { max_threads_ = n; }
  unsigned threads() const;
  /// The threads a launch of `config` runs its grid on: threads(), capped by
  /// config.max_threads (a tuned GEMM's) when that is set.
  unsigned launch_threads(const LaunchConfig& config) const;

  DevicePtr alloc(std::size_t bytes) override;
  void free(DevicePtr ptr) override;
  void copy_to_device(DevicePtr dst, const void* src, std::size_t bytes) override;
  void copy_to_host(void* dst, DevicePtr src, std::size_t bytes) override;
  void copy_device(DevicePtr dst, DevicePtr src, std::size_t bytes) override;
  void memset8(DevicePtr dst, std::uint8_t value, std::size_t bytes) override;

  ModuleHandle load_module(const ModuleImage& image) override;
  void unload_module(ModuleHandle module) override;
  FunctionHandle get_function(ModuleHandle module, const std::string& name) override;
  int get_attribute(FunctionHandle fn, FuncAttr attr) override;
  void set_attribute(FunctionHandle fn, FuncAttr attr, int value) override;
  void launch(FunctionHandle fn, const LaunchConfig& config, void** args) override;

  StreamHandle create_stream() override { return nullptr; }
  void destroy_stream(StreamHandle) override {}
  void synchronize(StreamHandle) override { count_synchronization(); }
  EventHandle create_event() override;
  void destroy_event(EventHandle event) override;
  void record_event(EventHandle event, StreamHandle stream) override;
  void synchronize_event(EventHandle) override { count_synchronization(); }
  float elapsed_ms(EventHandle start, EventHandle end) override;

 private:
  HostDriver(unsigned threads, std::unique_ptr<PlanDriver> recorder);

  DeviceProps props_;
  ThreadPool pool_;
  unsigned threads_ = 1;  // the pool's, or what a running driver's would be
  unsigned max_threads_ = 0;
  std::unique_ptr<PlanDriver> recorder_;  // set when recording
  mutable std::mutex loaded_mu_;
  std::vector<std::string> loaded_;
};

/// The cpu device's driver (driver_for(Device::cpu())), with its concrete type; on a thread
/// inside a HostDriverScope, that scope's driver.
std::shared_ptr<HostDriver> host_driver();

/// While alive, host_driver() on the constructing thread gives `driver` (a recording one):
/// the ops launch their host kernels from the thread that calls them, so a forward run inside
/// the scope records every kernel it would launch. Scopes nest; not movable.
class HostDriverScope {
 public:
  explicit HostDriverScope(std::shared_ptr<HostDriver> driver);
  ~HostDriverScope();
  HostDriverScope(const HostDriverScope&) = delete;
  HostDriverScope& operator=(const HostDriverScope&) = delete;

 private:
  std::shared_ptr<HostDriver> previous_;
};

}  // namespace qjit
