// A stand-in libcuda.so.1 for tests (tests/cuda_standin/README.md): the CUDA Driver API
// entry points qjit's binding resolves (runtime/driver/cuda_api.cpp), implemented over the
// sim device. The cuda device's tests then execute the real binding — dlopen, symbol
// resolution, argument packing, streams, events, errors — on a machine without a GPU.
//
// What it does as a real driver does: one device of the arch QJIT_SIM_ARCH names (default
// sm_89); a cubin is refused with CUDA_ERROR_NO_BINARY_FOR_GPU (it cannot run SASS), so the
// binding's PTX fallback runs; PTX is loaded on the sim and a module it cannot parse is
// CUDA_ERROR_INVALID_PTX with the sim's message in the JIT error log; launches run
// synchronously (streams and events keep their order trivially); a fault in a kernel is
// CUDA_ERROR_ILLEGAL_ADDRESS / CUDA_ERROR_LAUNCH_FAILED. Unsupported calls and bad handles
// return CUDA_ERROR_INVALID_VALUE / CUDA_ERROR_INVALID_HANDLE, never crash.
//
// Counters of what the binding asked for (host synchronizations, allocations, launches) are
// exported as qjitStandinCounters for tests to read.

#include <chrono>
#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "common/error.hpp"
#include "sim/sim_driver.hpp"

namespace {

using CUresult = int;
using CUdeviceptr = std::uint64_t;

// cuda.h's values (CUDA 13.0).
constexpr CUresult kSuccess = 0;
constexpr CUresult kInvalidValue = 1;
constexpr CUresult kOutOfMemory = 2;
constexpr CUresult kNotInitialized = 3;
constexpr CUresult kInvalidDevice = 101;
constexpr CUresult kInvalidImage = 200;
constexpr CUresult kInvalidContext = 201;
constexpr CUresult kNoBinaryForGpu = 209;
constexpr CUresult kInvalidPtx = 218;
constexpr CUresult kInvalidHandle = 400;
constexpr CUresult kNotFound = 500;
constexpr CUresult kIllegalAddress = 700;
constexpr CUresult kLaunchOutOfResources = 701;
constexpr CUresult kLaunchFailed = 719;
constexpr CUresult kNotSupported = 801;

struct ErrorName {
  CUresult code;
  const char* name;
  const char* text;
};
constexpr ErrorName kErrors[] = {
    {kSuccess, "CUDA_SUCCESS", "no error"},
    {kInvalidValue, "CUDA_ERROR_INVALID_VALUE", "invalid argument"},
    {kOutOfMemory, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory"},
    {kNotInitialized, "CUDA_ERROR_NOT_INITIALIZED", "initialization error"},
    {kInvalidDevice, "CUDA_ERROR_INVALID_DEVICE", "invalid device ordinal"},
    {kInvalidImage, "CUDA_ERROR_INVALID_IMAGE", "device kernel image is invalid"},
    {kInvalidContext, "CUDA_ERROR_INVALID_CONTEXT", "invalid device context"},
    {kNoBinaryForGpu, "CUDA_ERROR_NO_BINARY_FOR_GPU", "no kernel image is available for execution on the device"},
    {kInvalidPtx, "CUDA_ERROR_INVALID_PTX", "a PTX JIT compilation failed"},
    {kInvalidHandle, "CUDA_ERROR_INVALID_HANDLE", "invalid resource handle"},
    {kNotFound, "CUDA_ERROR_NOT_FOUND", "named symbol not found"},
    {kIllegalAddress, "CUDA_ERROR_ILLEGAL_ADDRESS", "an illegal memory access was encountered"},
    {kLaunchOutOfResources, "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES", "too many resources requested for launch"},
    {kLaunchFailed, "CUDA_ERROR_LAUNCH_FAILED", "unspecified launch failure"},
    {kNotSupported, "CUDA_ERROR_NOT_SUPPORTED", "operation not supported"},
};

// The one device and its bookkeeping. Handles given out are the addresses of objects kept
// here, checked on every use.
struct Standin {
  std::mutex mu;
  bool initialized = false;
  std::unique_ptr<qjit::sim::SimDriver> sim;
  int context = 0;  // &context is the primary context's handle
  int retains = 0;
  std::unordered_set<void*> modules, streams;
  std::unordered_map<void*, void*> functions;  // handle -> the module it came from
  std::unordered_map<void*, std::chrono::steady_clock::time_point> events;
  std::uint64_t syncs = 0, allocs = 0, frees = 0, launches = 0, module_loads = 0;
};

Standin& standin() {
  static Standin* s = new Standin;  // NOTE: never destroyed: handles may be used at exit
  return *s;
}

thread_local void* current_context = nullptr;

// Runs `body` on the sim, mapping a qjit::Error to `on_error`.
template <class F>
CUresult guarded(CUresult on_error, F&& body) {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return kOutOfMemory;
  } catch (const std::exception&) {
    return on_error;
  }
}

qjit::sim::SimDriver* device() {
  Standin& s = standin();
  return s.initialized ? s.sim.get() : nullptr;
}

int attribute_of(int attr, const qjit::DeviceProps& p, int& out) {
  switch (attr) {
    case 1: out = p.max_threads_per_block; return kSuccess;        // MAX_THREADS_PER_BLOCK
    case 8: out = static_cast<int>(p.smem_per_block); return kSuccess;  // MAX_SHARED_MEMORY_PER_BLOCK
    case 10: out = p.warp_size; return kSuccess;                  // WARP_SIZE
    case 12: out = p.regs_per_block; return kSuccess;             // MAX_REGISTERS_PER_BLOCK
    case 16: out = p.sm_count; return kSuccess;                   // MULTIPROCESSOR_COUNT
    case 75: out = p.arch / 10; return kSuccess;                  // COMPUTE_CAPABILITY_MAJOR
    case 76: out = p.arch % 10; return kSuccess;                  // COMPUTE_CAPABILITY_MINOR
    case 81: out = static_cast<int>(p.smem_per_sm); return kSuccess;       // MAX_SHARED_MEMORY_PER_MULTIPROCESSOR
    case 97: out = static_cast<int>(p.smem_per_block_optin); return kSuccess;  // ..._PER_BLOCK_OPTIN
    default: return kInvalidValue;
  }
}

bool func_attr(int id, qjit::FuncAttr& out) {
  switch (id) {
    case 0: out = qjit::FuncAttr::kMaxThreadsPerBlock; return true;
    case 1: out = qjit::FuncAttr::kStaticSharedBytes; return true;
    case 3: out = qjit::FuncAttr::kLocalBytes; return true;
    case 4: out = qjit::FuncAttr::kNumRegs; return true;
    case 8: out = qjit::FuncAttr::kMaxDynamicSharedBytes; return true;
    default: return false;
  }
}

// CUjit_option values of the error log the binding passes.
constexpr int kJitErrorLogBuffer = 5;
constexpr int kJitErrorLogBufferSizeBytes = 6;

void write_error_log(unsigned n, const int* options, void** values, const std::string& text) {
  char* buffer = nullptr;
  std::size_t size = 0;
  for (unsigned i = 0; i < n; ++i) {
    if (options[i] == kJitErrorLogBuffer) buffer = static_cast<char*>(values[i]);
    if (options[i] == kJitErrorLogBufferSizeBytes) size = reinterpret_cast<std::uintptr_t>(values[i]);
  }
  if (buffer != nullptr && size > 0) {
    std::strncpy(buffer, text.c_str(), size - 1);
    buffer[size - 1] = '\0';
  }
}

}  // namespace

