#pragma once
// The `cuda` device: the Driver interface over the CUDA Driver API (runtime/driver/cuda_api.hpp,
// libcuda.so.1 opened at run time). Kept as thin as tinygrad's ops_cuda.py: everything a
// device does not need to know (module caching, argument packing) lives above Driver.
//
// Contexts: each CudaDriver retains its device's primary context (the one the CUDA runtime
// shares) and makes it current on the calling thread before every call, so any thread may
// use a driver and several devices can be used from one thread.
//
// Ordering: streams are created blocking (CU_STREAM_DEFAULT), so they synchronize with the
// legacy default stream; the synchronous copies therefore see all work launched before
// them on any stream. synchronize(nullptr) waits for the whole context.

#include <string>

#include "runtime/driver.hpp"
#include "runtime/driver/cuda_api.hpp"

namespace qjit {

class CudaDriver final : public Driver {
 public:
  // Throws qjit::Error("cuda", ...) when libcuda is absent, cuInit fails, or `ordinal` is
  // not a device.
  explicit CudaDriver(int ordinal);
  ~CudaDriver() override;
  CudaDriver(const CudaDriver&) = delete;
  CudaDriver& operator=(const CudaDriver&) = delete;

  Device device() const override { return Device::cuda(ordinal_); }
  const DeviceProps& props() const override { return props_; }
  KernelCode kernel_code() const override { return KernelCode::kCubin; }

  DevicePtr alloc(std::size_t bytes) override;
  void free(DevicePtr ptr) override;
  void copy_to_device(DevicePtr dst, const void* src, std::size_t bytes) override;
  void copy_to_host(void* dst, DevicePtr src, std::size_t bytes) override;
  void copy_device(DevicePtr dst, DevicePtr src, std::size_t bytes) override;
  void memset8(DevicePtr dst, std::uint8_t value, std::size_t bytes) override;

  // The cubin when it was built for this device's arch, else the PTX (JIT-compiled by the
  // driver); a cubin the driver rejects also falls back to the PTX when there is one.
  ModuleHandle load_module(const ModuleImage& image) override;
  void unload_module(ModuleHandle module) override;
  FunctionHandle get_function(ModuleHandle module, const std::string& name) override;
  int get_attribute(FunctionHandle fn, FuncAttr attr) override;
  void set_attribute(FunctionHandle fn, FuncAttr attr, int value) override;

  void launch(FunctionHandle fn, const LaunchConfig& config, void** args) override;

  StreamHandle create_stream() override;
  void destroy_stream(StreamHandle stream) override;
  void synchronize(StreamHandle stream = nullptr) override;

  EventHandle create_event() override;
  void destroy_event(EventHandle event) override;
  void record_event(EventHandle event, StreamHandle stream = nullptr) override;
  void synchronize_event(EventHandle event) override;
  float elapsed_ms(EventHandle start, EventHandle end) override;

 private:
  void make_current() const;

  int ordinal_;
  cuda::CUdevice device_ = 0;
  cuda::CUcontext context_ = nullptr;
  DeviceProps props_;
};

// The SM arch a cubin (CUDA ELF) was built for (90 for sm_90 and sm_90a), or 0 when the
// image is not a CUDA ELF (a fatbin, or garbage). Reads both the pre-12.8 and the current
// ELF ABI layout of e_flags.
int cubin_arch(const std::string& cubin);

// Whether a CUDA device answers (libcuda opens, cuInit succeeds, at least one device).
// Probed once per process and cached; never throws. Used by `auto` and by tests to skip.
bool cuda_available();
// Why cuda_available() is false ("libcuda.so.1 could not be opened (...)", "no CUDA device
// answered (cuInit: ...)"); empty when it is true.
const std::string& cuda_unavailable_reason();

}  // namespace qjit
