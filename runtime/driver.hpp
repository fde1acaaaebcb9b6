#pragma once
// The Driver interface: everything the runtime needs from a device that runs PTX/cubins.
// `cuda` implements it over the CUDA Driver API (libcuda opened with dlopen); `sim`
// interprets NVRTC's PTX on the CPU. Module caching, argument packing and launch
// configuration live above this interface, so they are the same code on both.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "runtime/device.hpp"
#include "runtime/device_allocator.hpp"
#include "runtime/driver_types.hpp"

namespace qjit::jit {
class KernelSpec;
}  // namespace qjit::jit

namespace qjit {

struct DeviceProps {
  std::string name;
  int arch = 0;                 // 80, 86, 89, 90 ...
  bool arch_accel = false;      // "a" suffix features (sm_90a)
  int sm_count = 0;
  std::size_t smem_per_block = 48 * 1024;        // without opt-in
  std::size_t smem_per_block_optin = 48 * 1024;  // with CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
  std::size_t smem_per_sm = 0;
  int max_threads_per_block = 1024;
  int regs_per_block = 65536;
  int warp_size = 32;
  std::size_t total_mem = 0;

  std::string arch_name() const;  // "sm_90a"
};

struct Dim3 {
  unsigned x = 1, y = 1, z = 1;
};

struct LaunchConfig {
  Dim3 grid;
  Dim3 block;
  unsigned dynamic_smem = 0;
  StreamHandle stream = nullptr;
  unsigned max_threads = 0;  // the cpu device: at most this many threads run the grid (0: all)
};

// What a module is loaded from: a driver takes the form it runs (cuda: cubin, else PTX;
// sim: PTX; a plan device: the spec alone).
struct ModuleImage {
  std::string ptx;
  std::string cubin;
  std::string object;                     // the cpu device: host object code
  std::string name;                       // for messages
  const jit::KernelSpec* spec = nullptr;  // what it was compiled from (valid during load_module)
};

// What a driver runs of a kernel, so what the JIT must make for it (KernelCache).
enum class KernelCode {
  kCubin,  // a GPU: the cubin of its arch (the PTX too, its fallback)
  kPtx,    // the sim: PTX only (no ptxas)
  kHostObject,  // the cpu device: host object code compiled for this CPU (jit/host_compiler.hpp)
  kNone,   // a device that runs nothing (planning): no compile, modules carry only the spec
};

enum class FuncAttr {
  kMaxDynamicSharedBytes,  // settable: the dynamic shared memory opt-in
  kMaxThreadsPerBlock,
  kNumRegs,
  kStaticSharedBytes,
  kLocalBytes,
};

/// What a driver did, for the tests and benchmarks that hold DESIGN.md section 3a's
/// execution targets (a warm forward synchronizes nothing inside ops, allocates nothing).
struct DriverCounters {
  std::uint64_t synchronizations = 0;  // host waits: synchronize, an event wait, a copy to the host
  std::uint64_t allocations = 0;       // blocks the device gave (the caching allocator's misses)
  std::uint64_t frees = 0;             // blocks given back to the device
  std::uint64_t launches = 0;
};

class Driver {
 public:
  virtual ~Driver() = default;

  /// The caching allocator every Storage on this driver takes its memory from.
  DeviceAllocator& allocator();
  DriverCounters counters() const;

  virtual Device device() const = 0;
  virtual const DeviceProps& props() const = 0;
  virtual KernelCode kernel_code() const = 0;
  /// Whether its memory holds what is written to it. False for a device that runs nothing
  /// (planning): host-side steps that only prepare values (quantizing weights) may skip it.
  virtual bool holds_values() const { return true; }

  virtual DevicePtr alloc(std::size_t bytes) = 0;
  virtual void free(DevicePtr ptr) = 0;
  virtual void copy_to_device(DevicePtr dst, const void* src, std::size_t bytes) = 0;
  virtual void copy_to_host(void* dst, DevicePtr src, std::size_t bytes) = 0;
  virtual void copy_device(DevicePtr dst, DevicePtr src, std::size_t bytes) = 0;
  virtual void memset8(DevicePtr dst, std::uint8_t value, std::size_t bytes) = 0;

  virtual ModuleHandle load_module(const ModuleImage& image) = 0;
  virtual void unload_module(ModuleHandle module) = 0;
  virtual FunctionHandle get_function(ModuleHandle module, const std::string& name) = 0;
  virtual int get_attribute(FunctionHandle fn, FuncAttr attr) = 0;
  virtual void set_attribute(FunctionHandle fn, FuncAttr attr, int value) = 0;

  // `args` as cuLaunchKernel's kernelParams: one pointer per kernel parameter, in order.
  virtual void launch(FunctionHandle fn, const LaunchConfig& config, void** args) = 0;

  virtual StreamHandle create_stream() = 0;
  virtual void destroy_stream(StreamHandle stream) = 0;
  virtual void synchronize(StreamHandle stream = nullptr) = 0;

  virtual EventHandle create_event() = 0;
  virtual void destroy_event(EventHandle event) = 0;
  virtual void record_event(EventHandle event, StreamHandle stream = nullptr) = 0;
  virtual void synchronize_event(EventHandle event) = 0;
  virtual float elapsed_ms(EventHandle start, EventHandle end) = 0;

 protected:
  /// True for a driver that checks every access against its allocation's size (the sim):
  /// the allocator then keeps exact sizes, so that check stays exact.
  virtual bool checks_bounds() const { return false; }
  // The implementations count what they do.
  void count_synchronization() { synchronizations_.fetch_add(1, std::memory_order_relaxed); }
  void count_allocation() { allocations_.fetch_add(1, std::memory_order_relaxed); }
  void count_free() { frees_.fetch_add(1, std::memory_order_relaxed); }
  void count_launch() { launches_.fetch_add(1, std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> synchronizations_{0}, allocations_{0}, frees_{0}, launches_{0};
  std::once_flag allocator_once_;
  std::unique_ptr<DeviceAllocator> allocator_;
};

}  // namespace qjit
