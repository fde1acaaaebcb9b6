#pragma once
// Compiles small CUDA sources with NVRTC to PTX and runs them on a SimDriver: the sim
// tests' way to execute real compiler output.

#include <nvrtc.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/support/kernel_args.hpp"
#include "sim/sim_driver.hpp"

namespace qjit::test {

inline std::string nvrtc_ptx(const std::string& source, const std::string& arch = "compute_89") {
  nvrtcProgram prog;
  nvrtcCreateProgram(&prog, source.c_str(), "sim_test.cu", 0, nullptr, nullptr);
  const std::string arch_opt = "-arch=" + arch;
  const char* opts[] = {arch_opt.c_str(), "-std=c++20", "-default-device"};
  const nvrtcResult r = nvrtcCompileProgram(prog, 3, opts);
  size_t n = 0;
  nvrtcGetProgramLogSize(prog, &n);
  std::string log(n, '\0');
  nvrtcGetProgramLog(prog, log.data());
  if (r != NVRTC_SUCCESS) {
    nvrtcDestroyProgram(&prog);
    throw std::runtime_error("NVRTC: " + log);
  }
  nvrtcGetPTXSize(prog, &n);
  std::string ptx(n, '\0');
  nvrtcGetPTX(prog, ptx.data());
  nvrtcDestroyProgram(&prog);
  while (!ptx.empty() && ptx.back() == '\0') ptx.pop_back();
  return ptx;
}

// A sim device of one arch with helpers to move vectors in and out.
class SimBench {
 public:
  explicit SimBench(const std::string& arch = "sm_89", bool race_check = false, int host_threads = 0) {
    auto c = sim::SimDeviceConfig::for_arch(arch);
    c.options.race_check = race_check;
    c.options.host_threads = host_threads;
    driver = std::make_shared<sim::SimDriver>(c);
  }
  ~SimBench() {
    for (auto p : allocs_) driver->free(p);
    for (auto m : modules_) driver->unload_module(m);
  }

  FunctionHandle load(const std::string& cuda_source, const std::string& kernel, const std::string& arch = "compute_89") {
    ModuleHandle m = driver->load_module({nvrtc_ptx(cuda_source, arch), "", kernel});
    modules_.push_back(m);
    return driver->get_function(m, kernel);
  }

  template <typename T>
  DevicePtr upload(const std::vector<T>& v) {
    const DevicePtr p = driver->alloc(v.size() * sizeof(T));
    driver->copy_to_device(p, v.data(), v.size() * sizeof(T));
    allocs_.push_back(p);
    return p;
  }
  DevicePtr zeros(size_t bytes) {
    const DevicePtr p = driver->alloc(bytes);
    driver->memset8(p, 0, bytes);
    allocs_.push_back(p);
    return p;
  }
  template <typename T>
  std::vector<T> download(DevicePtr p, size_t n) {
    std::vector<T> v(n);
    driver->copy_to_host(v.data(), p, n * sizeof(T));
    return v;
  }

  template <typename... Args>
  sim::SimCounters launch(FunctionHandle fn, Dim3 grid, Dim3 block, unsigned smem, const Args&... args) {
    KernelArgs<Args...> packed(args...);
    LaunchConfig c;
    c.grid = grid;
    c.block = block;
    c.dynamic_smem = smem;
    driver->launch(fn, c, packed.pointers());
    return driver->last_counters();
  }

  std::shared_ptr<sim::SimDriver> driver;

 private:
  std::vector<DevicePtr> allocs_;
  std::vector<ModuleHandle> modules_;
};

}  // namespace qjit::test
