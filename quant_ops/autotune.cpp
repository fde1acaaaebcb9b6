#include "quant_ops/autotune.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <cmath>
#include <cstring>
#include <map>
#include <random>
#include <tuple>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "common/error.hpp"
#include "jit/impls/tuning_space.hpp"
#include "jit/jit.hpp"
#include "quant_ops/accuracy.hpp"
#include "quant_ops/host_linear.hpp"
#include "quant_ops/linear.hpp"
#include "quant_ops/sim_cost_model.hpp"
#include "quant_ops/tuning.hpp"
#include "runtime/driver.hpp"
#include "runtime/host_driver.hpp"
#include "runtime/kernels.hpp"
#include "sim/sim_driver.hpp"

namespace qjit {

namespace {

constexpr const char* kSub = "autotune";
using Clock = std::chrono::steady_clock;

bool is_w8a8(const ResolvedRule& r) { return !r.skips() && !r.weight_only(); }

// Outputs are compared bit for bit with the reference where DESIGN.md section 5 makes them
// exact (int8 W8A8 without an activation function: the autotuner passes none).
bool exact_numerics(const ResolvedRule& r) { return r.weight == QType::kInt8 && r.act == QType::kInt8; }
// ... and where a family's kernel is: the cpu's f16 GEMM sums the reference's f16 operands
// exactly, in its order (weight-only rules on f16 activations, no GELU).
bool exact_output(const ResolvedRule& r, const std::string& family) {
  return exact_numerics(r) || family == "host_gemm_f32";
}

Tensor random_tensor(std::vector<std::int64_t> shape, DType dtype, std::uint32_t seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::int64_t n = 1;
  for (auto s : shape) n *= s;
  std::vector<float> v(static_cast<std::size_t>(n));
  for (float& f : v) f = dist(gen);
  return Tensor::from_f32(std::move(shape), v, dtype);
}

std::string bytes_of(const Tensor& t) {
  const Tensor h = t.to(Device::cpu_ref()).contiguous();
  return std::string(static_cast<const char*>(h.raw_data_ptr()), h.nbytes());
}

// Where two outputs of the same shape first differ, or "".
std::string first_difference(const std::string& got, const std::string& want, std::size_t element_bytes) {
  if (got == want) return "";
  if (got.size() != want.size()) return fmt::format("{} bytes of output, the reference has {}", got.size(), want.size());
  std::size_t i = 0;
  while (i < got.size() && got[i] == want[i]) ++i;
  std::size_t differ = 0;
  for (std::size_t j = 0; j < got.size(); j += element_bytes) {
    differ += std::memcmp(got.data() + j, want.data() + j, element_bytes) != 0;
  }
  return fmt::format("{} of {} outputs differ from the reference, the first at element {}", differ,
                     got.size() / element_bytes, i / element_bytes);
}

// Evicts a buffer from every cache of every core (clflush is coherent: the pool threads'
// private caches lose their copies too), untimed, before each repetition: in a forward a
// layer's weights and input are cold, every other layer's having streamed through in between.
void flush_from_caches(const void* data, std::size_t bytes) {
#if defined(__x86_64__)
  const auto* p = static_cast<const char*>(data);
  for (std::size_t i = 0; i < bytes; i += 64) _mm_clflush(p + i);
  _mm_mfence();
#else
  static std::vector<unsigned char> buffer(64u << 20);
  static unsigned char value = 0;
  (void)data;
  (void)bytes;
  std::memset(buffer.data(), ++value, buffer.size());
#endif
}

// The options every call of a search passes: a static rule's calibrated scale (the data are
// N(0, 1): |x| <= 4 for all but about 1 in 16,000 values, which saturate).
LinearOptions base_options(const ResolvedRule& rule) {
  LinearOptions o;
  if (rule.act_static_scale) {
    const float qmax = rule.act == QType::kInt8 ? 127.0f : rule.act == QType::kE4M3 ? 448.0f : 57344.0f;
    o.act_scale = Tensor::from_vector<float>({1}, std::vector<float>{4.0f / qmax});
  }
  return o;
}

// Whether each output row depends on its input row alone (the activation scale is per token,
// per 128-group or static), so the reference can be computed on a few rows.
bool rows_independent(const ResolvedRule& r) {
  return r.act_static_scale || r.act_granularity == Granularity::kPerToken || r.act_granularity == Granularity::kGroup128;
}

// Rows `rows` of a row-major cpu tensor, as a new one.
Tensor gather_rows(const Tensor& t, const std::vector<std::int64_t>& rows) {
  const Tensor c = t.to(Device::cpu_ref()).contiguous();
  const std::size_t row_bytes = c.nbytes() / static_cast<std::size_t>(c.size(0));
  std::string bytes;
  for (std::int64_t r : rows) {
    bytes.append(static_cast<const char*>(c.raw_data_ptr()) + static_cast<std::size_t>(r) * row_bytes, row_bytes);
  }
  return Tensor::from_raw({static_cast<std::int64_t>(rows.size()), c.size(1)}, c.dtype(), bytes.data());
}

// One shape's data on the device, and the reference output on `rows` (every row, or the first
// and last 256 where rows are independent: the plain reference is single-threaded, and a
// 14B layer at 32760 tokens is 10^12 multiply-adds).
struct Operands {
  Tensor x;
  QuantizedWeight w;
  std::vector<std::int64_t> rows;
  Tensor reference;
};

Operands make_operands(const ResolvedRule& rule, const Device& device, DType x_dtype, std::int64_t m, std::int64_t n,
                       std::int64_t k) {
  const Tensor x_host = random_tensor({m, k}, x_dtype, 1234u + static_cast<std::uint32_t>(m));
  const Tensor w_host = random_tensor({n, k}, DType::kF32, 99u + static_cast<std::uint32_t>(n + k));
  Operands o;
  o.x = x_host.to(device);
  o.w = quantize_weight(w_host.to(device), rule);
  if (device.runs_host_kernels()) o.w.host_packed = pack_for_host(o.w, rule);
  constexpr std::int64_t kEnd = 256;
  for (std::int64_t r = 0; r < m; ++r) {
    if (!rows_independent(rule) || r < kEnd || r >= std::max(kEnd, m - kEnd)) o.rows.push_back(r);
  }
  const Tensor x_ref = static_cast<std::int64_t>(o.rows.size()) == m ? x_host : gather_rows(x_host, o.rows);
  o.reference = linear_forward(x_ref.to(Device::cpu_ref()), quantize_weight(w_host.to(Device::cpu_ref()), rule), rule,
                               base_options(rule));
  return o;
}

LinearOptions options_for(const ResolvedRule& rule, const std::string& family, const jit::TuneCandidate& c) {
  LinearOptions o = base_options(rule);
  if (family == "host_qgemm_int8") o.host_int8_config = jit::impls::host_qgemm_config_from_json(c.config);
  else if (family == "host_gemm_bf16") o.host_bf16_config = jit::impls::host_gemm_bf16_config_from_json(c.config);
  else if (family == "host_gemm_f32") o.host_f32_config = jit::impls::host_gemm_f32_config_from_json(c.config);
  else if (family == "qgemm_wo") o.weight_only_config = jit::impls::weight_only_config_from_json(c.config);
  else o.config = jit::impls::gemm_config_from_json(c.config);
  return o;
}

// The check of one candidate. The heuristic's output is compared with the reference on the
// reference's rows: bit for bit where the numerics are exact, else by NMSE <= 2^-14 (one unit
// in the last place of a bf16 output, 2^-7 relative, squared, at every element: the most that
// summing the same products in float32 in another order can move a rounding). Every other
// candidate must give the heuristic's bits exactly, everywhere: a config never changes results
// (DESIGN.md section 3).
std::string check_output(const ResolvedRule& rule, const std::string& family, const Operands& ops, const Tensor& got,
                         bool heuristic, std::string& heuristic_bytes) {
  const std::string bytes = bytes_of(got);
  if (!heuristic) {
    const std::string diff = first_difference(bytes, heuristic_bytes, dtype_size(got.dtype()));
    return diff.empty() ? "" : diff + " (here: the heuristic's config's output, which configs must reproduce)";
  }
  heuristic_bytes = bytes;
  const Tensor rows = static_cast<std::int64_t>(ops.rows.size()) == got.size(0) ? got : gather_rows(got, ops.rows);
  if (exact_output(rule, family)) {
    return first_difference(bytes_of(rows), bytes_of(ops.reference), dtype_size(got.dtype()));
  }
  const AccuracyMetrics a = compare_outputs(rows, ops.reference);
  constexpr double kBound = 1.0 / 16384;
  return a.nmse <= kBound ? "" : fmt::format("NMSE {:.3g} against the reference, above {:.3g}", a.nmse, kBound);
}

struct Search {
  std::string family;
  jit::TuningKey key;
  std::vector<jit::TuneCandidate> candidates;
  jit::TuneHooks hooks;
  std::string method;
  // The GPU families': what the sim cost model needs of a candidate, and the kernels one call
  // launches with it.
  std::function<GemmCostKernel(const nlohmann::json&)> cost_kernel;
  std::function<int(const nlohmann::json&)> launches;
};

// The candidates' specs compiled on the bounded pool (host objects, PTX for the sim, PTX and
// cubins for a GPU): per spec "" or why it cannot be used.
std::vector<std::string> compile_specs(const std::vector<jit::KernelSpec>& specs, jit::CompileOutput output) {
  std::vector<std::string> errors = jit::Jit::global().try_all(specs, output);
  for (std::size_t i = 0; i < specs.size(); ++i) {
    // NOTE: a cubin that spills is refused as the shipped configs are (DESIGN.md section 8);
    // the artifact is in memory by now.
    if (errors[i].empty() && output == jit::CompileOutput::kPtxAndCubin) {
      const int spilled = jit::Jit::global().get(specs[i], output).artifact->total_spill_bytes();
      if (spilled > 0) errors[i] = fmt::format("spills {} bytes to local memory", spilled);
    }
  }
  return errors;
}

// One cpu GEMM family's search: its tuning key, candidates and the spec of a candidate.
template <typename Desc, typename Key, typename Candidates, typename FromJson, typename Label, typename Spec>
std::function<jit::KernelSpec(const nlohmann::json&)> host_family(Search& search, const Desc& desc, const TuneShape& s,
                                                                  int threads, Key key, Candidates candidates,
                                                                  FromJson from_json, Label label, Spec spec) {
  search.key = key(desc, s.m, s.n, s.k);
  for (const auto& c : candidates(desc, s.m, s.n, s.k, threads)) {
    search.candidates.push_back({jit::impls::to_json(c), label(c)});
  }
  return [desc, from_json, spec](const nlohmann::json& j) { return spec(desc, from_json(j)); };
}

// A cpu GEMM family's candidates (host_qgemm_int8 for int8 W8A8, host_gemm_bf16 for the
// float rules, host_gemm_f32 for weight-only ones on f16 activations), measured by wall time
// on the whole linear (activation quantization included).
Search cpu_search(const ResolvedRule& rule, const std::string& family, const TuneShape& s,
                  std::shared_ptr<Operands> ops) {
  const int threads = static_cast<int>(host_driver()->threads());
  Search search;
  search.family = family;
  search.method = "measured";
  std::function<jit::KernelSpec(const nlohmann::json&)> spec_of;
  namespace im = jit::impls;
  if (family == "host_qgemm_int8") {
    const im::HostQGemmDesc desc{rule.out_dtype, std::nullopt, Activation::kNone, im::host_isa()};
    spec_of = host_family(search, desc, s, threads, host_qgemm_tuning_key, im::host_qgemm_candidates,
                          im::host_qgemm_config_from_json, im::host_qgemm_label, im::host_qgemm_spec);
  } else if (family == "host_gemm_bf16") {
    spec_of = host_family(search, host_float_gemm_desc(rule, rule.out_dtype), s, threads, host_gemm_bf16_tuning_key,
                          im::host_gemm_bf16_candidates, im::host_gemm_bf16_config_from_json, im::host_gemm_bf16_label,
                          im::host_gemm_bf16_spec);
  } else {
    // NOTE: the desc the weight-only linear builds on f16 activations (no bias, no activation).
    im::HostGemmF32Desc desc;
    desc.in = DType::kF16;
    desc.out_dtype = rule.out_dtype;
    desc.isa = im::host_isa();
    spec_of = host_family(search, desc, s, threads, host_gemm_f32_tuning_key, im::host_gemm_f32_candidates,
                          im::host_gemm_f32_config_from_json, im::host_gemm_f32_label, im::host_gemm_f32_spec);
  }
  search.hooks.prune = [spec_of](const jit::TuneCandidate& c) -> std::string {
    try {
      spec_of(c.config);  // the family's checks
      return "";
    } catch (const Error& e) {
      return e.message();
    }
  };
  search.hooks.compile = [spec_of](const std::vector<jit::TuneCandidate>& cs) {
    std::vector<jit::KernelSpec> specs;
    for (const auto& c : cs) specs.push_back(spec_of(c.config));
    return compile_specs(specs, jit::CompileOutput::kHostObject);
  };
  auto heuristic_bytes = std::make_shared<std::string>();
  const std::string first_label = search.candidates.front().label;
  search.hooks.check = [rule, family, ops, heuristic_bytes, first_label](const jit::TuneCandidate& c) {
    const Tensor y = linear_forward(ops->x, ops->w, rule, options_for(rule, family, c));
    return check_output(rule, family, *ops, y, c.label == first_label, *heuristic_bytes);
  };
  search.hooks.measure = [rule, family, ops](const jit::TuneCandidate& c) {
    const LinearOptions o = options_for(rule, family, c);
    const HostPackedWeight& packed = *ops->w.host_packed;
    return jit::bench_by_time([&] {
      flush_from_caches(ops->x.raw_data_ptr(), ops->x.nbytes());
      flush_from_caches(packed.panels.data(), packed.panels.size());
      flush_from_caches(packed.bf16.panels.data(), packed.bf16.bytes());
      if (const auto f16 = std::atomic_load(&packed.f16)) flush_from_caches(f16->panels.data(), f16->bytes());
      const auto t0 = Clock::now();
      const Tensor y = linear_forward(ops->x, ops->w, rule, o);
      return std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
    });
  };
  return search;
}

// A GPU GEMM family's candidates on sim / cuda (qgemm for W8A8 rules, qgemm_wo for
// weight-only ones); `measure` and `check` are the device's.
Search gpu_search(const ResolvedRule& rule, const std::string& family, const TuneShape& s, DType x_dtype,
                  const std::shared_ptr<Driver>& driver) {
  const jit::Arch arch = target_arch(*driver);
  LinearProblem lp;
  lp.m = s.m, lp.n = s.n, lp.k = s.k;
  lp.x_dtype = x_dtype;
  Search search;
  search.family = family;
  std::function<jit::KernelSpec(const nlohmann::json&)> spec_of;  // the family's checks, then the spec
  if (family == "qgemm") {
    const jit::impls::GemmDesc desc = qgemm_desc(linear_qgemm_problem(rule, lp));
    jit::impls::check_gemm_desc(desc, arch);
    search.key = qgemm_tuning_key(*driver, desc);
    for (const auto& c : jit::impls::qgemm_candidates(desc, arch)) search.candidates.push_back({jit::impls::to_json(c), c.str()});
    spec_of = [desc, arch](const nlohmann::json& j) {
      const jit::impls::GemmConfig c = jit::impls::gemm_config_from_json(j);
      jit::impls::check_gemm_config(desc, c, arch);
      return jit::impls::qgemm_spec(desc, c, arch);
    };
    search.cost_kernel = [desc](const nlohmann::json& j) {
      return gemm_cost_kernel(desc, jit::impls::gemm_config_from_json(j));
    };
    search.launches = [desc](const nlohmann::json& j) {
      return jit::impls::qgemm_kernel_desc(desc, jit::impls::gemm_config_from_json(j)).a_source != desc.a_source ? 2 : 1;
    };
  } else {
    const jit::impls::WeightOnlyDesc desc = qgemm_weight_only_desc(linear_weight_only_problem(rule, lp));
    jit::impls::check_weight_only_desc(desc, arch);
    search.key = qgemm_wo_tuning_key(*driver, desc);
    for (const auto& c : jit::impls::qgemm_wo_candidates(desc, arch)) {
      search.candidates.push_back({jit::impls::to_json(c), c.str()});
    }
    spec_of = [desc, arch](const nlohmann::json& j) {
      return jit::impls::qgemm_wo_spec(desc, jit::impls::weight_only_config_from_json(j), arch);
    };
    search.cost_kernel = [desc](const nlohmann::json& j) {
      return gemm_cost_kernel(desc, jit::impls::weight_only_config_from_json(j));
    };
    search.launches = [](const nlohmann::json&) { return 1; };
  }
  search.hooks.prune = [spec_of](const jit::TuneCandidate& c) -> std::string {
    try {
      spec_of(c.config);
      return "";
    } catch (const Error& e) {
      return e.message();
    }
  };
  const jit::CompileOutput output =
      driver->kernel_code() == KernelCode::kPtx ? jit::CompileOutput::kPtxOnly : jit::CompileOutput::kPtxAndCubin;
  search.hooks.compile = [spec_of, output](const std::vector<jit::TuneCandidate>& cs) {
    std::vector<jit::KernelSpec> specs;
    for (const auto& c : cs) specs.push_back(spec_of(c.config));
    return compile_specs(specs, output);
  };
  return search;
}

void add_sim_hooks(Search& search, const ResolvedRule& rule, const TuneShape& s, DType x_dtype,
                   const std::shared_ptr<Driver>& driver) {
  auto sim = std::dynamic_pointer_cast<sim::SimDriver>(driver);
  QJIT_CHECK_GEN(kSub, sim != nullptr, "the sim device's driver is not the interpreter");
  const GpuModel gpu = GpuModel::for_arch(target_arch(*driver).str());
  search.method = "model";
  // The proxies: operands of (rows, columns, K), made once each.
  auto proxies = std::make_shared<std::map<std::tuple<std::int64_t, std::int64_t, std::int64_t>, std::shared_ptr<Operands>>>();
  auto operands = [rule, x_dtype, proxies](std::int64_t m, std::int64_t n, std::int64_t k) {
    auto& slot = (*proxies)[{m, n, k}];
    if (!slot) slot = std::make_shared<Operands>(make_operands(rule, Device::sim(), x_dtype, m, n, k));
    return slot;
  };
  // NOTE: the check runs on a proxy's shape (the interpreter would take minutes per candidate
  // at a Wan layer's): every candidate the same one, two row bands and several column tiles
  // of the largest tiles, with row and column tails for the smaller ones.
  const std::int64_t check_k = std::min<std::int64_t>(s.k, 512);
  auto heuristic_bytes = std::make_shared<std::string>();
  const std::string first_label = search.candidates.front().label, family = search.family;
  search.hooks.check = [rule, family, operands, check_k, heuristic_bytes, first_label](const jit::TuneCandidate& c) {
    const auto ops = operands(200, 464, check_k);
    const Tensor y = linear_forward(ops->x, ops->w, rule, options_for(rule, family, c));
    return check_output(rule, family, *ops, y, c.label == first_label, *heuristic_bytes);
  };
  // Counters of one row band at two widths and two depths: their differences separate one
  // CTA's work from the band's (act_quant), and what grows with K from what does not.
  // NOTE: one pipeline depth's counters serve every depth of a tile and strategy: a depth
  // moves the same loads and mma, only a few prologue instructions differ; the model's
  // latency term tells the depths apart.
  const std::int64_t k1 = std::min<std::int64_t>(s.k, 256), k2 = std::min<std::int64_t>(s.k, 512);
  auto counted_by_shape = std::make_shared<std::map<std::string, GemmCostInputs>>();
  search.hooks.measure = [rule, s, family, gpu, sim, operands, k1, k2, counted_by_shape,
                          cost_kernel = search.cost_kernel, launches = search.launches](const jit::TuneCandidate& c) {
    const GemmCostKernel kernel = cost_kernel(c.config);
    nlohmann::json shape = c.config;
    shape.erase("stages");
    // NOTE: stored once complete: a run that throws leaves no half-counted entry.
    auto slot = counted_by_shape->find(shape.dump());
    if (slot == counted_by_shape->end()) {
      GemmCostInputs in;
      const LinearOptions o = options_for(rule, family, c);
      auto counted = [&](std::int64_t n, std::int64_t k) {
        const auto ops = operands(kernel.tile_m, n, k);
        linear_forward(ops->x, ops->w, rule, o);  // loads the module
        const sim::SimCounters before = sim->total_counters();
        linear_forward(ops->x, ops->w, rule, o);
        return sim_counters_since(sim->total_counters(), before);
      };
      for (const std::int64_t k : {k1, k2}) {
        const sim::SimCounters one = counted(kernel.tile_n, k), two = counted(2 * kernel.tile_n, k);
        const sim::SimCounters cta = sim_counters_since(two, one);
        (k == k1 ? in.per_cta_k1 : in.per_cta_k2) = cta;
        (k == k1 ? in.per_band_k1 : in.per_band_k2) = sim_counters_since(one, cta);
      }
      in.k1 = k1;
      in.k2 = k2;
      in.launches = launches(c.config);
      slot = counted_by_shape->emplace(shape.dump(), in).first;
    }
    const GemmCostEstimate e = estimate_gemm_cost(gpu, kernel, s.m, s.n, s.k, slot->second);
    jit::TimingStats t;
    t.median_us = t.p20_us = t.p80_us = t.min_us = e.us;
    t.reps = 1;
    return t;
  };
}

void add_cuda_hooks(Search& search, const ResolvedRule& rule, const TuneShape& s, DType x_dtype,
                    const std::shared_ptr<Driver>& driver) {
  search.method = "measured";
  auto ops = std::make_shared<Operands>(make_operands(rule, driver->device(), x_dtype, s.m, s.n, s.k));
  auto heuristic_bytes = std::make_shared<std::string>();
  const std::string first_label = search.candidates.front().label, family = search.family;
  search.hooks.check = [rule, family, ops, heuristic_bytes, first_label](const jit::TuneCandidate& c) {
    const Tensor y = linear_forward(ops->x, ops->w, rule, options_for(rule, family, c));
    return check_output(rule, family, *ops, y, c.label == first_label, *heuristic_bytes);
  };
  search.hooks.measure = [rule, family, ops, driver](const jit::TuneCandidate& c) {
    // NOTE: as do_bench: the L2 (50 MB on H100) flushed by a 256 MiB memset before each
    // repetition, outside the events. Each repetition plans its launch (an explicit config
    // bypasses a layer's plan memo): host work the events see only if the memset has already
    // drained by then.
    constexpr std::size_t kFlush = 256u << 20;
    const DevicePtr flush = driver->alloc(kFlush);
    const EventHandle start = driver->create_event(), end = driver->create_event();
    const LinearOptions o = options_for(rule, family, c);
    jit::TimingStats t;
    try {
      t = jit::bench_by_time([&] {
        driver->memset8(flush, 0, kFlush);
        driver->record_event(start);
        linear_forward(ops->x, ops->w, rule, o);
        driver->record_event(end);
        driver->synchronize_event(end);
        return static_cast<double>(driver->elapsed_ms(start, end)) * 1e3;
      });
    } catch (...) {
      driver->destroy_event(start);
      driver->destroy_event(end);
      driver->free(flush);
      throw;
    }
    driver->destroy_event(start);
    driver->destroy_event(end);
    driver->free(flush);
    return t;
  };
}

jit::TuningRecord record_of(const Search& search, const jit::TuneOutcome& out) {
  jit::TuningRecord r;
  r.key = search.key;
  const jit::CandidateResult& win = out.results[*out.winner];
  const jit::CandidateResult& h = out.results[out.heuristic];
  r.config = win.candidate.config;
  r.config_label = win.candidate.label;
  r.method = search.method;
  // NOTE: the confirming measurement where there is one (the search's is biased low).
  const jit::TimingStats& wt = out.confirmation ? (out.confirmation->held ? out.confirmation->winner
                                                                          : out.confirmation->heuristic)
                                                : win.timing;
  r.median_us = wt.median_us;
  r.p20_us = wt.p20_us;
  r.p80_us = wt.p80_us;
  r.heuristic_us = out.confirmation ? out.confirmation->heuristic.median_us : h.timing.median_us;
  r.heuristic_label = h.candidate.label;
  r.candidates = static_cast<int>(std::count_if(out.results.begin(), out.results.end(), [](const auto& c) {
    return c.status == jit::CandidateStatus::kMeasured;
  }));
  r.tuned_at = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  return r;
}

}  // namespace

TuneShape parse_tune_shape(const std::string& text) {
  TuneShape s;
  std::int64_t* dims[] = {&s.m, &s.n, &s.k};
  std::size_t pos = 0;
  for (int i = 0; i < 3; ++i) {
    const std::size_t end = text.find(',', pos);
    const std::string part = text.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    QJIT_CHECK_GEN(kSub, (end == std::string::npos) == (i == 2), "shape '{}' is not M,N,K", text);
    QJIT_CHECK_GEN(kSub, !part.empty() && part.size() <= 9 && part.find_first_not_of("0123456789") == std::string::npos,
                   "shape '{}': '{}' is not a positive integer", text, part);
    *dims[i] = std::stoll(part);
    pos = end + 1;
  }
  QJIT_CHECK_GEN(kSub, s.m >= 1 && s.m <= (1 << 20), "shape '{}': M {} is not in [1, 1048576]", text, s.m);
  for (const auto& [name, v] : {std::pair{"N", s.n}, std::pair{"K", s.k}}) {
    QJIT_CHECK_GEN(kSub, v >= 16 && v <= (1 << 18) && v % 16 == 0,
                   "shape '{}': {} {} is not a multiple of 16 in [16, 262144]", text, name, v);
  }
  return s;
}

std::vector<TuneShape> wan_tune_shapes(const WanConfig& config, const std::vector<std::int64_t>& tokens) {
  std::vector<TuneShape> out;
  std::map<std::tuple<std::int64_t, std::int64_t, std::int64_t>, std::size_t> index;
  for (std::int64_t t : tokens) {
    QJIT_CHECK_GEN(kSub, t >= 1 && t <= (1 << 20), "--tokens {} is not in [1, 1048576]", t);
    for (const LinearShape& l : wan_linear_shapes(config)) {
      if (l.name.rfind("blocks.", 0) != 0) continue;  // the embeddings and head stay unquantized in DiT rules
      const bool text = l.name.find("cross_attn.k") != std::string::npos || l.name.find("cross_attn.v") != std::string::npos;
      const std::int64_t m = text ? config.text_len : t;
      const auto key = std::make_tuple(jit::impls::gemm_m_bucket(m), l.out_features, l.in_features);
      // NOTE: one entry per layer kind ("blocks.*.ffn.0"), not per block.
      const std::string kind = "blocks.*" + l.name.substr(l.name.find('.', 7));
      auto it = index.find(key);
      if (it == index.end()) {
        index[key] = out.size();
        out.push_back({m, l.out_features, l.in_features, {kind}});
        continue;
      }
      auto& layers = out[it->second].layers;
      if (std::find(layers.begin(), layers.end(), kind) == layers.end()) layers.push_back(kind);
    }
  }
  return out;
}

std::string tunable_family(const ResolvedRule& rule, const Device& device, DType x_dtype) {
  QJIT_CHECK_GEN(kSub, x_dtype == DType::kBF16 || x_dtype == DType::kF16,
                 "activations of {}: the tuned GEMMs take bf16 or f16 activations", dtype_name(x_dtype));
  QJIT_CHECK_GEN(kSub, !rule.skips(), "rule '{}' skips its layers: they run no quantized GEMM to tune", rule.label);
  if (device.runs_host_kernels()) {
    QJIT_CHECK_GEN(kSub, host_kernels_support(rule, x_dtype), "rule '{}' has no cpu kernels to tune", rule.label);
    if (exact_numerics(rule)) return "host_qgemm_int8";
    // NOTE: weight-only rules run the f16 GEMM on f16 activations (the weights rounded to f16:
    // the reference's bits), the bf16 one on bf16 activations.
    return rule.weight_only() && x_dtype == DType::kF16 ? "host_gemm_f32" : "host_gemm_bf16";
  }
  QJIT_CHECK_GEN(kSub, device.kind != DeviceKind::kCpu, "cpu:ref runs the reference, which has nothing to tune");
  std::string why;
  QJIT_CHECK_GEN(kSub, linear_arch_support(rule, target_arch(*driver_for(device)), &why), "{} (device {})", why,
                 device.str());
  return is_w8a8(rule) ? "qgemm" : "qgemm_wo";
}

std::vector<ShapeTuning> autotune_linear(const ResolvedRule& rule, const Device& device,
                                         const std::vector<TuneShape>& shapes, const AutotuneOptions& options) {
  const std::string family = tunable_family(rule, device, options.x_dtype);
  QJIT_CHECK_GEN(kSub, !shapes.empty(), "no shapes to tune");
  std::shared_ptr<Driver> driver = device.is_host() ? std::shared_ptr<Driver>(host_driver()) : driver_for(device);
  // Every shape's search is built (and its desc checked) before any work.
  std::vector<Search> searches;
  for (const TuneShape& s : shapes) {
    if (device.runs_host_kernels()) searches.push_back(cpu_search(rule, family, s, nullptr));
    else searches.push_back(gpu_search(rule, family, s, options.x_dtype, driver));
  }
  const auto t0 = Clock::now();
  std::vector<ShapeTuning> out;
  for (std::size_t i = 0; i < shapes.size(); ++i) {
    const TuneShape& s = shapes[i];
    auto say = [&](const std::string& line) {
      if (options.progress) options.progress(fmt::format("[shape {}/{}] {}x{}x{}: {}", i + 1, shapes.size(), s.m, s.n, s.k, line));
    };
    Search search = searches[i];
    say(fmt::format("{} candidates of {}", search.candidates.size(), search.family));
    if (device.runs_host_kernels()) {
      say("preparing operands and the reference output");
      auto ops = std::make_shared<Operands>(make_operands(rule, device, options.x_dtype, s.m, s.n, s.k));
      search = cpu_search(rule, family, s, ops);
    } else if (device.kind == DeviceKind::kSim) {
      add_sim_hooks(search, rule, s, options.x_dtype, driver);
    } else {
      say("preparing operands and the reference output");
      add_cuda_hooks(search, rule, s, options.x_dtype, driver);
    }
    jit::TuneOptions to;
    to.max_configs = options.max_configs;
    if (options.time_budget_s > 0) {
      const double spent = std::chrono::duration<double>(Clock::now() - t0).count();
      to.time_budget_s = std::max(1e-3, (options.time_budget_s - spent) / static_cast<double>(shapes.size() - i));
    }
    to.progress = say;
    to.confirm = search.method == "measured";
    ShapeTuning st;
    st.shape = s;
    st.family = search.family;
    st.key = search.key;
    st.method = search.method;
    st.outcome = jit::autotune(search.candidates, search.hooks, to);
    if (st.outcome.winner) st.record = record_of(search, st.outcome);
    // NOTE: a search that measured the heuristic alone (a budget spent, --max-configs 1)
    // knows nothing a record could say, and must not replace a real search's record.
    if (st.record && options.write && st.record->candidates <= 1) {
      st.not_written = "only the heuristic's config was measured";
      say(st.not_written + ": nothing written");
    } else if (st.record && options.write) {
      st.written = jit::TuningDb::global().put({*st.record});
    }
    out.push_back(std::move(st));
  }
  return out;
}

}  // namespace qjit
