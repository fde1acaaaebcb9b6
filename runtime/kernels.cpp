#include "runtime/kernels.hpp"

#include <fmt/format.h>

#include <mutex>

#include "common/error.hpp"
#include "common/knobs.hpp"
#include "jit/family.hpp"
#include "jit/source_gen.hpp"

namespace qjit {

LoadedModule::LoadedModule(std::shared_ptr<Driver> driver, std::shared_ptr<const jit::Artifact> artifact)
    : driver_(std::move(driver)), artifact_(std::move(artifact)) {
  module_ = driver_->load_module(
      {artifact_->ptx, artifact_->cubin, artifact_->object, artifact_->spec.summary(), &artifact_->spec});
}

LoadedModule::~LoadedModule() {
  try {
    driver_->unload_module(module_);
  } catch (...) {
    // NOTE: a destructor must not throw; a failed unload only leaks device memory.
  }
}

FunctionHandle LoadedModule::function(const std::string& name_expression) const {
  return driver_->get_function(module_, artifact_->kernel(name_expression).lowered_name);
}

Kernel::Kernel(std::shared_ptr<LoadedModule> module, std::string name_expression, const jit::ParamLayout* params)
    : module_(std::move(module)), name_(std::move(name_expression)), params_(params) {
  fn_ = module_->function(name_);
}

void Kernel::check_params(const jit::ParamLayout& given) const {
  QJIT_CHECK_GEN("launch", valid(), "launch of an unresolved kernel");
  QJIT_CHECK_GEN("launch", params_ == &given, "{} takes {}, not {}", name_,
                 params_ != nullptr ? params_->host_type : "no known struct", given.host_type);
}

void Kernel::launch_packed(const LaunchConfig& c, void** args) const {
  QJIT_CHECK_GEN("launch", valid(), "launch of an unresolved kernel");
  const DeviceProps& p = driver().props();
  const unsigned threads = c.block.x * c.block.y * c.block.z;
  QJIT_CHECK_GEN("launch", threads >= 1 && static_cast<int>(threads) <= p.max_threads_per_block,
                 "{}: {} threads per block (the device allows {})", name_, threads, p.max_threads_per_block);
  QJIT_CHECK_GEN("launch", c.grid.x >= 1 && c.grid.y >= 1 && c.grid.z >= 1 && c.grid.y < 65536 && c.grid.z < 65536,
                 "{}: bad grid {}x{}x{}", name_, c.grid.x, c.grid.y, c.grid.z);
  if (c.dynamic_smem > p.smem_per_block) {
    QJIT_CHECK_GEN("launch", c.dynamic_smem <= p.smem_per_block_optin,
                   "{}: {} bytes of dynamic shared memory exceed the device's opt-in maximum of {}", name_,
                   c.dynamic_smem, p.smem_per_block_optin);
    driver().set_attribute(fn_, FuncAttr::kMaxDynamicSharedBytes, static_cast<int>(c.dynamic_smem));
  }
  driver().launch(fn_, c, args);
}

jit::Arch target_arch(const Driver& driver) {
  // NOTE: the override is for a real GPU only: the sim models the arch it was given
  // (QJIT_SIM_ARCH, --device sim:sm_XX) and a plan device the arch the plan is for
  // (--arch), and an explicit choice wins over the environment.
  if (driver.device().kind == DeviceKind::kCuda) {
    if (auto a = knobs::arch(); a && !a->empty()) {
      try {
        return jit::Arch::parse(*a);
      } catch (const Error& e) {
        QJIT_THROW("device", "QJIT_ARCH: {}", e.message());
      }
    }
  }
  return jit::Arch::parse(driver.props().arch_name());
}

namespace {
// What a driver that runs nothing loads: the spec, its entries named by their expressions.
std::shared_ptr<const jit::Artifact> spec_only_artifact(const jit::KernelSpec& spec, const jit::Family& family) {
  auto a = std::make_shared<jit::Artifact>();
  a->spec = spec;
  a->key = "spec:" + spec.canonical();
  for (const auto& k : family.kernels) {
    jit::KernelInfo info;
    info.name_expression = jit::name_expression(k.name);
    info.lowered_name = info.name_expression;
    a->kernels.push_back(std::move(info));
  }
  return a;
}
}  // namespace

KernelCache& KernelCache::global() {
  static KernelCache cache;
  return cache;
}

KernelCache::Key KernelCache::key(const Driver& driver, jit::KernelSpec spec, const std::string& kernel_template) {
  global().spec_lookups_.fetch_add(1, std::memory_order_relaxed);
  spec.set_arch(target_arch(driver));
  Key k;
  k.text = fmt::format("{}|{}|{}", static_cast<const void*>(&driver), spec.canonical(), kernel_template);
  k.hash = std::hash<std::string>{}(k.text);
  return k;
}

const Kernel* KernelCache::find(const Key& key) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  auto it = kernels_.find(key);
  return it == kernels_.end() ? nullptr : it->second.get();
}

const Kernel& KernelCache::get(const std::shared_ptr<Driver>& driver, jit::KernelSpec spec,
                               const std::string& kernel_template) {
  spec.set_arch(target_arch(*driver));
  const Key k = key(*driver, spec, kernel_template);
  if (const Kernel* found = find(k)) return *found;
  const jit::Family& family = jit::find_family(spec.family());
  const jit::ParamLayout* params = family.kernel(kernel_template).params;
  std::shared_ptr<const jit::Artifact> artifact;
  switch (driver->kernel_code()) {
    case KernelCode::kCubin: artifact = jit_.get(spec, jit::CompileOutput::kPtxAndCubin).artifact; break;
    case KernelCode::kPtx: artifact = jit_.get(spec, jit::CompileOutput::kPtxOnly).artifact; break;
    case KernelCode::kHostObject: artifact = jit_.get(spec, jit::CompileOutput::kHostObject).artifact; break;
    case KernelCode::kNone: artifact = spec_only_artifact(spec, family); break;
  }
  const std::string module_key = fmt::format("{}|{}", static_cast<const void*>(driver.get()), artifact->key);
  std::unique_lock<std::shared_mutex> lock(mu_);
  if (auto it = kernels_.find(k); it != kernels_.end()) return *it->second;
  auto& module = modules_[module_key];
  if (!module) module = std::make_shared<LoadedModule>(driver, artifact);
  auto kernel = std::make_unique<Kernel>(module, jit::name_expression(kernel_template), params);
  return *kernels_.emplace(k, std::move(kernel)).first->second;
}

}  // namespace qjit
