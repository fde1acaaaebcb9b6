#pragma once
// From a KernelSpec to a launchable kernel on one driver: the JIT (memory, disk, NVRTC),
// then the module loaded once per driver and artifact, then the function. Same code for
// cuda and sim; only the Driver differs.

#include <atomic>
#include <memory>
#include <shared_mutex>
#include <string>
#include <unordered_map>

#include "jit/jit.hpp"
#include "runtime/driver.hpp"
#include "runtime/plan_driver.hpp"

namespace qjit {

// A module loaded on a driver; unloaded when the last Kernel using it goes.
class LoadedModule {
 public:
  LoadedModule(std::shared_ptr<Driver> driver, std::shared_ptr<const jit::Artifact> artifact);
  ~LoadedModule();
  LoadedModule(const LoadedModule&) = delete;
  LoadedModule& operator=(const LoadedModule&) = delete;

  const jit::Artifact& artifact() const { return *artifact_; }
  Driver& driver() const { return *driver_; }
  FunctionHandle function(const std::string& name_expression) const;

 private:
  std::shared_ptr<Driver> driver_;
  std::shared_ptr<const jit::Artifact> artifact_;
  ModuleHandle module_ = nullptr;
};

class Kernel {
 public:
  Kernel() = default;
  Kernel(std::shared_ptr<LoadedModule> module, std::string name_expression);
  /// A kernel a PlanDriver recorded (runtime/plan_driver.hpp): its launches are counted there.
  Kernel(std::shared_ptr<PlanDriver> plan, std::size_t plan_index, std::string name_expression);

  bool valid() const { return fn_ != nullptr || plan_ != nullptr; }
  const std::string& name() const { return name_; }
  const jit::Artifact& artifact() const { return module_->artifact(); }
  Driver& driver() const { return module_->driver(); }

  // Validates the launch as a device would (threads, dynamic shared memory, opting in above
  // 48 KB when the device allows it), then launches.
  void launch(const LaunchConfig& config, void** args) const;
  template <typename Args>
  void launch(const LaunchConfig& config, Args& args) const {
    launch(config, args.pointers());
  }

 private:
  std::shared_ptr<LoadedModule> module_;
  std::string name_;
  FunctionHandle fn_ = nullptr;
  std::shared_ptr<PlanDriver> plan_;
  std::size_t plan_index_ = 0;
};

// The arch to compile for on a driver: the device's, or QJIT_ARCH on a cuda device.
jit::Arch target_arch(const Driver& driver);

// Kernels by (driver, spec, entry), resolved once. The returned reference stays valid for
// the cache's lifetime. Callers on a hot path build the Key once (it hashes the canonical
// spec) and then look up with find(): a shared lock, a precomputed hash and one compare.
class KernelCache {
 public:
  explicit KernelCache(jit::Jit& jit = jit::Jit::global()) : jit_(jit) {}

  struct Key {
    std::string text;  // driver|canonical spec (arch = target_arch)|entry
    std::size_t hash = 0;
    bool operator==(const Key& o) const { return hash == o.hash && text == o.text; }
  };
  // `spec`'s arch is replaced by target_arch(driver). `kernel_template` is a family's kernel
  // template ("qjit::kernels::act_quant_per_token").
  static Key key(const Driver& driver, jit::KernelSpec spec, const std::string& kernel_template);

  // The resolved kernel, or null if `key` was never resolved.
  const Kernel* find(const Key& key) const;
  // Resolves on first use: JIT, load the module once per driver and artifact, get the function.
  const Kernel& get(const std::shared_ptr<Driver>& driver, jit::KernelSpec spec, const std::string& kernel_template);

  // The process-wide cache used by the ops.
  static KernelCache& global();

  // How often a key was made from a spec (canonical JSON and a hash): what the per-call path
  // must not do once a layer resolved its kernels (tests count it across a warm forward).
  std::uint64_t spec_lookups() const { return spec_lookups_.load(std::memory_order_relaxed); }

 private:
  jit::Jit& jit_;
  struct KeyHash {
    std::size_t operator()(const Key& k) const { return k.hash; }
  };
  std::atomic<std::uint64_t> spec_lookups_{0};
  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<LoadedModule>> modules_;  // driver|artifact key
  std::unordered_map<Key, std::unique_ptr<Kernel>, KeyHash> kernels_;
};

}  // namespace qjit
