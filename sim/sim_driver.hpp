#pragma once
// The sim device: the Driver interface over the PTX interpreter. Module loading,
// argument packing and launch configuration above this interface are the same code as on
// cuda; this class refuses what a real device would refuse (dynamic shared memory beyond
// 48 KB without the function's opt-in, beyond the opt-in maximum, too many threads, a
// module built for a newer arch) with the same kind of message.

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "runtime/driver.hpp"
#include "sim/sim_counters.hpp"
#include "sim/sim_exec.hpp"

namespace qjit::sim {

// Properties of the simulated device (an A100, L40S or H100 by arch).
struct SimDeviceConfig {
  DeviceProps props;
  SimOptions options;
  // sm_80 (A100), sm_86, sm_89 (L40S), sm_90 / sm_90a (H100); throws for others.
  static SimDeviceConfig for_arch(const std::string& arch);
  // QJIT_SIM_ARCH (default sm_89), QJIT_SIM_RACECHECK, QJIT_SIM_THREADS.
  static SimDeviceConfig from_env();
};

class SimDriver : public Driver {
 public:
  explicit SimDriver(SimDeviceConfig config);
  ~SimDriver() override;

  Device device() const override { return Device::sim(); }
  const DeviceProps& props() const override { return config_.props; }
  KernelCode kernel_code() const override { return KernelCode::kPtx; }
  SimOptions& options() { return config_.options; }

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

  StreamHandle create_stream() override;
  void destroy_stream(StreamHandle stream) override;
  void synchronize(StreamHandle stream) override;
  EventHandle create_event() override;
  void destroy_event(EventHandle event) override;
  void record_event(EventHandle event, StreamHandle stream) override;
  void synchronize_event(EventHandle event) override;
  float elapsed_ms(EventHandle start, EventHandle end) override;

  // Counters of the last launch and summed over all launches (QJIT_SIM_STATS=1 prints
  // each launch's).
  SimCounters last_counters() const;
  SimCounters total_counters() const;
  // The names of the modules loaded so far (ModuleImage::name: the kernel spec's summary when
  // the KernelCache loads it), in load order: what a run compiled and loaded.
  std::vector<std::string> loaded_modules() const;

 protected:
  // The sim checks every access against its allocation (memcheck): exact sizes keep it exact.
  bool checks_bounds() const override { return true; }

 private:
  struct Module;
  struct Function;
  std::uint8_t* host(DevicePtr p, std::size_t bytes, const char* what) const;

  SimDeviceConfig config_;
  SimHeap heap_;
  mutable std::mutex mu_;
  SimCounters last_, total_;
  std::vector<std::string> loaded_;
};

std::shared_ptr<Driver> make_sim_driver();

}  // namespace qjit::sim
