#include "jit/impls/tuning_space.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "common/error.hpp"

namespace qjit::jit::impls {

namespace {

using nlohmann::json;

// NOTE: configs come from a file: bounded here, before any arithmetic on them, and a tuned
// one is used only if it is one of the family's candidates (quant_ops/tuning.cpp).
int int_field(const json& j, const char* name, const char* what, int lo, int hi) {
  QJIT_CHECK_GEN("tuning", j.is_object() && j.contains(name) && j.at(name).is_number_integer(),
                 "a {} config lacks the integer '{}'", what, name);
  const auto v = j.at(name).get<std::int64_t>();
  QJIT_CHECK_GEN("tuning", v >= lo && v <= hi, "a {} config's '{}' is {}, not in [{}, {}]", what, name, v, lo, hi);
  return static_cast<int>(v);
}

// A list of configs without repeats (`seen` holds their JSON texts).
template <typename C>
struct Unique {
  std::vector<C> list;
  std::set<std::string> seen;
  void add(const C& c) {
    if (seen.insert(to_json(c).dump()).second) list.push_back(c);
  }
};

std::string dtype_text(DType t) { return std::string(dtype_name(t)); }

// The multiple of `step` nearest to `want` (at least `step`).
int nearest_multiple(int want, int step) { return std::max(step, (want + step / 2) / step * step); }

}  // namespace

// --- qgemm ---

json qgemm_tuning_desc(const GemmDesc& d) {
  const char* source = d.a_source == ActSource::kQuantized ? "quantized"
                       : d.a_source == ActSource::kStatic  ? "static"
                                                           : "dynamic";
  return {{"m_bucket", d.m_bucket},
          {"n", d.n},
          {"k", d.k},
          {"qtype_a", std::string(qtype_name(d.qtype_a))},
          {"qtype_w", std::string(qtype_name(d.qtype_w))},
          {"scale_a", std::string(granularity_name(d.scale_a))},
          {"scale_w", std::string(granularity_name(d.scale_w))},
          {"a_source", source},
          {"x_dtype", d.a_source == ActSource::kQuantized ? "" : dtype_text(d.x_dtype)},
          {"out", dtype_text(d.out)}};
}

json to_json(const GemmConfig& c) {
  return {{"tile_m", c.tile_m}, {"tile_n", c.tile_n},   {"tile_k", c.tile_k},
          {"warps_m", c.warps_m}, {"warps_n", c.warps_n}, {"stages", c.stages},
          {"fusion", c.fusion == GemmFusion::kSeparate ? "separate" : "fused"}};
}

GemmConfig gemm_config_from_json(const json& j) {
  GemmConfig c;
  c.tile_m = int_field(j, "tile_m", "qgemm", 16, 512);
  c.tile_n = int_field(j, "tile_n", "qgemm", 16, 512);
  c.tile_k = int_field(j, "tile_k", "qgemm", 16, 512);
  c.warps_m = int_field(j, "warps_m", "qgemm", 1, 16);
  c.warps_n = int_field(j, "warps_n", "qgemm", 1, 16);
  c.stages = int_field(j, "stages", "qgemm", 1, 8);
  QJIT_CHECK_GEN("tuning", j.contains("fusion") && (j["fusion"] == "fused" || j["fusion"] == "separate"),
                 "a qgemm config's 'fusion' is neither 'fused' nor 'separate'");
  c.fusion = j["fusion"] == "separate" ? GemmFusion::kSeparate : GemmFusion::kFused;
  return c;
}

std::vector<GemmConfig> qgemm_candidates(const GemmDesc& d, Arch arch) {
  const GemmConfig h = qgemm_heuristic(d, arch);
  Unique<GemmConfig> out;
  out.add(h);
  const bool float_dynamic = d.a_source == ActSource::kDynamic;
  auto variants = [&](GemmConfig c) {
    for (GemmFusion f : {GemmFusion::kFused, GemmFusion::kSeparate}) {
      if (!float_dynamic && f == GemmFusion::kSeparate) continue;
      c.fusion = f;
      out.add(c);
    }
  };
  // Neighbours first: the heuristic's tile at other depths and the other strategy.
  for (int stages : {2, 3, 4, 5}) {
    GemmConfig c = h;
    c.stages = stages;
    variants(c);
  }
  for (GemmConfig c : qgemm_shipped_configs()) {
    for (int stages : {c.stages, 2, 3, 5}) {
      c.stages = stages;
      variants(c);
    }
  }
  return out.list;
}

// --- qgemm_wo ---

json qgemm_wo_tuning_desc(const WeightOnlyDesc& d) {
  const bool unquantized = qgemm_wo_is_float(d);
  return {{"m_bucket", d.m_bucket},
          {"n", d.n},
          {"k", d.k},
          {"x_dtype", dtype_text(d.x)},
          {"qtype_w", unquantized ? dtype_text(d.x) : std::string(qtype_name(d.qtype_w))},
          {"scale_w", unquantized ? "none" : std::string(granularity_name(d.scale_w))},
          {"out", dtype_text(d.out)}};
}

json to_json(const WeightOnlyConfig& c) {
  return {{"tile_m", c.tile_m},   {"tile_n", c.tile_n},   {"tile_k", c.tile_k},
          {"warps_m", c.warps_m}, {"warps_n", c.warps_n}, {"stages", c.stages}};
}

WeightOnlyConfig weight_only_config_from_json(const json& j) {
  WeightOnlyConfig c;
  c.tile_m = int_field(j, "tile_m", "qgemm_wo", 16, 512);
  c.tile_n = int_field(j, "tile_n", "qgemm_wo", 16, 512);
  c.tile_k = int_field(j, "tile_k", "qgemm_wo", 16, 512);
  c.warps_m = int_field(j, "warps_m", "qgemm_wo", 1, 16);
  c.warps_n = int_field(j, "warps_n", "qgemm_wo", 1, 16);
  c.stages = int_field(j, "stages", "qgemm_wo", 1, 8);
  return c;
}

std::vector<WeightOnlyConfig> qgemm_wo_candidates(const WeightOnlyDesc& d, Arch arch) {
  // NOTE: a warp tile of 128 accumulators per thread (128 x 32) fits without spills at K steps
  // of 32 only (jit/impls/qgemm_wo.cpp): larger steps of it are not candidates.
  auto spills = [](const WeightOnlyConfig& c) {
    return (c.tile_m / c.warps_m / 16) * (c.tile_n / c.warps_n / 8) * 4 >= 128 && c.tile_k > 32;
  };
  const WeightOnlyConfig h = qgemm_wo_heuristic(d, arch);
  Unique<WeightOnlyConfig> out;
  out.add(h);
  // Neighbours: the heuristic's tile at other depths, then with other K steps.
  for (int stages : {2, 3, 4, 5}) {
    WeightOnlyConfig c = h;
    c.stages = stages;
    out.add(c);
  }
  for (int tile_k : {32, 64, 128}) {
    WeightOnlyConfig c = h;
    c.tile_k = tile_k;
    if (!spills(c)) out.add(c);
  }
  // NOTE: warps sit side by side along N (each dequantizes its own weight columns); two
  // stacked along M share the columns' codes in shared memory but repeat their dequantize.
  std::vector<WeightOnlyConfig> tiles = qgemm_wo_shipped_configs();
  const WeightOnlyConfig more[] = {{16, 128, 64, 1, 4, 4},  {32, 128, 64, 1, 4, 4}, {32, 128, 128, 1, 4, 4},
                                   {32, 256, 64, 1, 8, 4},  {64, 64, 64, 1, 2, 4},  {64, 128, 128, 1, 4, 3},
                                   {64, 256, 64, 1, 8, 4},  {64, 256, 32, 1, 8, 4}, {128, 64, 32, 1, 2, 4},
                                   {128, 128, 64, 2, 4, 4}, {128, 256, 32, 2, 8, 4}};
  tiles.insert(tiles.end(), std::begin(more), std::end(more));
  // Every tile at its own depth first (a small --max-configs still sees every tile), then at
  // every depth.
  for (const WeightOnlyConfig& c : tiles) out.add(c);
  for (WeightOnlyConfig c : tiles) {
    for (int stages : {2, 3, 4, 5}) {
      c.stages = stages;
      out.add(c);
    }
  }
  return out.list;
}

// --- the cpu GEMMs: host_qgemm_int8, host_gemm_bf16 and host_gemm_f32 (their configs share fields) ---

namespace {

template <typename C>
json host_config_json(const C& c) {
  return {{"mr", c.mr}, {"nb", c.nb}, {"mc", c.mc}, {"nc", c.nc}, {"kc", c.kc}, {"threads", c.threads}};
}

template <typename C>
C host_config_from(const json& j, const char* family) {
  C c;
  c.mr = int_field(j, "mr", family, 1, 64);
  c.nb = int_field(j, "nb", family, 1, 16);
  c.mc = int_field(j, "mc", family, 1, 4096);
  c.nc = int_field(j, "nc", family, 1, 8192);
  c.kc = int_field(j, "kc", family, 1, 65536);
  // NOTE: records written before the thread count was tuned have none: all threads.
  c.threads = j.is_object() && j.contains("threads") ? int_field(j, "threads", family, 0, 4096) : 0;
  return c;
}

template <typename C>
std::string host_config_label(const C& c) {
  return fmt::format("{}x{} {}x{} kc{}{}", c.mr, c.nb * kHostPanel, c.mc, c.nc, c.kc,
                     c.threads > 0 ? fmt::format(" {}t", c.threads) : "");
}

// The families block the same way (register tile of mr rows x nb panels, blocks of mc x nc,
// K steps of kc; on AMX, tiles), so one grid serves them all: kc's values are multiples of
// 128, as the bf16 GEMM needs.
template <typename C>
std::vector<C> host_config_candidates(const C& h, HostIsa isa, std::int64_t m, std::int64_t n, int threads) {
  const bool amx = isa == HostIsa::kAmx;
  // NOTE: register tiles that fill AVX-512's 32 registers (mr x nb sums + nb weight vectors)
  // or most of them; on AMX, the tile shapes 8 tiles allow.
  const std::vector<std::pair<int, int>> tiles =
      amx ? std::vector<std::pair<int, int>>{{32, 2}, {16, 2}, {32, 1}, {16, 1}}
          : std::vector<std::pair<int, int>>{{6, 4}, {4, 6}, {8, 3}, {7, 4}, {12, 2}, {4, 4}};
  const std::vector<int> row_blocks = amx ? std::vector<int>{64, 128, 256} : std::vector<int>{48, 96, 192, 288, 576};
  const std::vector<int> col_blocks = amx ? std::vector<int>{256, 512, 1024} : std::vector<int>{128, 256, 512, 1024};
  const std::vector<int> k_steps = amx ? std::vector<int>{1024, 2048, 4096} : std::vector<int>{512, 1024, 2048, 4096};
  auto make = [&](std::pair<int, int> tile, int mc, int nc, int kc) {
    C c;
    c.mr = tile.first;
    c.nb = tile.second;
    c.mc = nearest_multiple(mc, c.mr);
    c.nc = nearest_multiple(nc, c.nb * static_cast<int>(kHostPanel));
    c.kc = kc;
    return c;
  };
  Unique<C> out;
  out.add(h);
  // Neighbours: one field of the heuristic's changed.
  for (int mc : row_blocks) out.add(make({h.mr, h.nb}, mc, h.nc, h.kc));
  for (int nc : col_blocks) out.add(make({h.mr, h.nb}, h.mc, nc, h.kc));
  for (int kc : k_steps) out.add(make({h.mr, h.nb}, h.mc, h.nc, kc));
  for (const auto& t : tiles) out.add(make(t, h.mc, h.nc, h.kc));
  // Fewer threads: the fewest that run the heuristic's grid in as many waves as all of them
  // do (its blocks counted at the M bucket, so every M of a bucket has the same candidates),
  // then half of them, a quarter, ... one.
  auto on_threads = [&](int t) {
    C c = h;
    c.threads = t;
    if (t >= 1 && t < threads) out.add(c);
  };
  const std::int64_t blocks = (gemm_m_bucket(m) + h.mc - 1) / h.mc * ((n + h.nc - 1) / h.nc);
  const std::int64_t waves = (blocks + threads - 1) / std::max(threads, 1);
  on_threads(static_cast<int>((blocks + waves - 1) / std::max<std::int64_t>(waves, 1)));
  for (int t = threads / 2; t >= 1; t /= 2) on_threads(t);
  // Then the grid.
  for (const auto& t : tiles) {
    for (int mc : row_blocks) {
      for (int nc : col_blocks) {
        for (int kc : k_steps) out.add(make(t, mc, nc, kc));
      }
    }
  }
  return out.list;
}

}  // namespace

json host_qgemm_tuning_desc(const HostQGemmDesc& d, std::int64_t m, std::int64_t n, std::int64_t k) {
  return {{"isa", host_isa_name(d.isa)}, {"out", dtype_text(d.out_dtype)}, {"m_bucket", gemm_m_bucket(m)},
          {"n", n},                     {"k", k}};
}
json to_json(const HostQGemmConfig& c) { return host_config_json(c); }
HostQGemmConfig host_qgemm_config_from_json(const json& j) {
  return host_config_from<HostQGemmConfig>(j, "host_qgemm_int8");
}
std::string host_qgemm_label(const HostQGemmConfig& c) { return host_config_label(c); }
std::vector<HostQGemmConfig> host_qgemm_candidates(const HostQGemmDesc& d, std::int64_t m, std::int64_t n,
                                                   std::int64_t k, int threads) {
  return host_config_candidates(host_qgemm_heuristic(d, m, n, k), d.isa, m, n, threads);
}

json host_gemm_bf16_tuning_desc(const HostGemmBf16Desc& d, std::int64_t m, std::int64_t n, std::int64_t k) {
  return {{"isa", host_isa_name(d.isa)}, {"accum", host_accum_name(d.accum)}, {"out", dtype_text(d.out_dtype)},
          {"m_bucket", gemm_m_bucket(m)}, {"n", n}, {"k", k}};
}
json to_json(const HostGemmBf16Config& c) { return host_config_json(c); }
HostGemmBf16Config host_gemm_bf16_config_from_json(const json& j) {
  return host_config_from<HostGemmBf16Config>(j, "host_gemm_bf16");
}
std::string host_gemm_bf16_label(const HostGemmBf16Config& c) { return host_config_label(c); }
std::vector<HostGemmBf16Config> host_gemm_bf16_candidates(const HostGemmBf16Desc& d, std::int64_t m, std::int64_t n,
                                                          std::int64_t k, int threads) {
  return host_config_candidates(host_gemm_bf16_heuristic(d, m, n, k), d.isa, m, n, threads);
}

json host_gemm_f32_tuning_desc(const HostGemmF32Desc& d, std::int64_t m, std::int64_t n, std::int64_t k) {
  return {{"isa", host_isa_name(host_gemm_f32_isa(d.isa))}, {"in", dtype_text(d.in)}, {"out", dtype_text(d.out_dtype)},
          {"m_bucket", gemm_m_bucket(m)}, {"n", n}, {"k", k}};
}
json to_json(const HostGemmF32Config& c) { return host_config_json(c); }
HostGemmF32Config host_gemm_f32_config_from_json(const json& j) {
  return host_config_from<HostGemmF32Config>(j, "host_gemm_f32");
}
std::string host_gemm_f32_label(const HostGemmF32Config& c) { return host_config_label(c); }
std::vector<HostGemmF32Config> host_gemm_f32_candidates(const HostGemmF32Desc& d, std::int64_t m, std::int64_t n,
                                                        std::int64_t k, int threads) {
  return host_config_candidates(host_gemm_f32_heuristic(d, m, n, k), host_gemm_f32_isa(d.isa), m, n, threads);
}

}  // namespace qjit::jit::impls