#define STANDIN_API extern "C" __attribute__((visibility("default")))

// --- errors, initialization, devices ---------------------------------------------------------

STANDIN_API CUresult cuGetErrorName(CUresult error, const char** name) {
  if (name == nullptr) return kInvalidValue;
  for (const auto& e : kErrors) {
    if (e.code == error) {
      *name = e.name;
      return kSuccess;
    }
  }
  *name = nullptr;
  return kInvalidValue;
}

STANDIN_API CUresult cuGetErrorString(CUresult error, const char** text) {
  if (text == nullptr) return kInvalidValue;
  for (const auto& e : kErrors) {
    if (e.code == error) {
      *text = e.text;
      return kSuccess;
    }
  }
  *text = nullptr;
  return kInvalidValue;
}

STANDIN_API CUresult cuInit(unsigned flags) {
  if (flags != 0) return kInvalidValue;
  Standin& s = standin();
  std::lock_guard lock(s.mu);
  if (s.initialized) return kSuccess;
  return guarded(kNotInitialized, [&] {
    auto config = qjit::sim::SimDeviceConfig::from_env();
    config.props.name = "qjit cuda stand-in (" + config.props.name + ")";
    if (config.props.total_mem == 0) config.props.total_mem = std::size_t{80} << 30;
    s.sim = std::make_unique<qjit::sim::SimDriver>(std::move(config));
    s.initialized = true;
    return kSuccess;
  });
}

STANDIN_API CUresult cuDriverGetVersion(int* version) {
  if (version == nullptr) return kInvalidValue;
  *version = 13000;
  return kSuccess;
}

