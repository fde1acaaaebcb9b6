#include "jit/host_compiler.hpp"

#include <dlfcn.h>

#include <chrono>
#include <filesystem>
#include <mutex>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>
#include <vector>

#include "common/error.hpp"
#include "common/knobs.hpp"
#include "hostcc/hostcc_api.h"
#include "jit/source_gen.hpp"

#ifndef QJIT_HOSTCC_PATH
#define QJIT_HOSTCC_PATH ""
#endif

namespace qjit::jit {

namespace {

constexpr const char* kSub = "hostcc";

struct Plugin {
  void* handle = nullptr;
  std::string error;
  decltype(&qjit_hostcc_abi) abi = nullptr;
  decltype(&qjit_hostcc_host_identity) host_identity = nullptr;
  decltype(&qjit_hostcc_compile) compile = nullptr;
  decltype(&qjit_hostcc_load) load = nullptr;
  decltype(&qjit_hostcc_lookup) lookup = nullptr;
  decltype(&qjit_hostcc_unload) unload = nullptr;
  decltype(&qjit_hostcc_free) free = nullptr;
};

template <class F>
bool bind(Plugin& p, F& fn, const char* name) {
  fn = reinterpret_cast<F>(dlsym(p.handle, name));
  if (fn == nullptr) p.error = fmt::format("the plugin lacks {}", name);
  return fn != nullptr;
}

// The plugin built beside this library (its build path), else beside the executable.
std::vector<std::string> plugin_candidates() {
  std::vector<std::string> out;
  if (*QJIT_HOSTCC_PATH) out.emplace_back(QJIT_HOSTCC_PATH);
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) out.push_back((exe.parent_path() / "libqjit_hostcc.so").string());
  return out;
}

const Plugin& plugin() {
  static const Plugin p = [] {
    Plugin p;
    std::string tried;
    // NOTE: a machine without Clang / LLVM, on request (the same message a missing plugin gives).
    const bool off = knobs::flag("QJIT_CPU_NO_COMPILER");
    if (off) tried = "not opened (QJIT_CPU_NO_COMPILER=1)";
    for (const auto& path : off ? std::vector<std::string>{} : plugin_candidates()) {
      if (!std::filesystem::exists(path)) {
        tried += fmt::format("{}{} (absent)", tried.empty() ? "" : "; ", path);
        continue;
      }
      p.handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (p.handle != nullptr) break;
      tried += fmt::format("{}{} ({})", tried.empty() ? "" : "; ", path, dlerror());
    }
    if (p.handle == nullptr) {
      p.error = fmt::format(
          "the cpu device's compiler (libqjit_hostcc.so, Clang and LLVM 14) cannot be opened: {}. Install "
          "llvm-14-dev, libclang-cpp14-dev and libclang-14-dev and rebuild (tools/setup.sh does), or run the plain reference with "
          "--device cpu:ref (QJIT_DEVICE=cpu:ref)",
          tried.empty() ? "no plugin was built" : tried);
      return p;
    }
    if (!bind(p, p.abi, "qjit_hostcc_abi") || !bind(p, p.host_identity, "qjit_hostcc_host_identity") ||
        !bind(p, p.compile, "qjit_hostcc_compile") || !bind(p, p.load, "qjit_hostcc_load") ||
        !bind(p, p.lookup, "qjit_hostcc_lookup") || !bind(p, p.unload, "qjit_hostcc_unload") ||
        !bind(p, p.free, "qjit_hostcc_free")) {
      p.handle = nullptr;
      return p;
    }
    if (p.abi() != QJIT_HOSTCC_ABI) {
      p.error = fmt::format("the cpu device's compiler plugin has ABI {}, this library wants {}: rebuild qjit", p.abi(),
                            QJIT_HOSTCC_ABI);
      p.handle = nullptr;
    }
    return p;
  }();
  return p;
}

const Plugin& need_plugin() {
  const Plugin& p = plugin();
  QJIT_CHECK_GEN(kSub, p.handle != nullptr, "{}", p.error);
  return p;
}

// A string the plugin returned, taken over.
std::string take(const Plugin& p, char* s) {
  if (s == nullptr) return {};
  std::string out(s);
  p.free(s);
  return out;
}

struct Identity {
  HostTarget target;
  std::string compiler;
};

const Identity& identity() {
  static const Identity id = [] {
    const Plugin& p = need_plugin();
    const auto j = nlohmann::json::parse(take(p, p.host_identity()));
    Identity i;
    i.target = {j.at("triple"), j.at("cpu"), j.at("features")};
    i.compiler = j.at("clang");
    return i;
  }();
  return id;
}

}  // namespace

