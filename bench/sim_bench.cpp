// Throughput of the sim device (thread-instructions per second) on the project's own
// kernels, with one and with two host threads running CTAs. The ratio of the two rows is
// the parallel speed-up of the same run.

#include <benchmark/benchmark.h>

#include <memory>
#include <vector>

#include "quant_ops/act_quant.hpp"
#include "sim/sim_driver.hpp"

namespace {

using namespace qjit;

void BM_SimActQuantPerToken(benchmark::State& state) {
  auto config = sim::SimDeviceConfig::for_arch("sm_89");
  config.options.host_threads = static_cast<int>(state.range(0));
  auto driver = std::make_shared<sim::SimDriver>(config);
  std::vector<float> values(64 * 1536);
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i % 97) - 48.0f;
  const Tensor x = Tensor::from_vector<float>({64, 1536}, values).to_dtype(DType::kBF16).to(Device::sim(), driver);
  quantize_activations(x, QType::kInt8, ActScale::kDynamicPerToken);  // compile + load outside the loop
  double instructions = 0, seconds = 0;
  for (auto _ : state) {
    auto q = quantize_activations(x, QType::kInt8, ActScale::kDynamicPerToken);
    benchmark::DoNotOptimize(q.q.device_ptr());
    const auto c = driver->last_counters();
    instructions += static_cast<double>(c.thread_instructions);
    seconds += c.seconds;
  }
  state.counters["thread_inst_per_s"] = instructions / seconds;
  state.counters["thread_inst"] = instructions / static_cast<double>(state.iterations());
}
BENCHMARK(BM_SimActQuantPerToken)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
