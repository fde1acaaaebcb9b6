// The GEMM families on the `cuda` device, on the Wan2.1 linear shapes, against cuBLASLt in
// the same run (DESIGN.md section 9): a bf16 GEMM (bf16 in and out, fp32 accumulation) and
// an int8 IMMA GEMM (int8 in, int32 out, no epilogue). Each row times 100 calls of one
// family (int8 / fp8 W8A8, block-fp8, int8 weight-only, float activations quantized by the
// GEMM) on one shape; its counters give our kernel time and both baselines' on that shape,
// and the ratios baseline_time / our_time (above 1: we are faster).
//
// Timing: our ops run through TimedDriver, which forwards to the cuda driver and brackets
// every kernel launch with two CUDA events, so a row's time is the GPU time of the kernels
// the op launched (an activation-quantization pass included), not the op's host work
// (validation, output allocation, the closing synchronize), which `op_us` reports apart.
// The baselines are timed with events around 20 back-to-back cublasLtMatmul calls with the
// first algorithm cuBLASLt's heuristic offers (32 MiB workspace).
//
// Without a GPU every row is skipped with the cuda driver's reason.

#include <benchmark/benchmark.h>
#include <cublasLt.h>
#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "bench/bench_data.hpp"
#include "common/error.hpp"
#include "quant_ops/qgemm.hpp"
#include "quant_ops/qgemm_weight_only.hpp"
#include "runtime/device.hpp"
#include "runtime/driver.hpp"
#include "runtime/float_convert.hpp"
#include "runtime/tensor.hpp"

namespace {

using namespace qjit;

// ---- a driver that times every launch --------------------------------------------------

class TimedDriver final : public Driver {
 public:
  explicit TimedDriver(std::shared_ptr<Driver> inner) : inner_(std::move(inner)) {}
  ~TimedDriver() override {
    for (auto& p : free_) inner_->destroy_event(p.first), inner_->destroy_event(p.second);
    for (auto& p : pending_) inner_->destroy_event(p.first), inner_->destroy_event(p.second);
  }

  // Waits for the launches since the last call and returns their summed GPU time.
  double take_kernel_ms() {
    inner_->synchronize();
    double ms = 0;
    for (auto& p : pending_) {
      ms += inner_->elapsed_ms(p.first, p.second);
      free_.push_back(p);
    }
    launches_ = static_cast<int>(pending_.size());
    pending_.clear();
    return ms;
  }
  int last_launches() const { return launches_; }
  Driver& inner() { return *inner_; }

  Device device() const override { return inner_->device(); }
  const DeviceProps& props() const override { return inner_->props(); }
  KernelCode kernel_code() const override { return inner_->kernel_code(); }
  DevicePtr alloc(std::size_t bytes) override { return inner_->alloc(bytes); }
  void free(DevicePtr ptr) override { inner_->free(ptr); }
  void copy_to_device(DevicePtr dst, const void* src, std::size_t bytes) override {
    inner_->copy_to_device(dst, src, bytes);
  }
  void copy_to_host(void* dst, DevicePtr src, std::size_t bytes) override { inner_->copy_to_host(dst, src, bytes); }
  void copy_device(DevicePtr dst, DevicePtr src, std::size_t bytes) override { inner_->copy_device(dst, src, bytes); }
  void memset8(DevicePtr dst, std::uint8_t value, std::size_t bytes) override { inner_->memset8(dst, value, bytes); }
  ModuleHandle load_module(const ModuleImage& image) override { return inner_->load_module(image); }
  void unload_module(ModuleHandle module) override { inner_->unload_module(module); }
  FunctionHandle get_function(ModuleHandle module, const std::string& name) override {
    return inner_->get_function(module, name);
  }
  int get_attribute(FunctionHandle fn, FuncAttr attr) override { return inner_->get_attribute(fn, attr); }
  void set_attribute(FunctionHandle fn, FuncAttr attr, int value) override { inner_->set_attribute(fn, attr, value); }
  void launch(FunctionHandle fn, const LaunchConfig& config, void** args) override {
    std::pair<EventHandle, EventHandle> p;
    if (free_.empty()) {
      p = {inner_->create_event(), inner_->create_event()};
    } else {
      p = free_.back();
      free_.pop_back();
    }
    inner_->record_event(p.first, config.stream);
    inner_->launch(fn, config, args);
    inner_->record_event(p.second, config.stream);
    pending_.push_back(p);
  }
  StreamHandle create_stream() override { return inner_->create_stream(); }
  void destroy_stream(StreamHandle stream) override { inner_->destroy_stream(stream); }
  void synchronize(StreamHandle stream) override { inner_->synchronize(stream); }
  EventHandle create_event() override { return inner_->create_event(); }
  void destroy_event(EventHandle event) override { inner_->destroy_event(event); }
  void record_event(EventHandle event, StreamHandle stream) override { inner_->record_event(event, stream); }
  void synchronize_event(EventHandle event) override { inner_->synchronize_event(event); }
  float elapsed_ms(EventHandle start, EventHandle end) override { return inner_->elapsed_ms(start, end); }