STANDIN_API CUresult cuDeviceGetCount(int* count) {
  if (count == nullptr) return kInvalidValue;
  if (device() == nullptr) return kNotInitialized;
  *count = 1;
  return kSuccess;
}

STANDIN_API CUresult cuDeviceGet(int* dev, int ordinal) {
  if (dev == nullptr) return kInvalidValue;
  if (device() == nullptr) return kNotInitialized;
  if (ordinal != 0) return kInvalidDevice;
  *dev = 0;
  return kSuccess;
}

STANDIN_API CUresult cuDeviceGetName(char* name, int len, int dev) {
  if (name == nullptr || len <= 0) return kInvalidValue;
  if (device() == nullptr) return kNotInitialized;
  if (dev != 0) return kInvalidDevice;
  std::strncpy(name, device()->props().name.c_str(), static_cast<std::size_t>(len - 1));
  name[len - 1] = '\0';
  return kSuccess;
}

STANDIN_API CUresult cuDeviceGetAttribute(int* value, int attr, int dev) {
  if (value == nullptr) return kInvalidValue;
  if (device() == nullptr) return kNotInitialized;
  if (dev != 0) return kInvalidDevice;
  return attribute_of(attr, device()->props(), *value);
}

STANDIN_API CUresult cuDeviceTotalMem_v2(std::size_t* bytes, int dev) {
  if (bytes == nullptr) return kInvalidValue;
  if (device() == nullptr) return kNotInitialized;
  if (dev != 0) return kInvalidDevice;
  *bytes = device()->props().total_mem;
  return kSuccess;
}

// NVRTC looks this up in a loaded libcuda for the driver's private interfaces; there are
// none here, and it goes on without them when told so.
STANDIN_API CUresult cuGetExportTable(const void** table, const void* /*uuid*/) {
  if (table != nullptr) *table = nullptr;
  return kNotSupported;
}

// --- contexts ------------------------------------------------------------------------------

STANDIN_API CUresult cuDevicePrimaryCtxRetain(void** ctx, int dev) {
  if (ctx == nullptr) return kInvalidValue;
  if (device() == nullptr) return kNotInitialized;
  if (dev != 0) return kInvalidDevice;
  Standin& s = standin();
  std::lock_guard lock(s.mu);
  ++s.retains;
  *ctx = &s.context;
  return kSuccess;
}

STANDIN_API CUresult cuDevicePrimaryCtxRelease_v2(int dev) {
  if (dev != 0) return kInvalidDevice;
  Standin& s = standin();
  std::lock_guard lock(s.mu);
  if (s.retains == 0) return kInvalidContext;
  --s.retains;
  return kSuccess;
}

STANDIN_API CUresult cuCtxGetCurrent(void** ctx) {
  if (ctx == nullptr) return kInvalidValue;
  *ctx = current_context;
  return kSuccess;
}

STANDIN_API CUresult cuCtxSetCurrent(void* ctx) {
  if (ctx != nullptr && ctx != &standin().context) return kInvalidContext;
  current_context = ctx;
  return kSuccess;
}

namespace {
// Every call below needs the current context, as on a real driver.
CUresult need_context() {
  if (device() == nullptr) return kNotInitialized;
  return current_context == &standin().context ? kSuccess : kInvalidContext;
}
}  // namespace

STANDIN_API CUresult cuCtxSynchronize() {
  if (CUresult r = need_context()) return r;
  std::lock_guard lock(standin().mu);
  ++standin().syncs;
  return kSuccess;
}

// --- memory --------------------------------------------------------------------------------

STANDIN_API CUresult cuMemAlloc_v2(CUdeviceptr* ptr, std::size_t bytes) {
  if (CUresult r = need_context()) return r;
  if (ptr == nullptr || bytes == 0) return kInvalidValue;
  return guarded(kOutOfMemory, [&] {
    *ptr = device()->alloc(bytes);
    std::lock_guard lock(standin().mu);
    ++standin().allocs;
    return kSuccess;
  });
}

STANDIN_API CUresult cuMemFree_v2(CUdeviceptr ptr) {
  if (CUresult r = need_context()) return r;
  if (ptr == 0) return kSuccess;
  return guarded(kInvalidValue, [&] {
    device()->free(ptr);
    std::lock_guard lock(standin().mu);
    ++standin().frees;
    return kSuccess;
  });
}

STANDIN_API CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void* src, std::size_t bytes) {
  if (CUresult r = need_context()) return r;
  return guarded(kInvalidValue, [&] {
    device()->copy_to_device(dst, src, bytes);
    return kSuccess;
  });
}

