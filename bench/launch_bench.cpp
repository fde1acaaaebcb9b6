// The host cost of one call (DESIGN.md sections 3a and 9): a QuantLinear forward's launch
// path — validation, its plan, the output's allocation, the launches — with no kernel work
// (a PlanDriver: launches are counted, nothing runs). Rows:
//   QuantLinearForward/resolved   the layer's forward: its plan from its PlanMemo
//   QuantLinearForward/per_call   the same call resolving its kernels on every call (what every
//                                 call did before: build the spec, hash it, look it up)
//   Ratio                         both in one row, alternating: counter `speedup` =
//                                 per_call time / resolved time (above 1: the memo is faster)
//   PlanMemoLookup                the lookup itself on the path the ops take (target <= 200 ns)
// Wan2.1-1.3B's attention projection (N = K = 1536), int8 and fp8 rules, M = 256 (bf16 x).

#include <benchmark/benchmark.h>

#include <chrono>
#include <memory>

#include "quant_ops/linear.hpp"
#include "quant_ops/quant_linear.hpp"
#include "quant_ops/rule.hpp"
#include "runtime/linear.hpp"
#include "runtime/plan_driver.hpp"

namespace {

using namespace qjit;

struct Layer {
  std::shared_ptr<PlanDriver> driver = std::make_shared<PlanDriver>("sm_90");
  std::shared_ptr<QuantLinear> q;
  Tensor x;

  explicit Layer(const char* preset) {
    const Tensor w = Tensor::empty({1536, 1536}, DType::kBF16, Device::sim(), driver);
    const Linear linear(w, std::nullopt);
    q = QuantLinear::from(linear, Rule::preset(preset).resolve());
    x = Tensor::empty({256, 1536}, DType::kBF16, Device::sim(), driver);
    q->forward(x);  // the plan is made (and the kernels recorded) once
  }
  Tensor resolved() { return q->forward(x); }
  Tensor per_call() {
    LinearOptions o = q->options();
    o.memo = nullptr;
    o.weight_only_memo = nullptr;
    return linear_forward(x, q->weight(), q->rule(), o);
  }
};

const char* preset_of(const benchmark::State& state) { return state.range(0) == 0 ? "int8" : "fp8"; }

void BM_QuantLinearForward_resolved(benchmark::State& state) {
  Layer layer(preset_of(state));
  for (auto _ : state) benchmark::DoNotOptimize(layer.resolved());
  state.SetLabel(preset_of(state));
}
BENCHMARK(BM_QuantLinearForward_resolved)->Arg(0)->Arg(1);

void BM_QuantLinearForward_per_call(benchmark::State& state) {
  Layer layer(preset_of(state));
  for (auto _ : state) benchmark::DoNotOptimize(layer.per_call());
  state.SetLabel(preset_of(state));
}
BENCHMARK(BM_QuantLinearForward_per_call)->Arg(0)->Arg(1);

void BM_Ratio(benchmark::State& state) {
  Layer layer(preset_of(state));
  using Clock = std::chrono::steady_clock;
  double resolved_ns = 0, per_call_ns = 0;
  for (auto _ : state) {
    auto t0 = Clock::now();
    benchmark::DoNotOptimize(layer.resolved());
    auto t1 = Clock::now();
    benchmark::DoNotOptimize(layer.per_call());
    auto t2 = Clock::now();
    resolved_ns += std::chrono::duration<double, std::nano>(t1 - t0).count();
    per_call_ns += std::chrono::duration<double, std::nano>(t2 - t1).count();
  }
  const double n = static_cast<double>(state.iterations());
  state.counters["resolved_ns"] = resolved_ns / n;
  state.counters["per_call_ns"] = per_call_ns / n;
  state.counters["speedup"] = per_call_ns / resolved_ns;
  state.SetLabel(preset_of(state));
}
BENCHMARK(BM_Ratio)->Arg(0)->Arg(1);

void BM_PlanMemoLookup(benchmark::State& state) {
  PlanMemo<QGemmPlan> memo;
  PlanDriver driver("sm_90");
  for (std::int64_t b = 16; b <= 128; b *= 2) memo.get(PlanKey{&driver, {b, 1, 16, 1}}, [] { return QGemmPlan{}; });
  const PlanKey key{&driver, {128, 1, 16, 1}};  // the last of four entries
  for (auto _ : state) benchmark::DoNotOptimize(&memo.get(key, [] { return QGemmPlan{}; }));
}
BENCHMARK(BM_PlanMemoLookup);

}  // namespace
