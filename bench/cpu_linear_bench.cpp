// The cpu device's int8 W8A8 linear against what a user of a CPU would pick instead, in one
// run, same shapes, same threads (issue 12; DESIGN.md section 9):
//   qjit_int8/M/N/K/T      linear_forward under rule int8 on the cpu device: f32 x [M, K],
//                          dynamic per-token quantization, the GEMM, f32 y [M, N]
//   onednn_int8/M/N/K/T    oneDNN's int8 matmul (s8 x s8 -> f32, per-channel output scales)
//                          plus its quantization passes, OpenMP loops: each row's amax and
//                          codes before, each row times its activation scale after
//   openblas_sgemm/M/N/K/T cblas_sgemm on the f32 operands
// T = threads (qjit: its pool, oneDNN: OpenMP, OpenBLAS: its own). Counter GOPS = 2MNK / t;
// vnni_peak_GOPS = this machine's VNNI peak: the clock measured at start (a chain of dependent
// register-register adds, one per cycle; adds of an immediate are not used, as recent cores
// fold them at rename) x 64 int8 multiply-adds x 2 ops per 512-bit vpdpbusd, one per cycle
// per core (the assumption), x T. amx_peak_GOPS = the clock x 16 x 16 x 64 multiply-adds x 2
// ops per tdpbsud, one per 16 cycles per core (Intel's documented throughput), x T.
// Run with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (bench/README.md): the context
// records the OpenBLAS kernel that ran.

#include <benchmark/benchmark.h>
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <dnnl.hpp>
#include <fmt/format.h>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "jit/impls/host_qgemm.hpp"
#include "quant_ops/host_linear.hpp"
#include "quant_ops/linear.hpp"
#include "quant_ops/rule.hpp"
#include "runtime/host_driver.hpp"

extern "C" char* openblas_get_corename(void);
extern "C" void openblas_set_num_threads(int);

namespace {

using namespace qjit;

std::vector<float> gaussian(std::size_t n, unsigned seed, float sigma) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, sigma);
  std::vector<float> v(n);
  for (auto& x : v) x = normal(rng);
  return v;
}

// Cycles per second: a chain of dependent register-register adds retires one per cycle.
double measured_hz() {
  const std::uint64_t n = 100'000'000;  // iterations of 8 dependent adds (loop overhead hidden)
  std::uint64_t x = 0, one = 1;
  const auto t0 = std::chrono::steady_clock::now();
  for (std::uint64_t i = 0; i < n; ++i) {
    asm volatile("add %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\tadd %1, %0"
                 : "+r"(x)
                 : "r"(one));
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return static_cast<double>(n) * 8 / s;
}

// The libraries' worker threads spin for a while after a call (OpenBLAS's up to ~2^28 cycles,
// GNU OpenMP's for its spin count) and would take a core from the next row: every row first
// waits for them to go idle.
void settle() { std::this_thread::sleep_for(std::chrono::milliseconds(300)); }

double clock_hz() {
  static const double hz = measured_hz();
  return hz;
}

void report(benchmark::State& state, std::int64_t m, std::int64_t n, std::int64_t k, int threads) {
  const double ops = 2.0 * m * n * k;
  state.counters["GOPS"] = benchmark::Counter(ops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["vnni_peak_GOPS"] = clock_hz() * 128.0 * threads * 1e-9;
  state.counters["amx_peak_GOPS"] = clock_hz() * 2048.0 * threads * 1e-9;
}

struct Problem {
  std::int64_t m, n, k;
  std::vector<float> x, w;
  Problem(std::int64_t m_, std::int64_t n_, std::int64_t k_)
      : m(m_), n(n_), k(k_), x(gaussian(m * k, 1, 1.0f)), w(gaussian(n * k, 2, 0.05f)) {}
};

void qjit_int8(benchmark::State& state, std::int64_t m, std::int64_t n, std::int64_t k, int threads) {
  const Problem p(m, n, k);
  const ResolvedRule rule = Rule::preset("int8").resolve();
  const Tensor x = Tensor::from_vector<float>({m, k}, p.x);
  const QuantizedWeight w = quantize_weight(Tensor::from_vector<float>({n, k}, p.w), rule);
  LinearOptions o;
  o.out_dtype = DType::kF32;
  host_driver()->set_max_threads(static_cast<unsigned>(threads));
  linear_forward(x, w, rule, o);  // compile (or load) the kernels
  settle();
  for (auto _ : state) benchmark::DoNotOptimize(linear_forward(x, w, rule, o));
  host_driver()->set_max_threads(0);
  report(state, m, n, k, threads);
}

void openblas_sgemm(benchmark::State& state, std::int64_t m, std::int64_t n, std::int64_t k, int threads) {
  const Problem p(m, n, k);
  std::vector<float> y(static_cast<std::size_t>(m * n));
  openblas_set_num_threads(threads);
  settle();
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k),
                1.0f, p.x.data(), static_cast<int>(k), p.w.data(), static_cast<int>(k), 0.0f, y.data(),
                static_cast<int>(n));
    benchmark::DoNotOptimize(y.data());
  }
  report(state, m, n, k, threads);
  state.SetLabel(openblas_get_corename());
}