STANDIN_API CUresult cuMemcpyDtoH_v2(void* dst, CUdeviceptr src, std::size_t bytes) {
  if (CUresult r = need_context()) return r;
  return guarded(kInvalidValue, [&] {
    device()->copy_to_host(dst, src, bytes);
    std::lock_guard lock(standin().mu);
    ++standin().syncs;  // a synchronous copy to the host waits for the device
    return kSuccess;
  });
}

STANDIN_API CUresult cuMemcpyDtoD_v2(CUdeviceptr dst, CUdeviceptr src, std::size_t bytes) {
  if (CUresult r = need_context()) return r;
  return guarded(kInvalidValue, [&] {
    device()->copy_device(dst, src, bytes);
    return kSuccess;
  });
}

STANDIN_API CUresult cuMemsetD8_v2(CUdeviceptr dst, unsigned char value, std::size_t n) {
  if (CUresult r = need_context()) return r;
  return guarded(kInvalidValue, [&] {
    device()->memset8(dst, value, n);
    return kSuccess;
  });
}

// --- modules and functions -----------------------------------------------------------------

STANDIN_API CUresult cuModuleLoadDataEx(void** module, const void* image, unsigned n_options, int* options,
                                        void** values) {
  if (CUresult r = need_context()) return r;
  if (module == nullptr || image == nullptr) return kInvalidValue;
  const auto* bytes = static_cast<const char*>(image);
  // An ELF (a cubin) or a fatbin holds SASS, which the sim cannot run: refused as a driver
  // refuses an image for another GPU, so the binding falls back to the PTX. (strncmp stops at
  // a PTX text's NUL, so a short image is never read past its end.)
  if (std::strncmp(bytes, "\x7f" "ELF", 4) == 0 || std::strncmp(bytes, "\x50\xed\x55\xba", 4) == 0) {
    write_error_log(n_options, options, values, "the qjit cuda stand-in runs PTX only");
    return kNoBinaryForGpu;
  }
  const std::string ptx(static_cast<const char*>(image));
  try {
    qjit::ModuleImage img;
    img.ptx = ptx;
    img.name = "stand-in module";
    void* m = device()->load_module(img);
    std::lock_guard lock(standin().mu);
    standin().modules.insert(m);
    ++standin().module_loads;
    *module = m;
    return kSuccess;
  } catch (const std::exception& e) {
    write_error_log(n_options, options, values, e.what());
    return kInvalidPtx;
  }
}

STANDIN_API CUresult cuModuleUnload(void* module) {
  if (CUresult r = need_context()) return r;
  Standin& s = standin();
  {
    std::lock_guard lock(s.mu);
    if (s.modules.erase(module) == 0) return kInvalidHandle;
    for (auto it = s.functions.begin(); it != s.functions.end();) it = it->second == module ? s.functions.erase(it) : ++it;
  }
  return guarded(kInvalidHandle, [&] {
    device()->unload_module(module);
    return kSuccess;
  });
}

STANDIN_API CUresult cuModuleGetFunction(void** fn, void* module, const char* name) {
  if (CUresult r = need_context()) return r;
  if (fn == nullptr || name == nullptr) return kInvalidValue;
  Standin& s = standin();
  {
    std::lock_guard lock(s.mu);
    if (!s.modules.count(module)) return kInvalidHandle;
  }
  return guarded(kNotFound, [&] {
    void* f = device()->get_function(module, name);
    std::lock_guard lock(s.mu);
    s.functions[f] = module;
    *fn = f;
    return kSuccess;
  });
}

namespace {
bool known_function(void* fn) {
  std::lock_guard lock(standin().mu);
  return standin().functions.count(fn) != 0;
}
}  // namespace

STANDIN_API CUresult cuFuncGetAttribute(int* value, int attr, void* fn) {
  if (CUresult r = need_context()) return r;
  qjit::FuncAttr a;
  if (value == nullptr || !func_attr(attr, a)) return kInvalidValue;
  if (!known_function(fn)) return kInvalidHandle;
  return guarded(kInvalidValue, [&] {
    *value = device()->get_attribute(fn, a);
    return kSuccess;
  });
}

STANDIN_API CUresult cuFuncSetAttribute(void* fn, int attr, int value) {
  if (CUresult r = need_context()) return r;
  qjit::FuncAttr a;
  if (!func_attr(attr, a) || a != qjit::FuncAttr::kMaxDynamicSharedBytes) return kInvalidValue;
  if (!known_function(fn)) return kInvalidHandle;
  return guarded(kInvalidValue, [&] {
    device()->set_attribute(fn, a, value);
    return kSuccess;
  });
}

