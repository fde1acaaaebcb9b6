#pragma once
// From a KernelSpec to a launchable kernel on one driver: the JIT (memory, disk, NVRTC) for
// the code the driver runs (Driver::kernel_code), then the module loaded once per driver and
// artifact, then the function. Same code for cuda, sim and the plan device; only the Driver
// differs.

#include <array>
#include <atomic>
#include <memory>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "jit/jit.hpp"
#include "jit/kernel_params.hpp"
#include "runtime/driver.hpp"

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
  /// `params`: the layout of the struct the kernel entry takes (its family's KernelEntry).
  Kernel(std::shared_ptr<LoadedModule> module, std::string name_expression, const jit::ParamLayout* params);

  bool valid() const { return fn_ != nullptr; }
  const std::string& name() const { return name_; }
  const jit::Artifact& artifact() const { return module_->artifact(); }
  Driver& driver() const { return module_->driver(); }

  // The typed launch: `params` is the host struct of the kernel's family (jit/kernel_params.hpp),
  // whose fields are the entry's parameters, in order. Refuses another struct, validates the
  // launch as a device would (threads, dynamic shared memory, opting in above 48 KB when the
  // device allows it), then launches.
  template <class P>
  void launch(const LaunchConfig& config, const P& params) const {
    const jit::ParamLayout& layout = jit::param_layout<P>();
    check_params(layout);
    std::array<void*, jit::kMaxKernelParams> args;
    auto* base = const_cast<unsigned char*>(reinterpret_cast<const unsigned char*>(&params));
    for (std::size_t i = 0; i < layout.fields.size(); ++i) args[i] = base + layout.fields[i].offset;
    launch_packed(config, args.data());
  }

 private:
  void check_params(const jit::ParamLayout& given) const;
  void launch_packed(const LaunchConfig& config, void** args) const;

  std::shared_ptr<LoadedModule> module_;
  std::string name_;
  const jit::ParamLayout* params_ = nullptr;
  FunctionHandle fn_ = nullptr;
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

// What a call site (a layer, one glue op of a block) resolved for one kind of call: found
// again by comparing a few integers — the driver and what varies between its calls (the M
// bucket, dtypes, alignment) — so once an entry exists the per-call path builds no spec,
// hashes nothing and touches no string (DESIGN.md section 3a). Entries stay for the call
// site's lifetime; a layer sees a handful of shapes. Thread-safe.
struct PlanKey {
  const Driver* driver = nullptr;
  std::array<std::int64_t, 4> v{};
  bool operator==(const PlanKey&) const = default;
};

template <class Plan>
class PlanMemo {
 public:
  PlanMemo() = default;
  // NOTE: a copy of a layer starts with no plans (they name its own kernels' resolution).
  PlanMemo(const PlanMemo&) {}
  PlanMemo& operator=(const PlanMemo&) { return *this; }

  /// The plan for `key`, made by `make()` on the first call.
  template <class Make>
  const Plan& get(const PlanKey& key, Make&& make) {
    {
      std::shared_lock lock(mu_);
      for (const auto& [k, p] : entries_) {
        if (k == key) return *p;
      }
    }
    auto plan = std::make_unique<const Plan>(make());
    std::unique_lock lock(mu_);
    for (const auto& [k, p] : entries_) {
      if (k == key) return *p;  // another thread made it meanwhile
    }
    return *entries_.emplace_back(key, std::move(plan)).second;
  }
  std::size_t size() const {
    std::shared_lock lock(mu_);
    return entries_.size();
  }

 private:
  mutable std::shared_mutex mu_;
  std::vector<std::pair<PlanKey, std::unique_ptr<const Plan>>> entries_;
};

/// A single-kernel op resolved for one kind of call: its kernel and the launch numbers its
/// config gives (in the op's own meaning: threads, rows per block, shared memory ...).
struct ResolvedKernel {
  const Kernel* kernel = nullptr;
  std::array<std::int64_t, 3> launch{};
};
using KernelMemo = PlanMemo<ResolvedKernel>;

/// The plan for `key` on `driver`: from `memo` (made by `make` on the first call), or, without
/// a memo, made now into `local`.
template <class Plan, class Make>
const Plan& resolve_plan(PlanMemo<Plan>* memo, const Driver& driver, const std::array<std::int64_t, 4>& key,
                         Plan& local, Make&& make) {
  if (memo == nullptr) return local = make();
  return memo->get(PlanKey{&driver, key}, std::forward<Make>(make));
}

}  // namespace qjit
