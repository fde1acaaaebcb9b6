#pragma once
// NVRTC, opened with dlopen on first use (as runtime/driver/cuda_api.hpp opens libcuda): a
// deployment that runs from a bundle (`qjit cache import`, QJIT_OFFLINE=1) needs no compiler,
// so no binary links libnvrtc. <nvrtc.h> gives the types only. The library is the toolkit's
// soname (libnvrtc.so.<major> of the toolkit qjit was built with) through the loader's search
// path, else the file the build found (only when it and its directory are root's or this
// user's and no one else can write them). QJIT_NO_NVRTC=1 behaves as a machine without it.

#include <nvrtc.h>

#include <string>

namespace qjit::jit {

// One member per entry point qjit calls, named as in nvrtc.h.
struct NvrtcApi {
  decltype(&::nvrtcGetErrorString) nvrtcGetErrorString;
  decltype(&::nvrtcVersion) nvrtcVersion;
  decltype(&::nvrtcGetNumSupportedArchs) nvrtcGetNumSupportedArchs;
  decltype(&::nvrtcGetSupportedArchs) nvrtcGetSupportedArchs;
  decltype(&::nvrtcCreateProgram) nvrtcCreateProgram;
  decltype(&::nvrtcDestroyProgram) nvrtcDestroyProgram;
  decltype(&::nvrtcAddNameExpression) nvrtcAddNameExpression;
  decltype(&::nvrtcCompileProgram) nvrtcCompileProgram;
  decltype(&::nvrtcGetProgramLogSize) nvrtcGetProgramLogSize;
  decltype(&::nvrtcGetProgramLog) nvrtcGetProgramLog;
  decltype(&::nvrtcGetPTXSize) nvrtcGetPTXSize;
  decltype(&::nvrtcGetPTX) nvrtcGetPTX;
  decltype(&::nvrtcGetCUBINSize) nvrtcGetCUBINSize;
  decltype(&::nvrtcGetCUBIN) nvrtcGetCUBIN;
  decltype(&::nvrtcGetLoweredName) nvrtcGetLoweredName;
  std::string library;  // the file it came from
};

/// NVRTC, or null when it cannot be opened (then `why` says why). Opened once; thread-safe.
const NvrtcApi* nvrtc_api(std::string* why = nullptr);
/// NVRTC, or throws qjit::Error (subsystem "nvrtc") saying why it is missing and what runs
/// without it (a cache or bundle built elsewhere, with QJIT_OFFLINE=1).
const NvrtcApi& need_nvrtc();

}  // namespace qjit::jit