STANDIN_API CUresult cuLaunchKernel(void* fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                                    unsigned bz, unsigned smem, void* stream, void** params, void** extra) {
  if (CUresult r = need_context()) return r;
  if (extra != nullptr) return kNotSupported;  // qjit passes kernelParams only
  if (!known_function(fn)) return kInvalidHandle;
  if (stream != nullptr) {
    std::lock_guard lock(standin().mu);
    if (!standin().streams.count(stream)) return kInvalidHandle;
  }
  qjit::LaunchConfig c;
  c.grid = {gx, gy, gz};
  c.block = {bx, by, bz};
  c.dynamic_smem = smem;
  try {
    device()->launch(fn, c, params);
  } catch (const qjit::Error& e) {
    // The sim refuses a configuration as a device does (out of resources) and reports a
    // kernel's memory fault (an illegal address).
    const std::string m = e.message();
    const bool config = m.find("shared memory") != std::string::npos || m.find("threads") != std::string::npos;
    return config ? kLaunchOutOfResources : kIllegalAddress;
  } catch (const std::exception&) {
    return kLaunchFailed;
  }
  std::lock_guard lock(standin().mu);
  ++standin().launches;
  return kSuccess;
}

// --- streams and events --------------------------------------------------------------------

STANDIN_API CUresult cuStreamCreate(void** stream, unsigned flags) {
  if (CUresult r = need_context()) return r;
  if (stream == nullptr) return kInvalidValue;
  Standin& s = standin();
  std::lock_guard lock(s.mu);
  void* h = new char;  // a distinct address per stream
  s.streams.insert(h);
  *stream = h;
  return kSuccess;
}

STANDIN_API CUresult cuStreamDestroy_v2(void* stream) {
  if (CUresult r = need_context()) return r;
  Standin& s = standin();
  std::lock_guard lock(s.mu);
  if (s.streams.erase(stream) == 0) return kInvalidHandle;
  delete static_cast<char*>(stream);
  return kSuccess;
}

STANDIN_API CUresult cuStreamSynchronize(void* stream) {
  if (CUresult r = need_context()) return r;
  Standin& s = standin();
  std::lock_guard lock(s.mu);
  if (stream != nullptr && !s.streams.count(stream)) return kInvalidHandle;
  ++s.syncs;
  return kSuccess;
}

STANDIN_API CUresult cuEventCreate(void** event, unsigned flags) {
  if (CUresult r = need_context()) return r;
  if (event == nullptr) return kInvalidValue;
  Standin& s = standin();
  std::lock_guard lock(s.mu);
  void* h = new char;
  s.events.emplace(h, std::chrono::steady_clock::time_point{});
  *event = h;
  return kSuccess;
}

STANDIN_API CUresult cuEventDestroy_v2(void* event) {
  if (CUresult r = need_context()) return r;
  Standin& s = standin();
  std::lock_guard lock(s.mu);
  if (s.events.erase(event) == 0) return kInvalidHandle;
  delete static_cast<char*>(event);
  return kSuccess;
}

STANDIN_API CUresult cuEventRecord(void* event, void* stream) {
  if (CUresult r = need_context()) return r;
  Standin& s = standin();
  std::lock_guard lock(s.mu);
  auto it = s.events.find(event);
  if (it == s.events.end() || (stream != nullptr && !s.streams.count(stream))) return kInvalidHandle;
  // NOTE: launches ran when they were enqueued, so "now" is when the stream reaches it.
  it->second = std::chrono::steady_clock::now();
  return kSuccess;
}

STANDIN_API CUresult cuEventSynchronize(void* event) {
  if (CUresult r = need_context()) return r;
  Standin& s = standin();
  std::lock_guard lock(s.mu);
  if (!s.events.count(event)) return kInvalidHandle;
  ++s.syncs;
  return kSuccess;
}

STANDIN_API CUresult cuEventElapsedTime(float* ms, void* start, void* end) {
  if (CUresult r = need_context()) return r;
  if (ms == nullptr) return kInvalidValue;
  Standin& s = standin();
  std::lock_guard lock(s.mu);
  auto a = s.events.find(start), b = s.events.find(end);
  if (a == s.events.end() || b == s.events.end()) return kInvalidHandle;
  *ms = std::chrono::duration<float, std::milli>(b->second - a->second).count();
  return kSuccess;
}

// --- for tests: what the binding asked of the device --------------------------------------

struct QjitStandinCounters {
  std::uint64_t syncs, allocs, frees, launches, module_loads;
};

STANDIN_API void qjitStandinCounters(QjitStandinCounters* out) {
  Standin& s = standin();
  std::lock_guard lock(s.mu);
  *out = {s.syncs, s.allocs, s.frees, s.launches, s.module_loads};
}
