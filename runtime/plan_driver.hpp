#pragma once
// A device that runs nothing, for planning (DESIGN.md section 7: `qjit run` compiles ahead
// what a forward will launch). It is a Driver like the others, which the ops do not know
// apart: its kernel code is none (KernelCode::kNone), so the KernelCache compiles nothing
// and loads modules that carry only their spec; loading a kernel records it — its KernelSpec,
// with this device's arch, and entry — and its launches only count. A model's forward on it
// therefore lists exactly the kernels the same forward launches on a GPU of that arch, with
// the real workload's shapes, at no compute cost.
//
// Its memory holds no values (holds_values() is false): the model's host-side data steps
// skip tensors on it, so a plan costs about what building the model does. Memory: allocations up to kBackedBytes are host buffers (what host code reads back: static
// scales, modulation vectors, small outputs); larger ones (weights, activations) get
// addresses only: copies into them are dropped, and reads from them give zeros — no kernel
// runs, so nothing on the device ever depends on their contents.

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "jit/kernel_spec.hpp"
#include "runtime/driver.hpp"

namespace qjit {

/// One kernel a planned run asked for.
struct PlannedLaunch {
  jit::KernelSpec spec;         // with the plan device's arch
  std::string kernel_template;  // the entry's template, e.g. "qjit::kernels::norm_mod"
  std::int64_t launches = 0;    // how often the run launched it
};

class PlanDriver final : public Driver {
 public:
  static constexpr std::size_t kBackedBytes = 1 << 20;

  /// A device of `arch` (sm_80, sm_86, sm_89, sm_90, sm_90a: the sim's device properties).
  explicit PlanDriver(const std::string& arch);

  /// Reported as the sim device: tensors live "on sim" through this driver.
  Device device() const override { return Device::sim(); }
  const DeviceProps& props() const override { return props_; }
  KernelCode kernel_code() const override { return KernelCode::kNone; }
  bool holds_values() const override { return false; }

  DevicePtr alloc(std::size_t bytes) override;
  void free(DevicePtr ptr) override;
  void copy_to_device(DevicePtr dst, const void* src, std::size_t bytes) override;
  void copy_to_host(void* dst, DevicePtr src, std::size_t bytes) override;
  void copy_device(DevicePtr dst, DevicePtr src, std::size_t bytes) override;
  void memset8(DevicePtr dst, std::uint8_t value, std::size_t bytes) override;

  // A module is its spec (the image carries no code); a function records (spec, entry) once;
  // a launch counts.
  ModuleHandle load_module(const ModuleImage& image) override;
  void unload_module(ModuleHandle module) override;
  FunctionHandle get_function(ModuleHandle module, const std::string& name) override;
  int get_attribute(FunctionHandle fn, FuncAttr attr) override;
  void set_attribute(FunctionHandle fn, FuncAttr attr, int value) override;
  void launch(FunctionHandle fn, const LaunchConfig& config, void** args) override;

  StreamHandle create_stream() override { return nullptr; }

 protected:
  // Its small buffers are checked against their sizes: the allocator keeps them exact.
  bool checks_bounds() const override { return true; }

 public:
  void destroy_stream(StreamHandle) override {}
  void synchronize(StreamHandle = nullptr) override {}
  EventHandle create_event() override { return nullptr; }
  void destroy_event(EventHandle) override {}
  void record_event(EventHandle, StreamHandle = nullptr) override {}
  void synchronize_event(EventHandle) override {}
  float elapsed_ms(EventHandle, EventHandle) override { return 0.0f; }

  /// The kernels asked for, in first-use order.
  std::vector<PlannedLaunch> planned() const;

 private:
  struct Block {
    std::size_t bytes = 0;
    std::vector<std::uint8_t> data;  // empty: unbacked
  };
  // The block holding [addr, addr + bytes), or null for a range no live allocation holds.
  Block* find(DevicePtr addr, std::size_t bytes, DevicePtr& base);

  DeviceProps props_;
  mutable std::mutex mu_;
  std::map<DevicePtr, Block> blocks_;
  DevicePtr next_ = 0x100000000000ull;
  std::vector<jit::KernelSpec> modules_;  // a module handle is its index + 1
  std::vector<PlannedLaunch> planned_;    // a function handle is its index + 1
};

}  // namespace qjit