bool HostTarget::has(const std::string& feature) const {
  const std::string f = "+" + feature;
  std::size_t pos = 0;
  while ((pos = features.find(f, pos)) != std::string::npos) {
    const std::size_t end = pos + f.size();
    if ((pos == 0 || features[pos - 1] == ',') && (end == features.size() || features[end] == ',')) return true;
    pos = end;
  }
  return false;
}

bool host_compiler_available(std::string* why) {
  const Plugin& p = plugin();
  if (p.handle == nullptr && why != nullptr) *why = p.error;
  return p.handle != nullptr;
}

const HostTarget& host_native_target() { return identity().target; }
const std::string& host_compiler_identity() { return identity().compiler; }

Artifact compile_host(const Program& program) {
  QJIT_CHECK_GEN(kSub, program.output == CompileOutput::kHostObject, "{} is not a host program", program.file_name);
  const Plugin& p = need_plugin();
  const auto start = std::chrono::steady_clock::now();
  std::vector<const char*> names, contents, args;
  for (const auto& h : program.headers) {
    names.push_back(h.name.c_str());
    contents.push_back(h.content.c_str());
  }
  for (const auto& o : program.options) args.push_back(o.c_str());
  char* object = nullptr;
  std::size_t object_size = 0;
  char* log = nullptr;
  const int rc = p.compile(program.file_name.c_str(), program.source.data(), program.source.size(), names.data(),
                           contents.data(), names.size(), args.data(), args.size(), &object, &object_size, &log);
  const std::string log_text = take(p, log);
  if (rc != 0) {
    p.free(object);
    throw Error(kSub, __FILE__, __LINE__,
                fmt::format("Clang failed to compile {} ({})\noptions: {}\n{}", program.file_name,
                            program.spec.summary(), fmt::join(program.options, " "), log_text));
  }
  Artifact a;
  a.spec = program.spec;
  a.log = log_text;
  a.object.assign(object, object_size);
  p.free(object);
  for (const auto& expr : program.name_expressions) {
    KernelInfo k;
    k.name_expression = expr;
    k.lowered_name = host_entry_symbol(expr.substr(0, expr.find('<')));  // the extern "C" entry
    a.kernels.push_back(std::move(k));
  }
  a.compile_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return a;
}

void* host_load(const std::string& object, const std::string& name) {
  const Plugin& p = need_plugin();
  char* error = nullptr;
  void* module = p.load(object.data(), object.size(), name.c_str(), &error);
  const std::string e = take(p, error);
  QJIT_CHECK_GEN(kSub, module != nullptr, "cannot load the object code of {}: {}", name, e);
  return module;
}

void* host_lookup(void* module, const std::string& symbol) {
  const Plugin& p = need_plugin();
  char* error = nullptr;
  void* fn = p.lookup(module, symbol.c_str(), &error);
  const std::string e = take(p, error);
  QJIT_CHECK_GEN(kSub, fn != nullptr, "the loaded object has no entry {}: {}", symbol, e);
  return fn;
}

void host_unload(void* module) {
  if (module != nullptr) need_plugin().unload(module);
}

}  // namespace qjit::jit
