#pragma once
// The few pieces of the CUDA Driver API that qjit uses, declared here and resolved from
// libcuda.so.1 with dlopen/dlsym on first use (as DeepGEMM's DECL_LAZY_CUDA_DRIVER_FUNCTION
// and jitify2's dlopen wrappers do).
//
// NOTE: this header must not include <cuda.h> and the library must not link libcuda: a
// deployment may have neither the toolkit nor a driver, and must still load and run on
// `cpu`/`sim`. Types are opaque pointers and plain ints with the ABI of cuda.h (CUDA 13.0);
// the values below are copied from it and are stable across driver versions.

#include <cstdint>
#include <cstddef>
#include <string>

namespace qjit::cuda {

using CUresult = int;
using CUdevice = int;
using CUdeviceptr = std::uint64_t;  // CUdeviceptr_v2 on 64-bit hosts
using CUcontext = struct CUctx_st*;
using CUmodule = struct CUmod_st*;
using CUfunction = struct CUfunc_st*;
using CUstream = struct CUstream_st*;
using CUevent = struct CUevent_st*;

inline constexpr CUresult kSuccess = 0;
inline constexpr CUresult kErrorNoBinaryForGpu = 209;

// CUdevice_attribute
inline constexpr int kDevAttrMaxThreadsPerBlock = 1;
inline constexpr int kDevAttrMaxSharedPerBlock = 8;
inline constexpr int kDevAttrWarpSize = 10;
inline constexpr int kDevAttrMaxRegistersPerBlock = 12;
inline constexpr int kDevAttrMultiprocessorCount = 16;
inline constexpr int kDevAttrComputeCapabilityMajor = 75;
inline constexpr int kDevAttrComputeCapabilityMinor = 76;
inline constexpr int kDevAttrMaxSharedPerMultiprocessor = 81;
inline constexpr int kDevAttrMaxSharedPerBlockOptin = 97;

// CUfunction_attribute
inline constexpr int kFuncAttrMaxThreadsPerBlock = 0;
inline constexpr int kFuncAttrSharedSizeBytes = 1;
inline constexpr int kFuncAttrLocalSizeBytes = 3;
inline constexpr int kFuncAttrNumRegs = 4;
inline constexpr int kFuncAttrMaxDynamicSharedSizeBytes = 8;

// CUjit_option
inline constexpr int kJitInfoLogBuffer = 3;
inline constexpr int kJitInfoLogBufferSizeBytes = 4;
inline constexpr int kJitErrorLogBuffer = 5;
inline constexpr int kJitErrorLogBufferSizeBytes = 6;

// CUstream_flags / CUevent_flags
inline constexpr unsigned kStreamDefault = 0;
inline constexpr unsigned kEventDefault = 0;

// One member per entry point, named as the unversioned cuda.h macro; cuda_api.cpp says
// which exported (versioned) symbol each resolves to.
struct Api {
  CUresult (*cuGetErrorName)(CUresult, const char**);
  CUresult (*cuGetErrorString)(CUresult, const char**);
  CUresult (*cuInit)(unsigned);
  CUresult (*cuDriverGetVersion)(int*);
  CUresult (*cuDeviceGetCount)(int*);
  CUresult (*cuDeviceGet)(CUdevice*, int);
  CUresult (*cuDeviceGetName)(char*, int, CUdevice);
  CUresult (*cuDeviceGetAttribute)(int*, int, CUdevice);
  CUresult (*cuDeviceTotalMem)(std::size_t*, CUdevice);
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext*, CUdevice);
  CUresult (*cuDevicePrimaryCtxRelease)(CUdevice);
  CUresult (*cuCtxGetCurrent)(CUcontext*);
  CUresult (*cuCtxSetCurrent)(CUcontext);
  CUresult (*cuCtxSynchronize)();
  CUresult (*cuMemAlloc)(CUdeviceptr*, std::size_t);
  CUresult (*cuMemFree)(CUdeviceptr);
  CUresult (*cuMemcpyHtoD)(CUdeviceptr, const void*, std::size_t);
  CUresult (*cuMemcpyDtoH)(void*, CUdeviceptr, std::size_t);
  CUresult (*cuMemcpyDtoD)(CUdeviceptr, CUdeviceptr, std::size_t);
  CUresult (*cuMemsetD8)(CUdeviceptr, unsigned char, std::size_t);
  CUresult (*cuModuleLoadDataEx)(CUmodule*, const void*, unsigned, int*, void**);
  CUresult (*cuModuleUnload)(CUmodule);
  CUresult (*cuModuleGetFunction)(CUfunction*, CUmodule, const char*);
  CUresult (*cuFuncGetAttribute)(int*, int, CUfunction);
  CUresult (*cuFuncSetAttribute)(CUfunction, int, int);
  CUresult (*cuLaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned,
                             unsigned, unsigned, CUstream, void**, void**);
  CUresult (*cuStreamCreate)(CUstream*, unsigned);
  CUresult (*cuStreamDestroy)(CUstream);
  CUresult (*cuStreamSynchronize)(CUstream);
  CUresult (*cuEventCreate)(CUevent*, unsigned);
  CUresult (*cuEventDestroy)(CUevent);
  CUresult (*cuEventRecord)(CUevent, CUstream);
  CUresult (*cuEventSynchronize)(CUevent);
  CUresult (*cuEventElapsedTime)(float*, CUevent, CUevent);
};

// The binding, opened and resolved once per process. nullptr, with the reason in *why,
// when libcuda.so.1 cannot be opened or lacks an entry point. Never throws.
const Api* try_api(std::string* why = nullptr);
// The binding, or qjit::Error("cuda", "no GPU: libcuda.so.1 could not be opened (...)").
const Api& api();

// "CUDA_ERROR_OUT_OF_MEMORY (out of memory)"; works for any code, even without libcuda.
std::string error_text(CUresult result);
[[noreturn]] void throw_error(CUresult result, const char* call, const char* file, int line);

inline void check(CUresult result, const char* call, const char* file, int line) {
  if (result != kSuccess) [[unlikely]] throw_error(result, call, file, line);
}

}  // namespace qjit::cuda

// QJIT_CU(cuMemAlloc(&ptr, bytes)): call through the binding; a failure throws
// qjit::Error with subsystem "cuda" naming the call and the error.
#define QJIT_CU(call) ::qjit::cuda::check(::qjit::cuda::api().call, #call, __FILE__, __LINE__)
