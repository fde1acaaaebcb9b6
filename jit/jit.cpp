#include "jit/jit.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <thread>

#include "cache/bundle.hpp"
#include "common/error.hpp"
#include "common/knobs.hpp"
#include "common/log.hpp"
#include "common/sha256.hpp"
#include "jit/compiler.hpp"
#include "jit/manifest.hpp"
#include "jit/source_gen.hpp"

namespace qjit::jit {

namespace {

double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

void dump_beside(cache::DiskCache& disk, const std::string& key, const Program& p, const Artifact& a) {
  disk.write_beside(key, ".cu", p.source);
  disk.write_beside(key, ".ptx", a.ptx);
  disk.write_beside(key, ".log", a.log);
}

}  // namespace

const char* outcome_name(CacheOutcome o) {
  switch (o) {
    case CacheOutcome::kMemory: return "memory";
    case CacheOutcome::kDisk: return "hit";
    case CacheOutcome::kCompiled: return "miss";
    case CacheOutcome::kRebuilt: return "rebuilt";
  }
  return "?";
}

Jit::Jit(cache::Options options) : disk_(std::move(options)) {}

Jit& Jit::global() {
  static Jit jit(cache::Options::from_env());
  return jit;
}

JitStats Jit::stats() const {
  std::lock_guard<std::mutex> lock(stats_mu_);
  return stats_;
}

JitResult Jit::get(const KernelSpec& spec, CompileOutput output) {
  const auto start = std::chrono::steady_clock::now();
  const Program program = build_program(spec, output);
  const std::string manifest = make_manifest(program);
  const std::string key = sha256_hex(manifest);
  bool computed_here = false;
  auto shared = flight_.get(key, [&] {
    computed_here = true;
    return load_or_compile(program, manifest, key);
  });
  JitResult r = *shared;
  if (!computed_here) {
    r.outcome = CacheOutcome::kMemory;
    std::lock_guard<std::mutex> lock(stats_mu_);
    ++stats_.memory_hits;
  }
  r.ms = ms_since(start);
  return r;
}

JitResult Jit::load_or_compile(const Program& program, const std::string& manifest, const std::string& key) {
  const bool use_disk = disk_.options().enabled;
  const bool always = knobs::always_compile();
  bool damaged = false;
  auto try_disk = [&]() -> std::shared_ptr<const Artifact> {
    if (!use_disk || always) return nullptr;
    auto r = disk_.load(key, manifest);
    if (r.status == cache::LoadStatus::kCorrupt || r.status == cache::LoadStatus::kUntrusted) damaged = true;
    if (r.status != cache::LoadStatus::kHit) return nullptr;
    try {
      return std::make_shared<const Artifact>(Artifact::from_entry(*r.entry, key));
    } catch (const Error& e) {
      log(LogLevel::kWarn, "{}; rebuilding", e.message());
      damaged = true;
      return nullptr;
    }
  };
  if (auto a = try_disk()) {
    std::lock_guard<std::mutex> lock(stats_mu_);
    ++stats_.disk_hits;
    return {a, CacheOutcome::kDisk, 0};
  }
  // NOTE: the lock only saves duplicate work across processes; correctness never needs it.
  auto lock = use_disk ? disk_.lock(key, "compiling " + program.spec.summary()) : nullptr;
  if (auto a = try_disk()) {
    std::lock_guard<std::mutex> l(stats_mu_);
    ++stats_.disk_hits;
    return {a, CacheOutcome::kDisk, 0};
  }
  std::string bundle_problem;
  if (auto a = always ? nullptr : from_bundle(key, manifest, bundle_problem)) {
    if (use_disk) disk_.store(key, a->to_entry(manifest));
    std::lock_guard<std::mutex> l(stats_mu_);
    ++stats_.disk_hits;
    return {a, CacheOutcome::kDisk, 0};
  }
  QJIT_CHECK_GEN("jit", !knobs::offline(), "QJIT_OFFLINE is set and kernel '{}' is not in the cache at {} (key {}){}",
                 program.spec.summary(), disk_.options().dir.string(), key,
                 bundle_problem.empty() ? (knobs::cache_bundle() ? " nor in QJIT_CACHE_BUNDLE's bundle" : "")
                                        : "; QJIT_CACHE_BUNDLE: " + bundle_problem);
  auto artifact = std::make_shared<Artifact>(compile(program));
  artifact->key = key;
  if (use_disk) {
    const bool stored = disk_.store(key, artifact->to_entry(manifest));
    if (knobs::dump()) dump_beside(disk_, key, program, *artifact);
    if (!stored) {
      std::lock_guard<std::mutex> l(stats_mu_);
      ++stats_.store_failures;
    }
  }
  std::lock_guard<std::mutex> l(stats_mu_);
  ++(damaged ? stats_.rebuilds : stats_.compiles);
  return {artifact, damaged ? CacheOutcome::kRebuilt : CacheOutcome::kCompiled, 0};
}

const std::map<std::string, cache::Entry>& Jit::bundle(std::string& problem) {
  std::call_once(bundle_once_, [&] {
    const auto path = knobs::cache_bundle();
    if (!path) return;
    // NOTE: nothing may leave this callable (an exception would leave the once flag unset):
    // an unusable bundle is a problem said once and kept.
    try {
      for (auto& e : cache::read_bundle(*path)) bundle_.emplace(e.key, std::move(e.entry));
      log(LogLevel::kInfo, "jit: {} kernels in the bundle {} (QJIT_CACHE_BUNDLE)", bundle_.size(), *path);
    } catch (const Error& e) {
      bundle_problem_ = e.message();
    } catch (const std::exception& e) {
      bundle_problem_ = fmt::format("cannot read the bundle {}: {}", *path, e.what());
    } catch (...) {
      bundle_problem_ = fmt::format("cannot read the bundle {}", *path);
    }
    if (!bundle_problem_.empty()) {
      bundle_.clear();
      log(LogLevel::kWarn, "jit: QJIT_CACHE_BUNDLE is not used: {}", bundle_problem_);
    }
  });
  problem = bundle_problem_;
  return bundle_;
}

std::shared_ptr<const Artifact> Jit::from_bundle(const std::string& key, const std::string& manifest,
                                                 std::string& problem) {
  if (!knobs::cache_bundle()) return nullptr;
  const auto& entries = bundle(problem);
  const auto it = entries.find(key);
  // NOTE: the key is the manifest's sha256, checked when the bundle was read; the manifest is
  // compared too, as a disk hit's is.
  if (it == entries.end() || it->second.manifest != manifest) return nullptr;
  try {
    return std::make_shared<const Artifact>(Artifact::from_entry(it->second, key));
  } catch (const Error& e) {
    log(LogLevel::kWarn, "jit: the bundle's entry {} is unusable: {}", key.substr(0, 16), e.message());
    return nullptr;
  }
}

void Jit::run_pool(const std::vector<KernelSpec>& specs, CompileOutput output, const Progress& progress,
                   std::vector<JitResult>& results, std::vector<std::exception_ptr>& errors) {
  results.assign(specs.size(), JitResult{});
  errors.assign(specs.size(), nullptr);
  std::atomic<size_t> next{0};
  size_t done = 0;
  std::mutex progress_mu;
  auto worker = [&] {
    for (size_t i = next++; i < specs.size(); i = next++) {
      try {
        results[i] = get(specs[i], output_for(specs[i], output));
      } catch (...) {
        errors[i] = std::current_exception();
      }
      std::lock_guard<std::mutex> lock(progress_mu);
      ++done;
      if (progress && !errors[i]) progress(done, specs.size(), specs[i], results[i]);
    }
  };
  // NOTE: bounded: an NVRTC instance compiling a GEMM takes hundreds of MB.
  const size_t n = std::min<size_t>(knobs::compile_threads(), specs.size());
  std::vector<std::thread> pool;
  for (size_t t = 1; t < n; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
}

std::vector<JitResult> Jit::get_all(const std::vector<KernelSpec>& specs, const Progress& progress,
                                    CompileOutput output) {
  std::vector<JitResult> results;
  std::vector<std::exception_ptr> errors;
  run_pool(specs, output, progress, results, errors);
  for (auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
  return results;
}

std::vector<std::string> Jit::try_all(const std::vector<KernelSpec>& specs, CompileOutput output,
                                      const Progress& progress) {
  std::vector<JitResult> results;
  std::vector<std::exception_ptr> errors;
  run_pool(specs, output, progress, results, errors);
  std::vector<std::string> out(specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    if (!errors[i]) continue;
    try {
      std::rethrow_exception(errors[i]);
    } catch (const std::exception& e) {
      out[i] = e.what();
      if (out[i].empty()) out[i] = "failed without a message";
    } catch (...) {
      out[i] = "failed with an unknown exception";
    }
  }
  return out;
}

}  // namespace qjit::jit
