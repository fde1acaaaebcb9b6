#pragma once
// The JIT service: KernelSpec -> Artifact, through an in-memory map, the disk cache and
// NVRTC. One compile per key in process (single flight) and, best effort, across processes
// (per-key file lock). Compiles many specs in parallel on a bounded pool.

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "cache/disk_cache.hpp"
#include "cache/single_flight.hpp"
#include "jit/artifact.hpp"
#include "jit/program.hpp"

namespace qjit::jit {

enum class CacheOutcome {
  kMemory,   // already in this process
  kDisk,     // read from the disk cache
  kCompiled, // compiled (cold miss, QJIT_ALWAYS_COMPILE or cache disabled)
  kRebuilt,  // the disk entry was corrupt or untrusted: compiled again
};
const char* outcome_name(CacheOutcome o);

struct JitResult {
  std::shared_ptr<const Artifact> artifact;
  CacheOutcome outcome = CacheOutcome::kMemory;
  double ms = 0;  // wall time of this request
};

struct JitStats {
  std::uint64_t memory_hits = 0, disk_hits = 0, compiles = 0, rebuilds = 0, store_failures = 0;
};

/// What `spec` compiles to when GPU specs compile to `gpu`: a host spec's is a host object.
inline CompileOutput output_for(const KernelSpec& spec, CompileOutput gpu) {
  return spec.arch().is_host() ? CompileOutput::kHostObject : gpu;
}

class Jit {
 public:
  explicit Jit(cache::Options options);
  // The process-wide instance, configured from the QJIT_* knobs on first use.
  static Jit& global();

  JitResult get(const KernelSpec& spec, CompileOutput output = CompileOutput::kPtxAndCubin);

  // Many specs on the bounded pool (QJIT_COMPILE_THREADS); `progress(done, total, spec,
  // result)` is called as each finishes, serialized. Results in input order; the first
  // failure is rethrown after all finished. `output` is the GPU specs'; a host spec is always
  // a host object (output_for).
  using Progress = std::function<void(size_t done, size_t total, const KernelSpec&, const JitResult&)>;
  std::vector<JitResult> get_all(const std::vector<KernelSpec>& specs, const Progress& progress = nullptr,
                                 CompileOutput output = CompileOutput::kPtxAndCubin);

  // As get_all, but a spec's failure is its own: per spec "" or its error's message (the
  // autotuner compiles candidates some of which the compiler may refuse).
  std::vector<std::string> try_all(const std::vector<KernelSpec>& specs, CompileOutput output,
                                   const Progress& progress = nullptr);

  cache::DiskCache& disk() { return disk_; }
  JitStats stats() const;

 private:
  // get() for every spec on the bounded pool; per spec its result or its exception.
  void run_pool(const std::vector<KernelSpec>& specs, CompileOutput output, const Progress& progress,
                std::vector<JitResult>& results, std::vector<std::exception_ptr>& errors);
  JitResult load_or_compile(const Program& program, const std::string& manifest, const std::string& key);

  // QJIT_CACHE_BUNDLE's entries (read on the first miss), or why it could not be read.
  const std::map<std::string, cache::Entry>& bundle(std::string& problem);
  std::shared_ptr<const Artifact> from_bundle(const std::string& key, const std::string& manifest, std::string& problem);

  cache::DiskCache disk_;
  cache::SingleFlight<std::string, JitResult> flight_;
  std::once_flag bundle_once_;
  std::map<std::string, cache::Entry> bundle_;
  std::string bundle_problem_;
  mutable std::mutex stats_mu_;
  JitStats stats_;
};

}  // namespace qjit::jit
