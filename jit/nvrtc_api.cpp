#include "jit/nvrtc_api.hpp"

#include <dlfcn.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <mutex>
#include <vector>

#include "common/error.hpp"
#include "common/knobs.hpp"

namespace qjit::jit {

namespace {

struct Loaded {
  NvrtcApi api{};
  bool ok = false;
  std::string why;
};

template <typename Fn>
bool resolve(void* lib, Fn& slot, const char* name, std::string* why) {
  slot = reinterpret_cast<Fn>(dlsym(lib, name));
  if (slot == nullptr) *why = fmt::format("it has no {} (NVRTC older than qjit's toolkit?)", name);
  return slot != nullptr;
}

// Whether `path` (after links) and its directory belong to root or this user and neither
// group nor others can write them: the build's absolute path is opened only then, since on
// another machine that path may be somewhere another user can create.
bool trusted_file(const std::string& path, std::string* why) {
  std::error_code ec;
  const auto real = std::filesystem::canonical(path, ec);
  if (ec) {
    *why = fmt::format("{}: {}", path, ec.message());
    return false;
  }
  for (const auto& p : {real, real.parent_path()}) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0 || (st.st_uid != 0 && st.st_uid != ::getuid()) || (st.st_mode & (S_IWGRP | S_IWOTH))) {
      *why = fmt::format("{} is not trusted (owned by another user, or writable by group or others)", p.string());
      return false;
    }
  }
  return true;
}

std::vector<std::string> candidates() {
  std::vector<std::string> out;
#ifdef QJIT_NVRTC_SONAME
  out.push_back(QJIT_NVRTC_SONAME);
#endif
#ifdef QJIT_NVRTC_BUILD_PATH
  out.push_back(QJIT_NVRTC_BUILD_PATH);
#endif
  return out;
}

Loaded load() {
  Loaded out;
  // NOTE: never throws (it runs under call_once): a bad knob value is a reason like any other.
  try {
    if (knobs::flag("QJIT_NO_NVRTC")) {
      out.why = "not opened (QJIT_NO_NVRTC=1)";
      return out;
    }
  } catch (const Error& e) {
    out.why = e.message();
    return out;
  }
  std::string tried;
  for (const auto& path : candidates()) {
    std::string untrusted;
    if (path.find('/') != std::string::npos && !trusted_file(path, &untrusted)) {
      tried += fmt::format("{}{}", tried.empty() ? "" : "; ", untrusted);
      continue;
    }
    // NOTE: never dlclose: programs may be in flight on other threads until exit.
    void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) {
      const char* err = dlerror();
      tried += fmt::format("{}{} ({})", tried.empty() ? "" : "; ", path, err ? err : "unknown reason");
      continue;
    }
    NvrtcApi& a = out.api;
    std::string why;
    std::string* w = &why;
    // clang-format off
    const bool ok =
        resolve(lib, a.nvrtcGetErrorString, "nvrtcGetErrorString", w) &&
        resolve(lib, a.nvrtcVersion, "nvrtcVersion", w) &&
        resolve(lib, a.nvrtcGetNumSupportedArchs, "nvrtcGetNumSupportedArchs", w) &&
        resolve(lib, a.nvrtcGetSupportedArchs, "nvrtcGetSupportedArchs", w) &&
        resolve(lib, a.nvrtcCreateProgram, "nvrtcCreateProgram", w) &&
        resolve(lib, a.nvrtcDestroyProgram, "nvrtcDestroyProgram", w) &&
        resolve(lib, a.nvrtcAddNameExpression, "nvrtcAddNameExpression", w) &&
        resolve(lib, a.nvrtcCompileProgram, "nvrtcCompileProgram", w) &&
        resolve(lib, a.nvrtcGetProgramLogSize, "nvrtcGetProgramLogSize", w) &&
        resolve(lib, a.nvrtcGetProgramLog, "nvrtcGetProgramLog", w) &&
        resolve(lib, a.nvrtcGetPTXSize, "nvrtcGetPTXSize", w) &&
        resolve(lib, a.nvrtcGetPTX, "nvrtcGetPTX", w) &&
        resolve(lib, a.nvrtcGetCUBINSize, "nvrtcGetCUBINSize", w) &&
        resolve(lib, a.nvrtcGetCUBIN, "nvrtcGetCUBIN", w) &&
        resolve(lib, a.nvrtcGetLoweredName, "nvrtcGetLoweredName", w);
    // clang-format on
    if (ok) {
      // The file the loader took (dladdr of a symbol), for NVRTC's identity.
      Dl_info info{};
      a.library = dladdr(reinterpret_cast<void*>(a.nvrtcVersion), &info) != 0 && info.dli_fname ? info.dli_fname : path;
      out.ok = true;
      return out;
    }
    tried += fmt::format("{}{}: {}", tried.empty() ? "" : "; ", path, why);
  }
  out.why = tried.empty() ? "this build names no NVRTC library" : "cannot open " + tried;
  return out;
}

const Loaded& loaded() {
  static std::once_flag once;
  static Loaded l;
  std::call_once(once, [] { l = load(); });
  return l;
}

}  // namespace

const NvrtcApi* nvrtc_api(std::string* why) {
  const Loaded& l = loaded();
  if (!l.ok && why != nullptr) *why = l.why;
  return l.ok ? &l.api : nullptr;
}

const NvrtcApi& need_nvrtc() {
  std::string why;
  const NvrtcApi* api = nvrtc_api(&why);
  QJIT_CHECK_GEN("nvrtc", api != nullptr,
                 "NVRTC is not available ({}): GPU kernels cannot be compiled here. Install the CUDA toolkit's "
                 "NVRTC, or run from kernels compiled elsewhere (`qjit compile --bundle`, then `qjit cache import` "
                 "or QJIT_CACHE_BUNDLE, with QJIT_OFFLINE=1)",
                 why);
  return *api;
}

}  // namespace qjit::jit
