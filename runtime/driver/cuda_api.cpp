#include "runtime/driver/cuda_api.hpp"

#include <dlfcn.h>

#include <mutex>

#include "common/error.hpp"

namespace qjit::cuda {

namespace {

struct Loaded {
  Api api{};
  bool ok = false;
  std::string why;
};

// Resolve `slot` from the first exported name that exists. Versioned names come first:
// cuda.h maps e.g. cuMemAlloc to cuMemAlloc_v2, and the unversioned export is the legacy
// 32-bit ABI, which must never be called with 64-bit arguments.
template <typename Fn>
bool resolve(void* lib, Fn& slot, std::initializer_list<const char*> names, std::string* why) {
  for (const char* name : names) {
    if (void* sym = dlsym(lib, name)) {
      slot = reinterpret_cast<Fn>(sym);
      return true;
    }
  }
  *why = fmt::format("libcuda.so.1 has no {} (driver too old?)", *names.begin());
  return false;
}

Loaded load() {
  Loaded out;
  // NOTE: never dlclose: driver objects (contexts, modules) outlive any scope here, and
  // unloading libcuda at exit races with its own teardown.
  void* lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    const char* err = dlerror();
    out.why = fmt::format("libcuda.so.1 could not be opened ({})", err ? err : "unknown reason");
    return out;
  }
  Api& a = out.api;
  std::string* w = &out.why;
  // clang-format off
  bool ok =
      resolve(lib, a.cuGetErrorName, {"cuGetErrorName"}, w) &&
      resolve(lib, a.cuGetErrorString, {"cuGetErrorString"}, w) &&
      resolve(lib, a.cuInit, {"cuInit"}, w) &&
      resolve(lib, a.cuDriverGetVersion, {"cuDriverGetVersion"}, w) &&
      resolve(lib, a.cuDeviceGetCount, {"cuDeviceGetCount"}, w) &&
      resolve(lib, a.cuDeviceGet, {"cuDeviceGet"}, w) &&
      resolve(lib, a.cuDeviceGetName, {"cuDeviceGetName"}, w) &&
      resolve(lib, a.cuDeviceGetAttribute, {"cuDeviceGetAttribute"}, w) &&
      resolve(lib, a.cuDeviceTotalMem, {"cuDeviceTotalMem_v2"}, w) &&
      resolve(lib, a.cuDevicePrimaryCtxRetain, {"cuDevicePrimaryCtxRetain"}, w) &&
      resolve(lib, a.cuDevicePrimaryCtxRelease, {"cuDevicePrimaryCtxRelease_v2"}, w) &&
      resolve(lib, a.cuCtxGetCurrent, {"cuCtxGetCurrent"}, w) &&
      resolve(lib, a.cuCtxSetCurrent, {"cuCtxSetCurrent"}, w) &&
      resolve(lib, a.cuCtxSynchronize, {"cuCtxSynchronize"}, w) &&
      resolve(lib, a.cuMemAlloc, {"cuMemAlloc_v2"}, w) &&
      resolve(lib, a.cuMemFree, {"cuMemFree_v2"}, w) &&
      resolve(lib, a.cuMemcpyHtoD, {"cuMemcpyHtoD_v2"}, w) &&
      resolve(lib, a.cuMemcpyDtoH, {"cuMemcpyDtoH_v2"}, w) &&
      resolve(lib, a.cuMemcpyDtoD, {"cuMemcpyDtoD_v2"}, w) &&
      resolve(lib, a.cuMemsetD8, {"cuMemsetD8_v2"}, w) &&
      resolve(lib, a.cuModuleLoadDataEx, {"cuModuleLoadDataEx"}, w) &&
      resolve(lib, a.cuModuleUnload, {"cuModuleUnload"}, w) &&
      resolve(lib, a.cuModuleGetFunction, {"cuModuleGetFunction"}, w) &&
      resolve(lib, a.cuFuncGetAttribute, {"cuFuncGetAttribute"}, w) &&
      resolve(lib, a.cuFuncSetAttribute, {"cuFuncSetAttribute"}, w) &&
      resolve(lib, a.cuLaunchKernel, {"cuLaunchKernel"}, w) &&
      resolve(lib, a.cuStreamCreate, {"cuStreamCreate"}, w) &&
      resolve(lib, a.cuStreamDestroy, {"cuStreamDestroy_v2"}, w) &&
      resolve(lib, a.cuStreamSynchronize, {"cuStreamSynchronize"}, w) &&
      resolve(lib, a.cuEventCreate, {"cuEventCreate"}, w) &&
      resolve(lib, a.cuEventDestroy, {"cuEventDestroy_v2"}, w) &&
      resolve(lib, a.cuEventRecord, {"cuEventRecord"}, w) &&
      resolve(lib, a.cuEventSynchronize, {"cuEventSynchronize"}, w) &&
      // _v2 appeared in 12.8; drivers before it export only the original (same signature).
      resolve(lib, a.cuEventElapsedTime, {"cuEventElapsedTime_v2", "cuEventElapsedTime"}, w);
  // clang-format on
  out.ok = ok;
  return out;
}

const Loaded& loaded() {
  static const Loaded instance = load();  // thread-safe one-time init
  return instance;
}

}  // namespace

const Api* try_api(std::string* why) {
  const Loaded& l = loaded();
  if (!l.ok && why != nullptr) *why = l.why;
  return l.ok ? &l.api : nullptr;
}

const Api& api() {
  const Loaded& l = loaded();
  QJIT_CHECK_GEN("cuda", l.ok, "no GPU: {}", l.why);
  return l.api;
}

std::string error_text(CUresult result) {
  const char* name = nullptr;
  const char* text = nullptr;
  if (const Api* a = try_api()) {
    a->cuGetErrorName(result, &name);
    a->cuGetErrorString(result, &text);
  }
  return fmt::format("{} ({})", name ? name : fmt::format("CUDA error {}", result),
                     text ? text : "no description");
}

void throw_error(CUresult result, const char* call, const char* file, int line) {
  throw Error("cuda", file, line, fmt::format("{} failed: {}", call, error_text(result)));
}

}  // namespace qjit::cuda
