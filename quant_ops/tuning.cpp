#include "quant_ops/tuning.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <mutex>
#include <tuple>

#include "cache/report_once.hpp"
#include "common/error.hpp"
#include "common/knobs.hpp"
#include "common/log.hpp"
#include "common/sha256.hpp"
#include "jit/embedded.hpp"
#include "jit/host_compiler.hpp"
#include "jit/impls/tuning_space.hpp"
#include "jit/manifest.hpp"
#include "runtime/host_driver.hpp"
#include "runtime/kernels.hpp"

namespace qjit {

namespace {

// The CPU's model name (/proc/cpuinfo), else LLVM's name for it.
std::string cpu_model() {
  static const std::string name = [] {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    for (int i = 0; i < 4096 && std::getline(in, line); ++i) {
      if (line.rfind("model name", 0) != 0) continue;
      const auto colon = line.find(':');
      if (colon == std::string::npos) break;
      std::string v = line.substr(colon + 1);
      v.erase(0, v.find_first_not_of(" \t"));
      v.erase(v.find_last_not_of(" \t") + 1);
      if (!v.empty() && v.size() < 256) return v;
    }
    return jit::host_native_target().cpu;
  }();
  return name;
}

// Says a decision once per problem per process.
void say(const jit::TuningKey& key, const std::string& label, const std::string& why) {
  if (!knobs::print_autotuning() || !cache::first_report("autotuning " + key.str())) return;
  fmt::print(stderr, "qjit autotuning: {} {} on {}: {} ({})\n", key.family, key.desc.dump(), key.device, label, why);
}

std::optional<jit::TuningRecord> find(const jit::TuningKey& key) {
  if (knobs::tuning_disabled()) return std::nullopt;
  return jit::TuningDb::global().find(key);
}

std::string record_note(const jit::TuningRecord& r) {
  const double speedup = r.heuristic_us > 0 && r.median_us > 0 ? r.heuristic_us / r.median_us : 0;
  return fmt::format("tuning database, {} best of {} configs, {:.2f}x the heuristic's {}", r.method, r.candidates,
                     speedup, r.heuristic_label);
}

// A digest of every kernel template this library embeds: a record measured with other kernel
// code (another qjit) describes other kernels, so it is not this one's.
const std::string& templates_digest() {
  static const std::string digest = [] {
    std::string all;
    for (const auto& f : jit::embedded_templates()) {
      all += f.path;
      all.push_back('\0');
      all += f.content;
      all.push_back('\0');
    }
    return sha256_hex(all).substr(0, 16);
  }();
  return digest;
}

}  // namespace

TuningTarget tuning_target(const Driver& driver) {
  if (driver.device().is_host()) {
    const unsigned threads = host_driver()->threads();
    return {fmt::format("{} x{} threads", cpu_model(), threads), "host:" + jit::host_native_target().cpu,
            fmt::format("{}; templates {}", jit::host_compiler_identity(), templates_digest())};
  }
  return {driver.props().name, target_arch(driver).str(),
          fmt::format("{}; templates {}", jit::nvrtc_identity(), templates_digest())};
}

jit::TuningKey host_qgemm_tuning_key(const jit::impls::HostQGemmDesc& desc, std::int64_t m, std::int64_t n,
                                     std::int64_t k) {
  const TuningTarget t = tuning_target(*host_driver());
  return {"host_qgemm_int8", jit::impls::host_qgemm_tuning_desc(desc, m, n, k), t.device, t.arch, t.toolchain};
}

jit::TuningKey host_gemm_bf16_tuning_key(const jit::impls::HostGemmBf16Desc& desc, std::int64_t m, std::int64_t n,
                                         std::int64_t k) {
  const TuningTarget t = tuning_target(*host_driver());
  return {"host_gemm_bf16", jit::impls::host_gemm_bf16_tuning_desc(desc, m, n, k), t.device, t.arch, t.toolchain};
}

jit::TuningKey host_gemm_f32_tuning_key(const jit::impls::HostGemmF32Desc& desc, std::int64_t m, std::int64_t n,
                                        std::int64_t k) {
  const TuningTarget t = tuning_target(*host_driver());
  return {"host_gemm_f32", jit::impls::host_gemm_f32_tuning_desc(desc, m, n, k), t.device, t.arch, t.toolchain};
}

jit::TuningKey qgemm_tuning_key(const Driver& driver, const jit::impls::GemmDesc& desc) {
  const TuningTarget t = tuning_target(driver);
  return {"qgemm", jit::impls::qgemm_tuning_desc(desc), t.device, t.arch, t.toolchain};
}

jit::TuningKey qgemm_wo_tuning_key(const Driver& driver, const jit::impls::WeightOnlyDesc& desc) {
  const TuningTarget t = tuning_target(driver);
  return {"qgemm_wo", jit::impls::qgemm_wo_tuning_desc(desc), t.device, t.arch, t.toolchain};
}

namespace {

// The record's config when it is one of the family's candidates (`candidates()`, built only
// when there is a record) and passes the family's `check`, else the heuristic's; `why` says
// which and why.
template <typename Config, typename FromJson, typename Candidates, typename Label, typename Check>
Config record_or_heuristic(const std::optional<jit::TuningRecord>& record, const Config& heuristic, FromJson from_json,
                           Candidates candidates, Label label, Check check, std::string& why) {
  why = "heuristic: no tuning database record";
  if (!record) return heuristic;
  try {
    const Config tuned = from_json(record->config);
    const auto list = candidates();
    QJIT_CHECK_GEN("tuning", std::any_of(list.begin(), list.end(), [&](const auto& c) {
      return jit::impls::to_json(c) == jit::impls::to_json(tuned);
    }), "{} is not one of the family's candidates", label(tuned));
    check(tuned);
    why = record_note(*record);
    return tuned;
  } catch (const Error& e) {
    why = fmt::format("heuristic: the tuning database's record is unusable: {}", e.what());
    return heuristic;
  }
}

// The config of a cpu GEMM family (F: its desc, config and functions), memoized per problem.
// NOTE: the key is built, and the database read, once per problem: a call then finds its
// answer by the integers the key is made of (the database's generation drops stale ones).
template <typename F>
typename F::Config host_config(const typename F::Desc& desc, std::int64_t m, std::int64_t n, std::int64_t k) {
  using Config = typename F::Config;
  // NOTE: the thread count is in the key's device (a record is per pool size) and bounds the
  // candidates; a benchmark may change it between calls (HostDriver::set_max_threads).
  using Memo = std::tuple<std::int64_t, std::int64_t, std::int64_t, std::int64_t, unsigned, std::uint64_t, bool>;
  static std::mutex mu;
  static std::map<Memo, Config> memo;
  const unsigned threads = host_driver()->threads();
  const Memo mk{F::desc_bits(desc),   jit::impls::gemm_m_bucket(m), n, k, threads, jit::TuningDb::global().generation(),
                knobs::tuning_disabled()};
  {
    std::lock_guard<std::mutex> lock(mu);
    if (const auto it = memo.find(mk); it != memo.end()) return it->second;
  }
  const jit::TuningKey key = F::key(desc, m, n, k);
  std::string why;
  const Config chosen = record_or_heuristic(
      find(key), F::heuristic(desc, m, n, k), F::from_json,
      [&] { return F::candidates(desc, m, n, k, static_cast<int>(threads)); }, F::label,
      [&](const Config& c) { F::check(c, desc.isa); }, why);
  say(key, F::label(chosen), why);
  std::lock_guard<std::mutex> lock(mu);
  memo[mk] = chosen;
  return chosen;
}

struct HostInt8 {
  using Desc = jit::impls::HostQGemmDesc;
  using Config = jit::impls::HostQGemmConfig;
  // The desc's fields a config depends on (bias and activation change no blocking choice).
  static std::int64_t desc_bits(const Desc& d) { return static_cast<std::int64_t>(d.isa) * 64 + static_cast<int>(d.out_dtype); }
  static constexpr auto key = host_qgemm_tuning_key;
  static constexpr auto heuristic = jit::impls::host_qgemm_heuristic;
  static constexpr auto from_json = jit::impls::host_qgemm_config_from_json;
  static constexpr auto candidates = jit::impls::host_qgemm_candidates;
  static constexpr auto label = jit::impls::host_qgemm_label;
  static constexpr auto check = jit::impls::check_host_qgemm_config;
};

struct HostBf16 {
  using Desc = jit::impls::HostGemmBf16Desc;
  using Config = jit::impls::HostGemmBf16Config;
  static std::int64_t desc_bits(const Desc& d) {
    return (static_cast<std::int64_t>(d.isa) * 64 + static_cast<int>(d.out_dtype)) * 8 + static_cast<int>(d.accum);
  }
  static constexpr auto key = host_gemm_bf16_tuning_key;
  static constexpr auto heuristic = jit::impls::host_gemm_bf16_heuristic;
  static constexpr auto from_json = jit::impls::host_gemm_bf16_config_from_json;
  static constexpr auto candidates = jit::impls::host_gemm_bf16_candidates;
  static constexpr auto label = jit::impls::host_gemm_bf16_label;
  static constexpr auto check = jit::impls::check_host_gemm_bf16_config;
};

struct HostF32 {
  using Desc = jit::impls::HostGemmF32Desc;
  using Config = jit::impls::HostGemmF32Config;
  static std::int64_t desc_bits(const Desc& d) {
    return (static_cast<std::int64_t>(jit::impls::host_gemm_f32_isa(d.isa)) * 64 + static_cast<int>(d.out_dtype)) * 64 +
           static_cast<int>(d.in);
  }
  static constexpr auto key = host_gemm_f32_tuning_key;
  static constexpr auto heuristic = jit::impls::host_gemm_f32_heuristic;
  static constexpr auto from_json = jit::impls::host_gemm_f32_config_from_json;
  static constexpr auto candidates = jit::impls::host_gemm_f32_candidates;
  static constexpr auto label = jit::impls::host_gemm_f32_label;
  static constexpr auto check = jit::impls::check_host_gemm_f32_config;
};

}  // namespace

jit::impls::HostQGemmConfig host_qgemm_config(const jit::impls::HostQGemmDesc& desc, std::int64_t m, std::int64_t n,
                                              std::int64_t k) {
  return host_config<HostInt8>(desc, m, n, k);
}

jit::impls::HostGemmBf16Config host_gemm_bf16_config(const jit::impls::HostGemmBf16Desc& desc, std::int64_t m,
                                                     std::int64_t n, std::int64_t k) {
  return host_config<HostBf16>(desc, m, n, k);
}

jit::impls::HostGemmF32Config host_gemm_f32_config(const jit::impls::HostGemmF32Desc& desc, std::int64_t m,
                                                   std::int64_t n, std::int64_t k) {
  return host_config<HostF32>(desc, m, n, k);
}

namespace {

// The config of a GPU GEMM family (F: its desc, config and functions) on driver: the record's,
// when it is one of the family's candidates and passes its checks, else the heuristic's.
template <typename F>
typename F::Config gpu_config(const Driver& driver, const typename F::Desc& desc, jit::Arch arch) {
  using Config = typename F::Config;
  const Config heuristic = F::heuristic(desc, arch);
  // NOTE: the GPU families run on sim / cuda only. A plan (runtime/plan_driver.hpp, what
  // `qjit compile` and `qjit run` compile ahead) stands for no device in particular, whose
  // records it cannot know: it plans the heuristic's kernels, as linear_kernels lists them.
  if (driver.device().is_host() || driver.kernel_code() == KernelCode::kNone) return heuristic;
  const jit::TuningKey key = F::key(driver, desc);
  std::string why;
  const Config chosen = record_or_heuristic(
      find(key), heuristic, F::from_json, [&] { return F::candidates(desc, arch); },
      [](const Config& c) { return c.str(); }, [&](const Config& c) { F::check(desc, c, arch); }, why);
  say(key, chosen.str(), why);
  return chosen;
}

struct GpuW8A8 {
  using Desc = jit::impls::GemmDesc;
  using Config = jit::impls::GemmConfig;
  static constexpr auto key = qgemm_tuning_key;
  static constexpr auto heuristic = jit::impls::qgemm_heuristic;
  static constexpr auto from_json = jit::impls::gemm_config_from_json;
  static constexpr auto candidates = jit::impls::qgemm_candidates;
  static constexpr auto check = jit::impls::check_gemm_config;
};

struct GpuWeightOnly {
  using Desc = jit::impls::WeightOnlyDesc;
  using Config = jit::impls::WeightOnlyConfig;
  static constexpr auto key = qgemm_wo_tuning_key;
  static constexpr auto heuristic = jit::impls::qgemm_wo_heuristic;
  static constexpr auto from_json = jit::impls::weight_only_config_from_json;
  static constexpr auto candidates = jit::impls::qgemm_wo_candidates;
  static constexpr auto check = jit::impls::check_weight_only_config;
};

}  // namespace

jit::impls::GemmConfig qgemm_config(const Driver& driver, const jit::impls::GemmDesc& desc, jit::Arch arch) {
  return gpu_config<GpuW8A8>(driver, desc, arch);
}

jit::impls::WeightOnlyConfig qgemm_wo_config(const Driver& driver, const jit::impls::WeightOnlyDesc& desc,
                                             jit::Arch arch) {
  return gpu_config<GpuWeightOnly>(driver, desc, arch);
}

}  // namespace qjit
