// JIT and cache speed (DESIGN.md section 9): cold NVRTC compile of the activation-
// quantization program, a warm disk-cache hit (read, verify, decode), and the in-memory
// kernel lookup per call; beside them the cpu device's: a cold in-process Clang/LLVM compile
// of its int8 GEMM program for this host, its warm disk hit, and linking the object into the
// process. bench/README.md says how the ratios against the cold compile of the same run are
// read off.

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <memory>

#include "jit/compiler.hpp"
#include "jit/impls/act_quant.hpp"
#include "jit/impls/attention.hpp"
#include "jit/impls/elementwise.hpp"
#include "jit/impls/norm_mod.hpp"
#include "jit/impls/qgemm.hpp"
#include "jit/impls/qgemm_wo.hpp"
#include "jit/impls/rope.hpp"
#include "jit/host_compiler.hpp"
#include "jit/impls/host_qgemm.hpp"
#include "jit/jit.hpp"
#include "jit/manifest.hpp"
#include "jit/source_gen.hpp"
#include "runtime/host_driver.hpp"
#include "runtime/kernels.hpp"

namespace {

using namespace qjit;

jit::KernelSpec act_quant_spec(const char* arch = "sm_90") {
  return jit::impls::act_quant_spec({DType::kBF16, QType::kInt8, ActScale::kDynamicPerToken, 1536}, {256},
                                    jit::Arch::parse(arch));
}

std::filesystem::path bench_cache_dir() {
  static const std::filesystem::path dir = [] {
    std::string tmpl = (std::filesystem::temp_directory_path() / "qjit-bench-XXXXXX").string();
    return std::filesystem::path(::mkdtemp(tmpl.data()));
  }();
  return dir;
}

cache::Options disk_options() {
  cache::Options o;
  o.dir = bench_cache_dir();
  o.max_bytes = 1ull << 30;
  return o;
}

// Compiles `p` once per iteration (NVRTC front end + NVVM + ptxas, no cache); compile_ms is
// NVRTC's own time per compile.
void compile_each_iteration(benchmark::State& state, const jit::Program& p, const std::string& label) {
  double total = 0;
  for (auto _ : state) {
    auto a = jit::compile(p);
    benchmark::DoNotOptimize(a.cubin.data());
    total += a.compile_ms;
  }
  state.counters["compile_ms"] = total / static_cast<double>(state.iterations());
  state.SetLabel(label);
}

// Cold compile: source generation, NVRTC front end + NVVM + ptxas for sm_90, no cache.
void BM_ColdCompile(benchmark::State& state) {
  const auto arch = state.range(0) == 0 ? "sm_80" : state.range(0) == 1 ? "sm_89" : "sm_90";
  compile_each_iteration(state, jit::build_program(act_quant_spec(arch)), arch);
}
BENCHMARK(BM_ColdCompile)->Arg(0)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->Iterations(5);

// Cold compile of each GPU family's program for sm_90, as a Wan2.1-1.3B forward under int8
// asks for it (attention projection at 1024 tokens, the heuristic's config): the W8A8 GEMM
// quantizing bf16 activations itself, its fp8 variant, the int8 weight-only GEMM, attention,
// norm + modulation, RoPE and the elementwise ops.
jit::KernelSpec family_spec(int family) {
  const jit::Arch arch = jit::Arch::parse("sm_90");
  jit::impls::GemmDesc g;
  g.m_bucket = 1024;
  g.n = g.k = 1536;
  g.a_source = jit::impls::ActSource::kDynamic;
  switch (family) {
    case 0: return jit::impls::qgemm_spec(g, jit::impls::qgemm_heuristic(g, arch), arch);
    case 1: {
      g.qtype_a = g.qtype_w = QType::kE4M3;
      return jit::impls::qgemm_spec(g, jit::impls::qgemm_heuristic(g, arch), arch);
    }
    case 2: {
      jit::impls::WeightOnlyDesc w;
      w.m_bucket = 1024;
      w.n = w.k = 1536;
      return jit::impls::qgemm_wo_spec(w, jit::impls::qgemm_wo_heuristic(w, arch), arch);
    }
    case 3: {
      const jit::impls::AttentionDesc a{DType::kBF16, DType::kBF16, 128};
      return jit::impls::attention_spec(a, jit::impls::attention_heuristic(a), arch);
    }
    case 4: {
      const jit::impls::NormModDesc n;
      return jit::impls::norm_mod_spec(n, jit::impls::norm_mod_heuristic(n), arch);
    }
    case 5: {
      const jit::impls::RopeDesc r;
      return jit::impls::rope_spec(r, jit::impls::rope_heuristic(r), arch);
    }
    default: {
      const jit::impls::ElementwiseDesc e;
      return jit::impls::elementwise_spec(e, jit::impls::elementwise_heuristic(e), arch);
    }
  }
}

void BM_ColdCompileFamily(benchmark::State& state) {
  static const char* const kNames[] = {"qgemm int8 (quantizes bf16 x)", "qgemm fp8_e4m3 (quantizes bf16 x)",
                                       "qgemm_wo int8", "attention bf16", "norm_mod", "rope", "elementwise"};
  compile_each_iteration(state, jit::build_program(family_spec(static_cast<int>(state.range(0)))),
                         std::string(kNames[state.range(0)]) + " sm_90");
}
BENCHMARK(BM_ColdCompileFamily)->DenseRange(0, 6)->Unit(benchmark::kMillisecond)->Iterations(3);

// PTX only (what the sim device needs): ptxas skipped.
void BM_ColdCompilePtxOnly(benchmark::State& state) {
  const jit::Program p = jit::build_program(act_quant_spec(), jit::CompileOutput::kPtxOnly);
  for (auto _ : state) benchmark::DoNotOptimize(jit::compile(p).ptx.data());
}
BENCHMARK(BM_ColdCompilePtxOnly)->Unit(benchmark::kMillisecond)->Iterations(5);

// Warm disk hit: a fresh Jit (as a new process would have) reads, verifies and decodes
// the entry. Includes generating the source and hashing the manifest.
void BM_DiskCacheHit(benchmark::State& state) {
  jit::Jit(disk_options()).get(act_quant_spec());  // publish once
  for (auto _ : state) {
    jit::Jit jit(disk_options());
    auto r = jit.get(act_quant_spec());
    if (r.outcome != jit::CacheOutcome::kDisk) state.SkipWithError("expected a disk hit");
    benchmark::DoNotOptimize(r.artifact.get());
  }
}
BENCHMARK(BM_DiskCacheHit)->Unit(benchmark::kMicrosecond);

// The same request answered from the Jit's memory (program + manifest + sha256).
void BM_JitMemoryHit(benchmark::State& state) {
  jit::Jit jit(disk_options());
  jit.get(act_quant_spec());
  for (auto _ : state) benchmark::DoNotOptimize(jit.get(act_quant_spec()).artifact.get());
}
BENCHMARK(BM_JitMemoryHit)->Unit(benchmark::kMicrosecond);

// A host-memory driver that accepts modules: the lookup measured never reaches a device.
class NullDriver : public Driver {
 public:
  NullDriver() { props_.arch = 90; }
  Device device() const override { return Device::sim(); }
  const DeviceProps& props() const override { return props_; }
  KernelCode kernel_code() const override { return KernelCode::kPtx; }
  DevicePtr alloc(std::size_t) override { return 0; }
  void free(DevicePtr) override {}
  void copy_to_device(DevicePtr, const void*, std::size_t) override {}
  void copy_to_host(void*, DevicePtr, std::size_t) override {}
  void copy_device(DevicePtr, DevicePtr, std::size_t) override {}
  void memset8(DevicePtr, std::uint8_t, std::size_t) override {}
  ModuleHandle load_module(const ModuleImage&) override { return this; }
  void unload_module(ModuleHandle) override {}
  FunctionHandle get_function(ModuleHandle, const std::string&) override { return this; }
  int get_attribute(FunctionHandle, FuncAttr) override { return 0; }
  void set_attribute(FunctionHandle, FuncAttr, int) override {}
  void launch(FunctionHandle, const LaunchConfig&, void**) override {}
  StreamHandle create_stream() override { return nullptr; }
  void destroy_stream(StreamHandle) override {}
  void synchronize(StreamHandle) override {}
  EventHandle create_event() override { return nullptr; }
  void destroy_event(EventHandle) override {}
  void record_event(EventHandle, StreamHandle) override {}
  void synchronize_event(EventHandle) override {}
  float elapsed_ms(EventHandle, EventHandle) override { return 0; }

