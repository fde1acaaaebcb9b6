#include "runtime/driver/cuda_driver.hpp"

#include <cstring>

#include "common/error.hpp"
#include "common/log.hpp"

namespace qjit {

using namespace cuda;

namespace {

int device_attribute(CUdevice device, int attr) {
  int value = 0;
  QJIT_CU(cuDeviceGetAttribute(&value, attr, device));
  return value;
}

int func_attribute_id(FuncAttr attr) {
  switch (attr) {
    case FuncAttr::kMaxDynamicSharedBytes: return kFuncAttrMaxDynamicSharedSizeBytes;
    case FuncAttr::kMaxThreadsPerBlock: return kFuncAttrMaxThreadsPerBlock;
    case FuncAttr::kNumRegs: return kFuncAttrNumRegs;
    case FuncAttr::kStaticSharedBytes: return kFuncAttrSharedSizeBytes;
    case FuncAttr::kLocalBytes: return kFuncAttrLocalSizeBytes;
  }
  QJIT_THROW("cuda", "unknown FuncAttr {}", static_cast<int>(attr));
}

// cuModuleLoadDataEx with the driver's error log captured: for PTX the log is the JIT
// compiler's message, the only useful part of a failure.
CUresult load_image(const void* data, CUmodule* module, std::string* log) {
  char error_log[8192] = {};
  int options[] = {kJitErrorLogBuffer, kJitErrorLogBufferSizeBytes};
  void* values[] = {error_log, reinterpret_cast<void*>(static_cast<std::uintptr_t>(sizeof(error_log)))};
  CUresult r = api().cuModuleLoadDataEx(module, data, 2, options, values);
  *log = error_log;
  return r;
}

}  // namespace

int cubin_arch(const std::string& cubin) {
  constexpr unsigned char kElfMagic[4] = {0x7f, 'E', 'L', 'F'};
  constexpr int kElfClass64 = 2;
  constexpr std::uint16_t kMachineCuda = 190;
  constexpr int kAbiVersionCudaV2 = 8;  // CUDA 12.8+: the SM moved from bits 0-7 to 8-15
  if (cubin.size() < 64 || std::memcmp(cubin.data(), kElfMagic, 4) != 0) return 0;
  const auto* bytes = reinterpret_cast<const unsigned char*>(cubin.data());
  std::uint16_t machine = 0;
  std::uint32_t flags = 0;
  std::memcpy(&machine, bytes + 18, sizeof(machine));  // little-endian hosts only, as CUDA
  std::memcpy(&flags, bytes + 48, sizeof(flags));      // e_flags of an ELF64 header
  if (bytes[4] != kElfClass64 || machine != kMachineCuda) return 0;
  return static_cast<int>(bytes[8] >= kAbiVersionCudaV2 ? (flags >> 8) & 0xff : flags & 0xff);
}

namespace {

struct Probe {
  bool ok = false;
  std::string why;
};

Probe probe_cuda() {
  std::string why;
  const Api* a = try_api(&why);
  if (a == nullptr) return {false, why};
  if (CUresult r = a->cuInit(0); r != kSuccess) {
    return {false, fmt::format("no CUDA device answered (cuInit: {})", error_text(r))};
  }
  int count = 0;
  if (CUresult r = a->cuDeviceGetCount(&count); r != kSuccess) {
    return {false, fmt::format("no CUDA device answered (cuDeviceGetCount: {})", error_text(r))};
  }
  if (count == 0) return {false, "no CUDA device answered (cuDeviceGetCount: 0 devices)"};
  return {true, ""};
}

const Probe& probe() {
  static const Probe p = probe_cuda();
  return p;
}

}  // namespace

bool cuda_available() { return probe().ok; }
const std::string& cuda_unavailable_reason() { return probe().why; }

CudaDriver::CudaDriver(int ordinal) : ordinal_(ordinal) {
  const Api& a = api();  // throws "no GPU: libcuda.so.1 could not be opened (...)"
  CUresult r = a.cuInit(0);
  QJIT_CHECK_GEN("cuda", r == kSuccess, "no GPU: no CUDA device answered (cuInit: {})", error_text(r));
  int count = 0;
  QJIT_CU(cuDeviceGetCount(&count));
  QJIT_CHECK_GEN("cuda", count > 0, "no GPU: no CUDA device answered (cuDeviceGetCount: 0 devices)");
  QJIT_CHECK_GEN("cuda", ordinal >= 0 && ordinal < count,
                 "cuda:{} does not exist: {} CUDA device(s) answered (cuda:0 .. cuda:{})", ordinal,
                 count, count - 1);
  QJIT_CU(cuDeviceGet(&device_, ordinal));

  char name[256] = {};
  QJIT_CU(cuDeviceGetName(name, sizeof(name) - 1, device_));
  props_.name = name;
  int major = device_attribute(device_, kDevAttrComputeCapabilityMajor);
  int minor = device_attribute(device_, kDevAttrComputeCapabilityMinor);
  props_.arch = major * 10 + minor;
  // The "a" features (wgmma, setmaxnreg, tcgen05 ...) exist on exactly these parts; code
  // built for them runs nowhere else, which is why the JIT must know.
  props_.arch_accel = (major == 9 && minor == 0) || major == 10;
  props_.sm_count = device_attribute(device_, kDevAttrMultiprocessorCount);
  props_.smem_per_block = device_attribute(device_, kDevAttrMaxSharedPerBlock);
  props_.smem_per_block_optin = device_attribute(device_, kDevAttrMaxSharedPerBlockOptin);
  props_.smem_per_sm = device_attribute(device_, kDevAttrMaxSharedPerMultiprocessor);
  props_.max_threads_per_block = device_attribute(device_, kDevAttrMaxThreadsPerBlock);
  props_.regs_per_block = device_attribute(device_, kDevAttrMaxRegistersPerBlock);
  props_.warp_size = device_attribute(device_, kDevAttrWarpSize);
  QJIT_CU(cuDeviceTotalMem(&props_.total_mem, device_));

  QJIT_CU(cuDevicePrimaryCtxRetain(&context_, device_));
  log(LogLevel::kInfo, "cuda:{}: {} ({}, {} SMs, {} MiB)", ordinal_, props_.name,
      props_.arch_name(), props_.sm_count, props_.total_mem >> 20);
}

CudaDriver::~CudaDriver() {
  // NOTE: errors ignored: at process exit libcuda may already be torn down
  // (CUDA_ERROR_DEINITIALIZED), and a destructor must not throw.
  if (const Api* a = try_api(); a != nullptr && context_ != nullptr) {
    a->cuDevicePrimaryCtxRelease(device_);
  }
}

void CudaDriver::make_current() const {
  CUcontext current = nullptr;
  QJIT_CU(cuCtxGetCurrent(&current));
  if (current != context_) QJIT_CU(cuCtxSetCurrent(context_));
}

DevicePtr CudaDriver::alloc(std::size_t bytes) {
  if (bytes == 0) return 0;  // cuMemAlloc rejects 0; a null pointer is a valid empty buffer
  make_current();
  CUdeviceptr ptr = 0;
  count_allocation();
  CUresult r = api().cuMemAlloc(&ptr, bytes);
  QJIT_CHECK_GEN("cuda", r == kSuccess, "cuMemAlloc of {} bytes on cuda:{} failed: {}", bytes,
                 ordinal_, error_text(r));
  return ptr;
}

void CudaDriver::free(DevicePtr ptr) {
  if (ptr == 0) return;
  make_current();
  count_free();
  QJIT_CU(cuMemFree(ptr));
}

void CudaDriver::copy_to_device(DevicePtr dst, const void* src, std::size_t bytes) {
  if (bytes == 0) return;
  make_current();
  QJIT_CU(cuMemcpyHtoD(dst, src, bytes));
}

void CudaDriver::copy_to_host(void* dst, DevicePtr src, std::size_t bytes) {
  if (bytes == 0) return;
  make_current();
  count_synchronization();  // synchronous: waits for the device's work before it
  QJIT_CU(cuMemcpyDtoH(dst, src, bytes));
}

void CudaDriver::copy_device(DevicePtr dst, DevicePtr src, std::size_t bytes) {
  if (bytes == 0) return;
  make_current();
  QJIT_CU(cuMemcpyDtoD(dst, src, bytes));
}

void CudaDriver::memset8(DevicePtr dst, std::uint8_t value, std::size_t bytes) {
  if (bytes == 0) return;
  make_current();
  QJIT_CU(cuMemsetD8(dst, value, bytes));
}

ModuleHandle CudaDriver::load_module(const ModuleImage& image) {
  make_current();
  CUmodule module = nullptr;
  std::string log_text;
  const std::string arch = props_.arch_name();
  if (!image.cubin.empty()) {
    int built_for = cubin_arch(image.cubin);  // 0: not an ELF (a fatbin?): let the driver judge
    if (built_for != 0 && built_for != props_.arch) {
      QJIT_CHECK_GEN("cuda", !image.ptx.empty(),
                     "module '{}': cubin built for sm_{}, device cuda:{} is {}, and no PTX to JIT",
                     image.name, built_for, ordinal_, arch);
      log(LogLevel::kInfo, "module '{}': cubin is sm_{}, device is {}: JIT from PTX", image.name,
          built_for, arch);
    } else {
      CUresult r = load_image(image.cubin.data(), &module, &log_text);
      if (r == kSuccess) return module;
      QJIT_CHECK_GEN("cuda", !image.ptx.empty(), "module '{}': cuModuleLoadDataEx (cubin) failed: {}{}{}",
                     image.name, error_text(r), log_text.empty() ? "" : "\n", log_text);
      // NOTE: a driver without a binary for this GPU (CUDA_ERROR_NO_BINARY_FOR_GPU: a stand-in,
      // a mismatched toolkit) is what the PTX is carried for; anything else is worth a warning.
      log(r == kErrorNoBinaryForGpu ? LogLevel::kInfo : LogLevel::kWarn, "module '{}': cubin rejected ({}): JIT from PTX",
          image.name, error_text(r));
    }
  }
  QJIT_CHECK_GEN("cuda", !image.ptx.empty(), "module '{}' has neither a cubin nor PTX", image.name);
  // std::string keeps a terminating NUL, which the driver needs to find the end of PTX.
  CUresult r = load_image(image.ptx.c_str(), &module, &log_text);
  QJIT_CHECK_GEN("cuda", r == kSuccess, "module '{}': cuModuleLoadDataEx (PTX for {}) failed: {}{}{}",
                 image.name, arch, error_text(r), log_text.empty() ? "" : "\n", log_text);
  return module;
}

void CudaDriver::unload_module(ModuleHandle module) {
  if (module == nullptr) return;
  make_current();
  QJIT_CU(cuModuleUnload(static_cast<CUmodule>(module)));
}

FunctionHandle CudaDriver::get_function(ModuleHandle module, const std::string& name) {
  make_current();
  CUfunction fn = nullptr;
  CUresult r = api().cuModuleGetFunction(&fn, static_cast<CUmodule>(module), name.c_str());
  QJIT_CHECK_GEN("cuda", r == kSuccess, "kernel '{}' not found in module: {}", name, error_text(r));
  return fn;
}

int CudaDriver::get_attribute(FunctionHandle fn, FuncAttr attr) {
  make_current();
  int value = 0;
  QJIT_CU(cuFuncGetAttribute(&value, func_attribute_id(attr), static_cast<CUfunction>(fn)));
  return value;
}

void CudaDriver::set_attribute(FunctionHandle fn, FuncAttr attr, int value) {
  QJIT_CHECK_GEN("cuda", attr == FuncAttr::kMaxDynamicSharedBytes,
                 "only kMaxDynamicSharedBytes can be set; FuncAttr {} is read-only",
                 static_cast<int>(attr));
  make_current();
  QJIT_CU(cuFuncSetAttribute(static_cast<CUfunction>(fn), func_attribute_id(attr), value));
}

void CudaDriver::launch(FunctionHandle fn, const LaunchConfig& c, void** args) {
  make_current();
  count_launch();
  CUresult r = api().cuLaunchKernel(static_cast<CUfunction>(fn), c.grid.x, c.grid.y, c.grid.z,
                                    c.block.x, c.block.y, c.block.z, c.dynamic_smem,
                                    static_cast<CUstream>(c.stream), args, nullptr);
  QJIT_CHECK_GEN("cuda", r == kSuccess,
                 "cuLaunchKernel(grid {}x{}x{}, block {}x{}x{}, {} B dynamic shared) failed: {}",
                 c.grid.x, c.grid.y, c.grid.z, c.block.x, c.block.y, c.block.z, c.dynamic_smem,
                 error_text(r));
}

StreamHandle CudaDriver::create_stream() {
  make_current();
  CUstream stream = nullptr;
  QJIT_CU(cuStreamCreate(&stream, kStreamDefault));  // blocking: see the header
  return stream;
}

void CudaDriver::destroy_stream(StreamHandle stream) {
  if (stream == nullptr) return;
  make_current();
  QJIT_CU(cuStreamDestroy(static_cast<CUstream>(stream)));
}

void CudaDriver::synchronize(StreamHandle stream) {
  make_current();
  count_synchronization();
  if (stream == nullptr) {
    QJIT_CU(cuCtxSynchronize());
  } else {
    QJIT_CU(cuStreamSynchronize(static_cast<CUstream>(stream)));
  }
}

EventHandle CudaDriver::create_event() {
  make_current();
  CUevent event = nullptr;
  QJIT_CU(cuEventCreate(&event, kEventDefault));  // timing enabled: elapsed_ms needs it
  return event;
}

void CudaDriver::destroy_event(EventHandle event) {
  if (event == nullptr) return;
  make_current();
  QJIT_CU(cuEventDestroy(static_cast<CUevent>(event)));
}

void CudaDriver::record_event(EventHandle event, StreamHandle stream) {
  make_current();
  QJIT_CU(cuEventRecord(static_cast<CUevent>(event), static_cast<CUstream>(stream)));
}

void CudaDriver::synchronize_event(EventHandle event) {
  make_current();
  count_synchronization();
  QJIT_CU(cuEventSynchronize(static_cast<CUevent>(event)));
}

float CudaDriver::elapsed_ms(EventHandle start, EventHandle end) {
  make_current();
  float ms = 0;
  QJIT_CU(cuEventElapsedTime(&ms, static_cast<CUevent>(start), static_cast<CUevent>(end)));
  return ms;
}

}  // namespace qjit
