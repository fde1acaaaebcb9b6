#include "jit/impls/qgemm_wo.hpp"

#include <fmt/format.h>

#include "common/error.hpp"
#include "jit/impls/dtype_enum.hpp"

namespace qjit::jit::impls {

namespace {

// The largest dynamic shared memory a block may opt in to (CUDA programming guide, "Compute
// Capabilities"), as qgemm.cpp has it; unknown archs get the smallest of the shipped ones.
int max_smem_optin(Arch arch) {
  if (arch.number == 80 || arch.number == 87) return 163 * 1024;
  if (arch.number >= 90 && arch.number < 100) return 227 * 1024;
  return 99 * 1024;
}

// Small M (decode-like): one 16-row fragment per warp, four n8 tiles.
constexpr WeightOnlyConfig kSmall{16, 64, 64, 1, 2, 4};
// NOTE: warps side by side along N (warps_m = 1): each warp dequantizes its own q fragments,
// so warps stacked along M would repeat that work. The 128-row tiles take tile_k = 32, with
// which their 128 accumulators per thread fit without spills (tile_k = 64 spills on sm_80).
constexpr WeightOnlyConfig kMedium{64, 128, 64, 1, 4, 4};    // 64x32 warp tiles
constexpr WeightOnlyConfig kLarge{128, 128, 32, 1, 4, 4};    // 128x32 warp tiles
constexpr WeightOnlyConfig kWide{128, 256, 32, 1, 8, 4};     // 128x32 warp tiles

// CTAs that fill a GPU of this class about once (an A100 has 108 SMs): below that a larger
// tile leaves SMs idle, and a smaller one is faster.
constexpr long long kFillCtas = 108;

// The enumerator value of templates/impls/qgemm_wo.cuh's kScaleW.
int scale_w_code(const WeightOnlyDesc& d) {
  if (qgemm_wo_is_float(d)) return 3;  // none
  return d.scale_w == Granularity::kPerTensor ? 0 : d.scale_w == Granularity::kPerChannel ? 1 : 2;
}

}  // namespace

std::string WeightOnlyConfig::str() const {
  return fmt::format("{}x{}x{} w{}x{} s{}", tile_m, tile_n, tile_k, warps_m, warps_n, stages);
}

bool qgemm_wo_is_float(const WeightOnlyDesc& d) { return d.qtype_w == QType::kNone; }
int qgemm_wo_weight_bytes(const WeightOnlyDesc& d) { return qgemm_wo_is_float(d) ? 2 : 1; }

void check_weight_only_desc(const WeightOnlyDesc& d, Arch arch) {
  QJIT_CHECK_GEN("qgemm_wo", arch.number >= 80,
                 "the weight-only GEMM (cp.async, bf16/f16 mma m16n8k16) needs sm_80 or newer; the target is {}",
                 arch.str());
  QJIT_CHECK_GEN("qgemm_wo", d.x == DType::kBF16 || d.x == DType::kF16, "activation dtype '{}' is not bf16 or f16",
                 dtype_name(d.x));
  if (!qgemm_wo_is_float(d)) {
    QJIT_CHECK_GEN("qgemm_wo",
                   d.scale_w == Granularity::kPerChannel || d.scale_w == Granularity::kPerTensor ||
                       d.scale_w == Granularity::kBlock128,
                   "weight scale granularity '{}' is not per_channel, per_tensor or block128",
                   granularity_name(d.scale_w));
  }
  QJIT_CHECK_GEN("qgemm_wo", d.n > 0 && d.n % 16 == 0, "N = {} must be a positive multiple of 16", d.n);
  QJIT_CHECK_GEN("qgemm_wo", d.k >= 0 && d.k % 16 == 0, "K = {} must be a multiple of 16", d.k);
  QJIT_CHECK_GEN("qgemm_wo", !d.bias || is_high_precision(*d.bias), "bias dtype '{}' is not none, f32, f16 or bf16",
                 dtype_name(*d.bias));
  QJIT_CHECK_GEN("qgemm_wo", is_high_precision(d.out), "output dtype '{}' is not f32, f16 or bf16", dtype_name(d.out));
}

void check_weight_only_config(const WeightOnlyDesc& d, const WeightOnlyConfig& c, Arch arch) {
  const std::string s = c.str();
  QJIT_CHECK_GEN("qgemm_wo", c.tile_k == 32 || c.tile_k == 64 || c.tile_k == 128,
                 "config {}: tile_k must be 32, 64 or 128", s);
  QJIT_CHECK_GEN("qgemm_wo", c.stages >= 2 && c.stages <= 5, "config {}: stages must be in [2, 5]", s);
  QJIT_CHECK_GEN("qgemm_wo", c.warps_m >= 1 && c.warps_n >= 1 && c.warps_m * c.warps_n <= 16,
                 "config {}: 1 to 16 warps", s);
  QJIT_CHECK_GEN("qgemm_wo", c.tile_m % c.warps_m == 0 && (c.tile_m / c.warps_m) % 16 == 0,
                 "config {}: the warp tile's M must be a multiple of 16", s);
  QJIT_CHECK_GEN("qgemm_wo", c.tile_n % c.warps_n == 0 && (c.tile_n / c.warps_n) % 32 == 0,
                 "config {}: the warp tile's N must be a multiple of 32", s);
  QJIT_CHECK_GEN("qgemm_wo", (c.threads() / (c.tile_k / 8)) % 8 == 0,
                 "config {}: threads / (tile_k / 8) must be a multiple of 8", s);
  QJIT_CHECK_GEN("qgemm_wo", (c.tile_m / c.warps_m / 16) * (c.tile_n / c.warps_n / 8) * 4 <= 128,
                 "config {}: more than 128 accumulator registers per thread", s);
  const int smem = c.smem_bytes(qgemm_wo_weight_bytes(d));
  QJIT_CHECK_GEN("qgemm_wo", smem <= max_smem_optin(arch),
                 "config {}: {} bytes of shared memory exceed the {} bytes {} allows", s, smem, max_smem_optin(arch),
                 arch.str());
}

std::vector<WeightOnlyConfig> qgemm_wo_shipped_configs() { return {kSmall, kMedium, kLarge, kWide}; }

WeightOnlyConfig qgemm_wo_heuristic(const WeightOnlyDesc& d, Arch arch) {
  if (d.m_bucket <= 16) return kSmall;
  if (d.m_bucket <= 64) return kMedium;
  auto ctas = [&](const WeightOnlyConfig& c) {
    return ((d.m_bucket + c.tile_m - 1) / c.tile_m) * ((d.n + c.tile_n - 1) / c.tile_n);
  };
  for (const WeightOnlyConfig& c : {kWide, kLarge}) {
    if (c.smem_bytes(qgemm_wo_weight_bytes(d)) <= max_smem_optin(arch) && ctas(c) >= kFillCtas) return c;
  }
  return kMedium;
}

ParamLayout QGemmWoParams::layout() {
  using P = QGemmWoParams;
  return {.host_type = "jit::impls::QGemmWoParams",
          .fields = {QJIT_PARAM_FIELD(P, x), QJIT_PARAM_FIELD(P, x_ld), QJIT_PARAM_FIELD(P, w), QJIT_PARAM_FIELD(P, w_ld),
           QJIT_PARAM_FIELD(P, scale_w), QJIT_PARAM_FIELD(P, bias), QJIT_PARAM_FIELD(P, y), QJIT_PARAM_FIELD(P, y_ld),
           QJIT_PARAM_FIELD(P, m), QJIT_PARAM_FIELD(P, n), QJIT_PARAM_FIELD(P, k)}};
}

Family qgemm_wo_family() {
  return {"qgemm_wo",
          "impls/qgemm_wo.cuh",
          {{kQGemmWoKernel, &param_layout<QGemmWoParams>()}},
          {"kAct", "kQW", "kScaleW", "kHasBias", "kBias", "kGelu", "kOut", "kTileM", "kTileN", "kTileK", "kWarpsM",
           "kWarpsN", "kStages"}};
}

KernelSpec qgemm_wo_spec(const WeightOnlyDesc& d, const WeightOnlyConfig& c, Arch arch) {
  check_weight_only_desc(d, arch);
  check_weight_only_config(d, c, arch);
  KernelSpec spec("qgemm_wo", arch);
  // NOTE: M, N and K are launch arguments, not spec fields: one compiled kernel serves every
  // shape its desc's bucket maps to.
  spec.set("kAct", dtype_enum(d.x))
      .set("kQW", qgemm_wo_is_float(d) ? dtype_enum(d.x) : qtype_enum(d.qtype_w))
      .set("kScaleW", scale_w_code(d))
      .set("kHasBias", d.bias.has_value())
      .set("kBias", dtype_enum(d.bias.value_or(DType::kF32)))  // canonical when unused
      .set("kGelu", d.act == Activation::kGeluTanh)
      .set("kOut", dtype_enum(d.out))
      .set("kTileM", c.tile_m)
      .set("kTileN", c.tile_n)
      .set("kTileK", c.tile_k)
      .set("kWarpsM", c.warps_m)
      .set("kWarpsN", c.warps_n)
      .set("kStages", c.stages);
  return spec;
}

GemmGrid qgemm_wo_grid(const WeightOnlyConfig& c, long long m, long long n) {
  const long long gx = (m + c.tile_m - 1) / c.tile_m, gy = (n + c.tile_n - 1) / c.tile_n;
  QJIT_CHECK_GEN("qgemm_wo", gx >= 1 && gx <= 2147483647ll && gy >= 1 && gy < 65536,
                 "M = {}, N = {} give a grid of {} x {} CTAs, beyond the launch limits", m, n, gx, gy);
  return {static_cast<unsigned>(gx), static_cast<unsigned>(gy)};
}

}  // namespace qjit::jit::impls