 private:
  std::shared_ptr<Driver> inner_;
  std::vector<std::pair<EventHandle, EventHandle>> free_, pending_;
  int launches_ = 0;
};

// The GPU, opened once; `error` says why not when there is none.
struct Gpu {
  std::shared_ptr<TimedDriver> driver;
  std::string error;
};

Gpu& gpu() {
  static Gpu g = [] {
    Gpu r;
    try {
      r.driver = std::make_shared<TimedDriver>(driver_for(Device::cuda()));
    } catch (const Error& e) {
      r.error = e.message();
    }
    return r;
  }();
  return g;
}

// ---- operands ----------------------------------------------------------------------------

Tensor device_bytes(std::vector<std::int64_t> shape, DType dtype, std::uint32_t seed) {
  return bench::host_codes(std::move(shape), dtype, seed).to(Device::cuda(), gpu().driver);
}

Tensor device_floats(std::vector<std::int64_t> shape, DType dtype, float lo, float hi, std::uint32_t seed) {
  return bench::host_floats(std::move(shape), dtype, lo, hi, seed).to(Device::cuda(), gpu().driver);
}

// ---- cuBLASLt baselines ------------------------------------------------------------------

#define QJIT_BENCH_CUBLAS(call)                                                                     \
  do {                                                                                              \
    const cublasStatus_t s_ = (call);                                                               \
    QJIT_CHECK_GEN("cublaslt", s_ == CUBLAS_STATUS_SUCCESS, "{} failed: {}", #call, cublasLtGetStatusString(s_)); \
  } while (0)

enum class Baseline { kBf16, kInt8 };

// Microseconds of one cublasLtMatmul of y[M, N] = x[M, K] · w[N, K]^T (row-major), memoized
// per shape. In cuBLASLt's column-major terms: D[N, M] = op(A)·B with A = w ([K, N], op T)
// and B = x ([K, M], op N): the "TN" layout int8 IMMA needs.
double cublaslt_us(Baseline b, std::int64_t m, std::int64_t n, std::int64_t k) {
  static std::map<std::tuple<int, std::int64_t, std::int64_t, std::int64_t>, double> memo;
  const auto key = std::make_tuple(static_cast<int>(b), m, n, k);
  if (auto it = memo.find(key); it != memo.end()) return it->second;
  Driver& d = gpu().driver->inner();
  const bool i8 = b == Baseline::kInt8;
  const cudaDataType_t in_type = i8 ? CUDA_R_8I : CUDA_R_16BF, out_type = i8 ? CUDA_R_32I : CUDA_R_16BF;
  const Tensor w = i8 ? device_bytes({n, k}, DType::kI8, 11) : device_floats({n, k}, DType::kBF16, -1, 1, 11);
  const Tensor x = i8 ? device_bytes({m, k}, DType::kI8, 12) : device_floats({m, k}, DType::kBF16, -1, 1, 12);
  const Tensor y = Tensor::empty({m, n}, i8 ? DType::kI32 : DType::kBF16, Device::cuda(), gpu().driver);
  constexpr std::size_t kWorkspace = 32u << 20;
  const Tensor workspace = Tensor::empty({static_cast<std::int64_t>(kWorkspace)}, DType::kI8, Device::cuda(), gpu().driver);

  cublasLtHandle_t handle = nullptr;
  QJIT_BENCH_CUBLAS(cublasLtCreate(&handle));
  cublasLtMatmulDesc_t op = nullptr;
  QJIT_BENCH_CUBLAS(cublasLtMatmulDescCreate(&op, i8 ? CUBLAS_COMPUTE_32I : CUBLAS_COMPUTE_32F,
                                             i8 ? CUDA_R_32I : CUDA_R_32F));
  const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
  QJIT_BENCH_CUBLAS(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
  QJIT_BENCH_CUBLAS(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
  cublasLtMatrixLayout_t la = nullptr, lb = nullptr, ld = nullptr;
  QJIT_BENCH_CUBLAS(cublasLtMatrixLayoutCreate(&la, in_type, k, n, k));
  QJIT_BENCH_CUBLAS(cublasLtMatrixLayoutCreate(&lb, in_type, k, m, k));
  QJIT_BENCH_CUBLAS(cublasLtMatrixLayoutCreate(&ld, out_type, n, m, n));
  cublasLtMatmulPreference_t pref = nullptr;
  QJIT_BENCH_CUBLAS(cublasLtMatmulPreferenceCreate(&pref));
  QJIT_BENCH_CUBLAS(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &kWorkspace,
                                                         sizeof kWorkspace));
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  QJIT_BENCH_CUBLAS(cublasLtMatmulAlgoGetHeuristic(handle, op, la, lb, ld, ld, pref, 1, &result, &found));
  QJIT_CHECK_GEN("cublaslt", found > 0, "no cuBLASLt algorithm for {} {}x{}x{}", i8 ? "int8" : "bf16", m, n, k);
  const std::int32_t one_i = 1, zero_i = 0;
  const float one_f = 1, zero_f = 0;
  const void* alpha = i8 ? static_cast<const void*>(&one_i) : &one_f;
  const void* beta = i8 ? static_cast<const void*>(&zero_i) : &zero_f;
  auto ptr = [](const Tensor& t) { return reinterpret_cast<void*>(t.device_ptr()); };
  auto run = [&] {
    QJIT_BENCH_CUBLAS(cublasLtMatmul(handle, op, alpha, ptr(w), la, ptr(x), lb, beta, ptr(y), ld, ptr(y), ld,
                                     &result.algo, ptr(workspace), kWorkspace, nullptr));
  };
  for (int i = 0; i < 3; ++i) run();  // warm-up (lazy module loads, clocks)
  constexpr int kRuns = 20;
  EventHandle start = d.create_event(), end = d.create_event();
  d.record_event(start);
  for (int i = 0; i < kRuns; ++i) run();
  d.record_event(end);
  d.synchronize_event(end);
  const double us = 1000.0 * d.elapsed_ms(start, end) / kRuns;
  d.destroy_event(start);
  d.destroy_event(end);
  cublasLtMatmulPreferenceDestroy(pref);
  cublasLtMatrixLayoutDestroy(la);
  cublasLtMatrixLayoutDestroy(lb);
  cublasLtMatrixLayoutDestroy(ld);
  cublasLtMatmulDescDestroy(op);
  cublasLtDestroy(handle);
  memo[key] = us;
  return us;
}

// ---- the families ------------------------------------------------------------------------

struct Shape {
  const char* name;  // the Wan2.1 layer
  std::int64_t n, k;
};

// Wan2.1 linear layers: attention projections (dim x dim) and the FFN in both orientations.
const std::vector<Shape> kShapes = {
    {"wan1.3b_attn", 1536, 1536}, {"wan1.3b_ffn_up", 8960, 1536}, {"wan1.3b_ffn_down", 1536, 8960},
    {"wan14b_attn", 5120, 5120},  {"wan14b_ffn_up", 13824, 5120}, {"wan14b_ffn_down", 5120, 13824},
};
const std::vector<std::int64_t> kTokens = {256, 1024, 4096};

// One family's call on prepared operands (created outside the timed loop).
using Call = std::function<Tensor()>;
using Prepare = std::function<Call(std::int64_t m, std::int64_t n, std::int64_t k)>;

Call w8a8(DType code, std::int64_t m, std::int64_t n, std::int64_t k) {
  const Tensor a = device_bytes({m, k}, code, 1), w = device_bytes({n, k}, code, 2);
  const Tensor sa = device_floats({m}, DType::kF32, 0.01f, 0.02f, 3), sw = device_floats({n}, DType::kF32, 0.01f, 0.02f, 4);
  return [=] { return qgemm(a, sa, w, sw); };
}

Call block_fp8(std::int64_t m, std::int64_t n, std::int64_t k) {
  const Tensor a = device_bytes({m, k}, DType::kE4M3, 1), w = device_bytes({n, k}, DType::kE4M3, 2);
  const Tensor sa = device_floats({m, (k + 127) / 128}, DType::kF32, 0.01f, 0.02f, 3);
  const Tensor sw = device_floats({(n + 127) / 128, (k + 127) / 128}, DType::kF32, 0.01f, 0.02f, 4);
  QGemmOptions o;
  o.act_granularity = Granularity::kGroup128;
  o.weight_granularity = Granularity::kBlock128;
  return [=] { return qgemm(a, sa, w, sw, o); };
}

Call weight_only_int8(std::int64_t m, std::int64_t n, std::int64_t k) {
  const Tensor x = device_floats({m, k}, DType::kBF16, -1, 1, 1), w = device_bytes({n, k}, DType::kI8, 2);
  const Tensor sw = device_floats({n}, DType::kF32, 0.01f, 0.02f, 4);
  return [=] { return qgemm_weight_only(x, w, sw); };
}

// Float activations quantized by the GEMM (int8): dynamic per-token (the heuristic picks
// fused or separate) or static per-tensor.
Call float_act_int8(bool dynamic, std::int64_t m, std::int64_t n, std::int64_t k) {
  const Tensor x = device_floats({m, k}, DType::kBF16, -4, 4, 1), w = device_bytes({n, k}, DType::kI8, 2);
  const Tensor sw = device_floats({n}, DType::kF32, 0.01f, 0.02f, 4);
  ActQuant act;
  act.qtype = QType::kInt8;
  act.granularity = dynamic ? Granularity::kPerToken : Granularity::kPerTensor;
  if (!dynamic) act.static_scale = Tensor::from_vector<float>({1}, std::vector<float>{4.0f / 127});
  return [=] { return qgemm(x, act, w, sw); };
}

// GPU microseconds of one call, averaged over `runs` calls after one warm-up call.
double kernel_us(const Call& call, int runs) {
  call();
  gpu().driver->take_kernel_ms();
  double ms = 0;
  for (int i = 0; i < runs; ++i) {
    call();
    ms += gpu().driver->take_kernel_ms();
  }
  return 1000.0 * ms / runs;
}

// The int8 GEMM on pre-quantized operands, per shape: what quantizing inside costs is
// measured against it.
double prequantized_int8_us(std::int64_t m, std::int64_t n, std::int64_t k) {
  static std::map<std::tuple<std::int64_t, std::int64_t, std::int64_t>, double> memo;
  const auto key = std::make_tuple(m, n, k);
  if (auto it = memo.find(key); it != memo.end()) return it->second;
  return memo[key] = kernel_us(w8a8(DType::kI8, m, n, k), 20);
}

void run_family(benchmark::State& state, const Prepare& prepare, const Shape& s, std::int64_t m,
                bool quantizes) {
  Gpu& g = gpu();
  if (!g.driver) {
    state.SkipWithError(g.error.c_str());
    return;
  }
  try {
    const Call call = prepare(m, s.n, s.k);
    call();  // compile, load, warm up
    g.driver->take_kernel_ms();
    double kernel_ms = 0, op_s = 0;
    int launches = 0;
    for (auto _ : state) {
      const auto t0 = std::chrono::steady_clock::now();
      const Tensor y = call();
      op_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const double ms = g.driver->take_kernel_ms();
      launches = g.driver->last_launches();
      kernel_ms += ms;
      state.SetIterationTime(ms / 1000.0);
    }
    const double iters = static_cast<double>(state.iterations());
    const double us = 1000.0 * kernel_ms / iters;
    const double bf16 = cublaslt_us(Baseline::kBf16, m, s.n, s.k), int8 = cublaslt_us(Baseline::kInt8, m, s.n, s.k);
    state.counters["kernel_us"] = us;
    state.counters["op_us"] = 1e6 * op_s / iters;
    state.counters["launches"] = launches;
    state.counters["TOPS"] = 2.0 * static_cast<double>(m) * static_cast<double>(s.n) * static_cast<double>(s.k) / us / 1e6;
    state.counters["cublaslt_bf16_us"] = bf16;
    state.counters["cublaslt_int8_us"] = int8;
    state.counters["x_vs_bf16"] = bf16 / us;
    state.counters["x_vs_int8"] = int8 / us;
    // DESIGN.md section 9: fused quantization costs at most 5 % over the pre-quantized GEMM.
    if (quantizes) state.counters["quant_overhead"] = us / prequantized_int8_us(m, s.n, s.k) - 1.0;
    state.SetLabel(g.driver->props().name);
  } catch (const Error& e) {
    state.SkipWithError(e.message().c_str());
  }
}

const bool kRegistered = [] {
  struct Family {
    const char* name;
    Prepare prepare;
    bool quantizes;  // float activations quantized inside: report the overhead
  };
  const std::vector<Family> families = {
      {"int8", [](std::int64_t m, std::int64_t n, std::int64_t k) { return w8a8(DType::kI8, m, n, k); }, false},
      {"fp8_e4m3", [](std::int64_t m, std::int64_t n, std::int64_t k) { return w8a8(DType::kE4M3, m, n, k); }, false},
      {"block_fp8", block_fp8, false},
      {"weight_only_int8", weight_only_int8, false},
      {"float_int8_per_token",
       [](std::int64_t m, std::int64_t n, std::int64_t k) { return float_act_int8(true, m, n, k); }, true},
      {"float_int8_static",
       [](std::int64_t m, std::int64_t n, std::int64_t k) { return float_act_int8(false, m, n, k); }, true},
  };
  for (const auto& [family, prepare, quantizes] : families) {
    for (const Shape& s : kShapes) {
      for (std::int64_t m : kTokens) {
        const std::string name = fmt::format("qgemm_{}/{}/M:{}/N:{}/K:{}", family, s.name, m, s.n, s.k);
        benchmark::RegisterBenchmark(name.c_str(), [prepare = prepare, quantizes = quantizes, s, m](benchmark::State& st) {
          run_family(st, prepare, s, m, quantizes);
        })->UseManualTime()->Unit(benchmark::kMicrosecond)->Iterations(100);
      }
    }
  }
  return true;
}();

}  // namespace