void onednn_int8(benchmark::State& state, std::int64_t m, std::int64_t n, std::int64_t k, int threads) {
  using namespace dnnl;
  using dt = memory::data_type;
  using tag = memory::format_tag;
  omp_set_num_threads(threads);
  const Problem p(m, n, k);
  engine eng(engine::kind::cpu, 0);
  stream s(eng);
  // Weights: per-channel int8 codes, packed once into the matmul's layout (outside the loop).
  std::vector<std::int8_t> wq(static_cast<std::size_t>(n * k));
  std::vector<float> w_scale(static_cast<std::size_t>(n));
  for (std::int64_t j = 0; j < n; ++j) {
    float amax = 0;
    for (std::int64_t c = 0; c < k; ++c) amax = std::max(amax, std::fabs(p.w[j * k + c]));
    w_scale[j] = std::max(amax, 1e-30f) / 127.0f;
    for (std::int64_t c = 0; c < k; ++c) wq[j * k + c] = static_cast<std::int8_t>(std::nearbyint(p.w[j * k + c] / w_scale[j]));
  }
  const memory::dims src_dims = {m, k}, w_dims = {k, n}, dst_dims = {m, n};
  const memory::desc src_md(src_dims, dt::s8, tag::ab);
  const memory::desc w_any(w_dims, dt::s8, tag::any);
  const memory::desc dst_md(dst_dims, dt::f32, tag::ab);
  // NOTE: the per-channel weight scales as the matmul's output scales (known when it is made);
  // runtime scales or a per-row binary post-op make oneDNN 2.6 fall back to ref_int8.
  primitive_attr mm_attr;
  mm_attr.set_output_scales(1 << 1, w_scale);
  const matmul::primitive_desc mm_pd(matmul::desc(src_md, w_any, dst_md), mm_attr, eng);
  memory w_user({w_dims, dt::s8, memory::dims{1, k}}, eng, wq.data());  // [K, N] view of [N, K]
  memory w_packed(mm_pd.weights_desc(), eng);
  reorder(w_user, w_packed).execute(s, w_user, w_packed);
  matmul mm(mm_pd);
  std::vector<float> row_scale(static_cast<std::size_t>(m));
  std::vector<std::int8_t> xq(static_cast<std::size_t>(m * k));
  std::vector<float> y(static_cast<std::size_t>(m * n));
  memory xq_mem(src_md, eng, xq.data()), y_mem(dst_md, eng, y.data());
  auto run = [&] {
    // The quantization pass: per-row amax, then codes (RNE, as section 5).
#pragma omp parallel for num_threads(threads)
    for (std::int64_t r = 0; r < m; ++r) {
      float amax = 0;
      const float* row = p.x.data() + r * k;
      for (std::int64_t c = 0; c < k; ++c) amax = std::max(amax, std::fabs(row[c]));
      amax = std::max(amax, 1e-30f);
      const float inv = 127.0f / amax;
      row_scale[r] = amax / 127.0f;
      std::int8_t* q = xq.data() + r * k;
      for (std::int64_t c = 0; c < k; ++c) q[c] = static_cast<std::int8_t>(std::nearbyint(row[c] * inv));
    }
    mm.execute(s, {{DNNL_ARG_SRC, xq_mem}, {DNNL_ARG_WEIGHTS, w_packed}, {DNNL_ARG_DST, y_mem}});
    s.wait();
    // The dequantization pass: each row times its activation scale.
#pragma omp parallel for num_threads(threads)
    for (std::int64_t r = 0; r < m; ++r) {
      float* row = y.data() + r * n;
      for (std::int64_t c = 0; c < n; ++c) row[c] *= row_scale[r];
    }
  };
  run();
  settle();
  for (auto _ : state) {
    run();
    benchmark::DoNotOptimize(y.data());
  }
  report(state, m, n, k, threads);
  state.SetLabel(mm_pd.impl_info_str());
}

// The linear shapes (N, K) of Wan2.1-1.3B (dim 1536, FFN 8960) and Wan2.1-14B (dim 5120, FFN
// 13824): attention projections, FFN up, FFN down.
const std::vector<std::pair<std::int64_t, std::int64_t>> kShapes = {
    {1536, 1536}, {8960, 1536}, {1536, 8960}, {5120, 5120}, {13824, 5120}, {5120, 13824}};

int register_all() {
  // M from a short clip to the 480x832, 81-frame video (32760 tokens). One thread and all of
  // them; the full video's M with all threads only (one such row takes up to a minute on one
  // core under OpenBLAS).
  const int all_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (const std::int64_t m : {256, 1024, 4096, 32760}) {
    for (const auto& [n, k] : kShapes) {
      std::vector<int> threads = {all_threads};
      if (m < 32760 && all_threads > 1) threads.insert(threads.begin(), 1);
      for (const int t : threads) {
        const auto name = [&](const char* impl) { return fmt::format("{}/{}/{}/{}/{}", impl, m, n, k, t); };
        benchmark::RegisterBenchmark(name("qjit_int8").c_str(), qjit_int8, m, n, k, t)->Unit(benchmark::kMillisecond)->UseRealTime();
        benchmark::RegisterBenchmark(name("onednn_int8").c_str(), onednn_int8, m, n, k, t)->Unit(benchmark::kMillisecond)->UseRealTime();
        benchmark::RegisterBenchmark(name("openblas_sgemm").c_str(), openblas_sgemm, m, n, k, t)->Unit(benchmark::kMillisecond)->UseRealTime();
      }
    }
  }
  benchmark::AddCustomContext("clock_ghz", fmt::format("{:.3f}", clock_hz() * 1e-9));
  benchmark::AddCustomContext("openblas_core", openblas_get_corename());
  // NOTE: at static initialization: a bad QJIT_CPU_ISA is reported here and by each qjit row.
  std::string isa;
  try {
    isa = jit::impls::host_isa_name(jit::impls::host_isa());
  } catch (const std::exception& e) {
    isa = std::string("unavailable: ") + e.what();
  }
  benchmark::AddCustomContext("qjit_isa", isa);
  return 0;
}

const int registered = register_all();

}  // namespace
