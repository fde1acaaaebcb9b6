#include "sim/sim_driver.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <cstring>

#include "common/error.hpp"
#include "common/knobs.hpp"
#include "sim/ptx_parser.hpp"
#include "sim/sim_program.hpp"

namespace qjit::sim {

struct SimDriver::Module {
  SimModule program;
  std::vector<std::uint64_t> globals;  // allocations of .global/.const variables
  std::map<std::string, std::uint64_t> global_addr;
  std::vector<std::unique_ptr<Function>> functions;
};

struct SimDriver::Function {
  Module* module = nullptr;
  const SimFunction* fn = nullptr;
  int max_dynamic_smem = 0;  // the opt-in attribute
};

SimDeviceConfig SimDeviceConfig::for_arch(const std::string& arch) {
  SimDeviceConfig c;
  DeviceProps& p = c.props;
  p.max_threads_per_block = 1024;
  p.regs_per_block = 65536;
  p.warp_size = 32;
  p.smem_per_block = 48 * 1024;
  p.total_mem = 16ull << 30;
  if (arch == "sm_80") {
    p.name = "sim (A100-like, sm_80)", p.arch = 80, p.sm_count = 108;
    p.smem_per_block_optin = 163 * 1024, p.smem_per_sm = 164 * 1024;
  } else if (arch == "sm_86") {
    p.name = "sim (A10-like, sm_86)", p.arch = 86, p.sm_count = 72;
    p.smem_per_block_optin = 99 * 1024, p.smem_per_sm = 100 * 1024;
  } else if (arch == "sm_89") {
    p.name = "sim (L40S-like, sm_89)", p.arch = 89, p.sm_count = 142;
    p.smem_per_block_optin = 99 * 1024, p.smem_per_sm = 100 * 1024;
  } else if (arch == "sm_90" || arch == "sm_90a") {
    p.name = "sim (H100-like, " + arch + ")", p.arch = 90, p.sm_count = 132;
    p.arch_accel = arch == "sm_90a";
    p.smem_per_block_optin = 227 * 1024, p.smem_per_sm = 228 * 1024;
  } else {
    QJIT_THROW("sim", "the sim device models sm_80, sm_86, sm_89, sm_90 and sm_90a, not '{}'", arch);
  }
  return c;
}

SimDeviceConfig SimDeviceConfig::from_env() {
  auto c = for_arch(knobs::get("QJIT_SIM_ARCH").value_or("sm_89"));
  c.options.race_check = knobs::flag("QJIT_SIM_RACECHECK");
  c.options.host_threads = static_cast<int>(knobs::sim_threads());
  return c;
}

SimDriver::SimDriver(SimDeviceConfig config) : config_(std::move(config)) {}
SimDriver::~SimDriver() = default;

std::uint8_t* SimDriver::host(DevicePtr p, std::size_t bytes, const char* what) const {
  std::uint8_t* h = heap_.translate(p, bytes);
  QJIT_CHECK_GEN("sim", h != nullptr || bytes == 0, "{} of {} bytes out of bounds: {}", what, bytes, heap_.describe(p));
  return h;
}

DevicePtr SimDriver::alloc(std::size_t bytes) {
  if (bytes == 0) return 0;
  count_allocation();
  return heap_.alloc(bytes);
}
void SimDriver::free(DevicePtr ptr) {
  if (ptr == 0) return;
  count_free();
  heap_.free(ptr);
}
void SimDriver::copy_to_device(DevicePtr dst, const void* src, std::size_t bytes) {
  if (bytes) std::memcpy(host(dst, bytes, "copy to device"), src, bytes);
}
void SimDriver::copy_to_host(void* dst, DevicePtr src, std::size_t bytes) {
  count_synchronization();  // a copy to the host waits for the device's work
  if (bytes) std::memcpy(dst, host(src, bytes, "copy to host"), bytes);
}
void SimDriver::copy_device(DevicePtr dst, DevicePtr src, std::size_t bytes) {
  if (bytes) std::memmove(host(dst, bytes, "device copy"), host(src, bytes, "device copy"), bytes);
}
void SimDriver::memset8(DevicePtr dst, std::uint8_t value, std::size_t bytes) {
  if (bytes) std::memset(host(dst, bytes, "memset"), value, bytes);
}

ModuleHandle SimDriver::load_module(const ModuleImage& image) {
  QJIT_CHECK_GEN("sim", !image.ptx.empty(), "module {}: the sim device runs PTX and the image has none", image.name);
  auto m = std::make_unique<Module>();
  ptx::Module ast = ptx::parse_module(image.ptx, image.name.empty() ? "module" : image.name);
  // A module built for a newer arch than the device fails to load, as on a GPU.
  const int target = ast.target_arch;
  const bool accel = ast.target_accel;
  QJIT_CHECK_GEN("sim", target <= config_.props.arch,
                 "module {} is built for {} and cannot load on {} (a newer arch than the device)", image.name,
                 ast.target, config_.props.arch_name());
  QJIT_CHECK_GEN("sim", !accel || (config_.props.arch_accel && target == config_.props.arch),
                 "module {} is built for {}, which only loads on exactly that arch (the device is {})", image.name,
                 ast.target, config_.props.arch_name());
  for (const auto& g : ast.globals) {
    if (g.space != "global" && g.space != "const") continue;
    const std::uint64_t a = heap_.alloc(std::max<std::uint64_t>(g.bytes, 1));
    std::vector<std::uint8_t> init(g.bytes, 0);
    std::copy(g.init.begin(), g.init.begin() + std::min(g.init.size(), init.size()), init.begin());
    if (!init.empty()) std::memcpy(heap_.translate(a, init.size()), init.data(), init.size());
    m->globals.push_back(a);
    m->global_addr[g.name] = a;
  }
  m->program = decode_module(std::move(ast), [](void* ctx, const std::string& name) {
    return static_cast<Module*>(ctx)->global_addr.at(name);
  }, m.get());
  {
    std::lock_guard<std::mutex> lock(mu_);
    loaded_.push_back(image.name);
  }
  return m.release();
}

std::vector<std::string> SimDriver::loaded_modules() const {
  std::lock_guard<std::mutex> lock(mu_);
  return loaded_;
}

void SimDriver::unload_module(ModuleHandle handle) {
  std::unique_ptr<Module> m(static_cast<Module*>(handle));
  if (!m) return;
  for (auto a : m->globals) heap_.free(a);
}

FunctionHandle SimDriver::get_function(ModuleHandle handle, const std::string& name) {
  auto* m = static_cast<Module*>(handle);
  const SimFunction* fn = m->program.find(name);
  QJIT_CHECK_GEN("sim", fn != nullptr, "module {} has no kernel '{}'", m->program.name, name);
  auto f = std::make_unique<Function>();
  f->module = m;
  f->fn = fn;
  m->functions.push_back(std::move(f));
  return m->functions.back().get();
}

int SimDriver::get_attribute(FunctionHandle handle, FuncAttr attr) {
  const auto* f = static_cast<Function*>(handle);
  switch (attr) {
    case FuncAttr::kMaxDynamicSharedBytes: return f->max_dynamic_smem;
    case FuncAttr::kMaxThreadsPerBlock: {
      const auto& n = f->fn->maxntid[0] ? f->fn->maxntid : f->fn->reqntid;
      return n[0] ? n[0] * std::max(n[1], 1) * std::max(n[2], 1) : config_.props.max_threads_per_block;
    }
    case FuncAttr::kNumRegs: return static_cast<int>(f->fn->nregs);  // virtual registers, before allocation
    case FuncAttr::kStaticSharedBytes: return static_cast<int>(f->fn->static_shared_bytes);
    case FuncAttr::kLocalBytes: return static_cast<int>(f->fn->local_bytes);
  }
  return 0;
}

void SimDriver::set_attribute(FunctionHandle handle, FuncAttr attr, int value) {
  auto* f = static_cast<Function*>(handle);
  QJIT_CHECK_GEN("sim", attr == FuncAttr::kMaxDynamicSharedBytes, "only the dynamic shared memory attribute is settable");
  const int limit = static_cast<int>(config_.props.smem_per_block_optin) - static_cast<int>(f->fn->static_shared_bytes);
  QJIT_CHECK_GEN("sim", value >= 0 && value <= limit,
                 "{}: max dynamic shared memory {} exceeds the device's opt-in limit of {} bytes ({} opt-in minus {} "
                 "static)", f->fn->name, value, limit, config_.props.smem_per_block_optin, f->fn->static_shared_bytes);
  f->max_dynamic_smem = value;
}

void SimDriver::launch(FunctionHandle handle, const LaunchConfig& c, void** args) {
  count_launch();
  const auto* f = static_cast<Function*>(handle);
  const SimFunction& fn = *f->fn;
  const DeviceProps& p = config_.props;
  const std::uint64_t threads = static_cast<std::uint64_t>(c.block.x) * c.block.y * c.block.z;
  QJIT_CHECK_GEN("sim", threads >= 1 && threads <= static_cast<std::uint64_t>(p.max_threads_per_block),
                 "{}: launch of {} threads per block; the device allows {}", fn.name, threads, p.max_threads_per_block);
  QJIT_CHECK_GEN("sim", c.block.z <= 64, "{}: block z dimension {} exceeds 64", fn.name, c.block.z);
  QJIT_CHECK_GEN("sim", c.grid.x >= 1 && c.grid.y >= 1 && c.grid.z >= 1 && c.grid.y <= 65535 && c.grid.z <= 65535,
                 "{}: bad grid {}x{}x{}", fn.name, c.grid.x, c.grid.y, c.grid.z);
  if (fn.maxntid[0]) {
    const int max = fn.maxntid[0] * std::max(fn.maxntid[1], 1) * std::max(fn.maxntid[2], 1);
    QJIT_CHECK_GEN("sim", threads <= static_cast<std::uint64_t>(max), "{}: {} threads exceed the kernel's .maxntid {}",
                   fn.name, threads, max);
  }
  if (fn.reqntid[0]) {
    QJIT_CHECK_GEN("sim", c.block.x == static_cast<unsigned>(fn.reqntid[0]), "{}: block {} does not match .reqntid {}",
                   fn.name, c.block.x, fn.reqntid[0]);
  }
  if (c.dynamic_smem > p.smem_per_block) {
    QJIT_CHECK_GEN("sim", static_cast<int>(c.dynamic_smem) <= f->max_dynamic_smem,
                   "{}: {} bytes of dynamic shared memory exceed 48 KB and the function has not opted in "
                   "(set its max dynamic shared memory attribute to at least that first)",
                   fn.name, c.dynamic_smem);
  }
  QJIT_CHECK_GEN("sim", c.dynamic_smem + fn.static_shared_bytes <= p.smem_per_block_optin,
                 "{}: {} bytes of shared memory ({} static + {} dynamic) exceed the device's maximum of {}", fn.name,
                 c.dynamic_smem + fn.static_shared_bytes, fn.static_shared_bytes, c.dynamic_smem, p.smem_per_block_optin);
  GridLaunch l;
  l.module = &f->module->program;
  l.fn = &fn;
  l.heap = &heap_;
  l.grid = c.grid;
  l.block = c.block;
  l.dynamic_smem = c.dynamic_smem;
  l.sm_count = p.sm_count;
  l.options = config_.options;
  l.params.assign(fn.param_bytes, 0);
  for (size_t i = 0; i < fn.params.size(); ++i) {
    QJIT_CHECK_GEN("sim", args != nullptr && args[i] != nullptr, "{}: argument {} ({}) is missing", fn.name, i,
                   fn.params[i].name);
    std::memcpy(l.params.data() + fn.params[i].offset, args[i], fn.params[i].bytes);
  }
  const SimCounters counters = run_grid(l);
  {
    std::lock_guard<std::mutex> lock(mu_);
    last_ = counters;
    total_ += counters;
  }
  if (knobs::flag("QJIT_SIM_STATS")) {
    std::fprintf(stderr, "qjit sim: %s grid %ux%ux%u block %ux%ux%u smem %u\n%s\n", fn.name.c_str(), c.grid.x, c.grid.y,
                 c.grid.z, c.block.x, c.block.y, c.block.z, c.dynamic_smem, counters.str().c_str());
  }
}

// Launches run synchronously, so streams are names and events are host timestamps.
StreamHandle SimDriver::create_stream() { return new int(0); }
void SimDriver::destroy_stream(StreamHandle s) { delete static_cast<int*>(s); }
void SimDriver::synchronize(StreamHandle) { count_synchronization(); }
EventHandle SimDriver::create_event() { return new std::chrono::steady_clock::time_point(); }
void SimDriver::destroy_event(EventHandle e) { delete static_cast<std::chrono::steady_clock::time_point*>(e); }
void SimDriver::record_event(EventHandle e, StreamHandle) {
  *static_cast<std::chrono::steady_clock::time_point*>(e) = std::chrono::steady_clock::now();
}
void SimDriver::synchronize_event(EventHandle) { count_synchronization(); }
float SimDriver::elapsed_ms(EventHandle a, EventHandle b) {
  return std::chrono::duration<float, std::milli>(*static_cast<std::chrono::steady_clock::time_point*>(b) -
                                                  *static_cast<std::chrono::steady_clock::time_point*>(a))
      .count();
}

SimCounters SimDriver::last_counters() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_;
}
SimCounters SimDriver::total_counters() const {
  std::lock_guard<std::mutex> lock(mu_);
  return total_;
}

std::shared_ptr<Driver> make_sim_driver() { return std::make_shared<SimDriver>(SimDeviceConfig::from_env()); }

namespace {
// NOTE: the sim device registers itself with the runtime when this library is linked in
// (the qjit target links it whole, so this object is never dropped).
const bool kRegistered = (register_driver_factory(DeviceKind::kSim, [](const Device&) { return make_sim_driver(); }),
                          true);
}  // namespace

}  // namespace qjit::sim