 private:
  DeviceProps props_;
};

// The cpu device's int8 GEMM program (the Wan int8 linear's: bf16 out, bias, no GELU) for
// this host's best ISA.
jit::KernelSpec host_qgemm_spec() {
  jit::impls::HostQGemmDesc desc;
  desc.bias = DType::kBF16;
  desc.isa = jit::impls::host_isa();
  return jit::impls::host_qgemm_spec(desc, jit::impls::host_qgemm_heuristic(desc, 1024, 1536, 1536));
}

// Whether the row must be skipped: no compiler plugin, or no ISA (a bad QJIT_CPU_ISA).
bool skip_without_host_compiler(benchmark::State& state) {
  std::string why;
  if (!jit::host_compiler_available(&why)) {
    state.SkipWithError(("no cpu compiler: " + why).c_str());
    return true;
  }
  try {
    jit::impls::host_isa();
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return true;
  }
  return false;
}

// The cpu device's activation quantization program (the counterpart of act_quant_spec).
jit::KernelSpec host_act_quant_spec() {
  return jit::impls::host_act_quant_spec(
      {DType::kBF16, ActScale::kDynamicPerToken, QType::kInt8, jit::impls::host_isa()}, {});
}

// Cold host compile: source generation, Clang front end and LLVM -O3 codegen in process, no
// cache; arg 0 the activation quantization (as BM_ColdCompile), 1 the int8 GEMM. The timed
// compiles start from the process's <immintrin.h> PCH (hostcc/hostcc.cpp), which the first
// compile of the process builds: `first_ms` is that first compile (of arg 0 in a fresh run).
void BM_HostColdCompile(benchmark::State& state) {
  if (skip_without_host_compiler(state)) return;
  const jit::Program p = jit::build_program(state.range(0) == 0 ? host_act_quant_spec() : host_qgemm_spec(),
                                            jit::CompileOutput::kHostObject);
  state.counters["first_ms"] = jit::compile(p).compile_ms;
  double total = 0;
  for (auto _ : state) {
    auto a = jit::compile(p);
    benchmark::DoNotOptimize(a.object.data());
    total += a.compile_ms;
  }
  state.counters["compile_ms"] = total / static_cast<double>(state.iterations());
  state.SetLabel(std::string(state.range(0) == 0 ? "act_quant " : "qgemm_int8 ") +
                 jit::impls::host_isa_enum(jit::impls::host_isa()).value);
}
BENCHMARK(BM_HostColdCompile)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->Iterations(5);

// Its warm disk hit, as BM_DiskCacheHit: read, verify, decode.
void BM_HostDiskCacheHit(benchmark::State& state) {
  if (skip_without_host_compiler(state)) return;
  jit::Jit(disk_options()).get(host_qgemm_spec(), jit::CompileOutput::kHostObject);  // publish once
  for (auto _ : state) {
    jit::Jit jit(disk_options());
    auto r = jit.get(host_qgemm_spec(), jit::CompileOutput::kHostObject);
    if (r.outcome != jit::CacheOutcome::kDisk) state.SkipWithError("expected a disk hit");
    benchmark::DoNotOptimize(r.artifact.get());
  }
}
BENCHMARK(BM_HostDiskCacheHit)->Unit(benchmark::kMicrosecond);

// Linking the object into the process (ORC) and resolving its entry: what a disk hit adds on
// the cpu before the first launch (cuModuleLoadData's counterpart).
void BM_HostModuleLoad(benchmark::State& state) {
  if (skip_without_host_compiler(state)) return;
  jit::Jit jit(disk_options());
  const auto r = jit.get(host_qgemm_spec(), jit::CompileOutput::kHostObject);
  const auto driver = host_driver();
  ModuleImage image;
  image.object = r.artifact->object;
  image.name = "host_qgemm_int8";
  const std::string entry = r.artifact->kernel(jit::name_expression(jit::impls::kHostQGemmInt8)).lowered_name;
  for (auto _ : state) {
    const ModuleHandle m = driver->load_module(image);
    benchmark::DoNotOptimize(driver->get_function(m, entry));
    driver->unload_module(m);
  }
}
BENCHMARK(BM_HostModuleLoad)->Unit(benchmark::kMicrosecond);

// The per-call lookup an op does once its kernel is resolved: precomputed key, shared lock.
void BM_KernelLookup(benchmark::State& state) {
  jit::Jit jit(disk_options());
  KernelCache kernels(jit);
  auto driver = std::make_shared<NullDriver>();
  kernels.get(driver, act_quant_spec(), "qjit::kernels::act_quant_per_token");
  const auto key = KernelCache::key(*driver, act_quant_spec(), "qjit::kernels::act_quant_per_token");
  for (auto _ : state) benchmark::DoNotOptimize(kernels.find(key));
}
BENCHMARK(BM_KernelLookup)->Unit(benchmark::kNanosecond);

// Resolving the key itself (canonical JSON + hash), which a hot path does once.
void BM_KernelKey(benchmark::State& state) {
  NullDriver driver;
  const auto spec = act_quant_spec();
  for (auto _ : state) benchmark::DoNotOptimize(KernelCache::key(driver, spec, "qjit::kernels::act_quant_per_token"));
}
BENCHMARK(BM_KernelKey)->Unit(benchmark::kNanosecond);

}  // namespace
