#include "jit/impls/qgemm.hpp"

#include <fmt/format.h>

#include "common/error.hpp"
#include "jit/impls/dtype_enum.hpp"

namespace qjit::jit::impls {

namespace {

bool is_fp8(QType q) { return q == QType::kE4M3 || q == QType::kE5M2; }
bool is_block_fp8(const GemmDesc& d) { return d.scale_w == Granularity::kBlock128; }
bool is_float_a(const GemmDesc& d) { return d.a_source != ActSource::kQuantized; }
// Only a per-token dynamic scale can be computed inside the GEMM (each CTA sees whole rows,
// never the whole tensor, and group128 belongs to block-fp8's pre-quantized operands).
bool can_fuse(const GemmDesc& d) {
  return d.a_source == ActSource::kStatic || (d.a_source == ActSource::kDynamic && d.scale_a == Granularity::kPerToken);
}

// The largest dynamic shared memory a block may opt in to (CUDA programming guide, "Compute
// Capabilities"); unknown archs get the smallest of the shipped ones.
int max_smem_optin(Arch arch) {
  if (arch.number == 80 || arch.number == 87) return 163 * 1024;
  if (arch.number >= 90 && arch.number < 100) return 227 * 1024;
  return 99 * 1024;
}

// The smallest M tile: small-M problems (decode-like) use it.
constexpr GemmConfig kSmall{16, 64, 64, 1, 2, 4};
constexpr GemmConfig kMedium{64, 128, 64, 2, 2, 4};
constexpr GemmConfig kLarge{128, 128, 64, 2, 4, 4};
constexpr GemmConfig kWide{128, 256, 64, 2, 4, 3};  // int8 only: 64x64 warp tiles
constexpr GemmConfig kNarrowWarps{64, 128, 64, 2, 4, 4};  // 32x32 warp tiles: fp8 on sm_90

// Accumulator registers per thread: fp8 keeps the 128-K block's sum beside the main one.
int accumulator_registers(const GemmDesc& d, const GemmConfig& c) {
  return (c.tile_m / c.warps_m / 16) * (c.tile_n / c.warps_n / 8) * 4 * (d.qtype_a == QType::kInt8 ? 1 : 2);
}

// The most accumulator registers a config may keep without spilling (measured with ptxas of
// NVRTC 13: tests/jit/qgemm_compile_test.cpp). NOTE: sm_90 has no native fp8 mma.sync;
// ptxas widens the fragments to f16 and needs about 70 more registers, so fp8 warp tiles
// there are at most 32x32.
int accumulator_budget(const GemmDesc& d, Arch arch) {
  return d.qtype_a != QType::kInt8 && arch.number >= 90 ? 64 : 128;
}

// CTAs that fill a GPU of this class about once (an A100 has 108 SMs): below that a larger
// tile leaves SMs idle, and a smaller one is faster.
constexpr long long kFillCtas = 108;

}  // namespace

std::string GemmConfig::str() const {
  return fmt::format("{}x{}x{} w{}x{} s{}{}", tile_m, tile_n, tile_k, warps_m, warps_n, stages,
                     fusion == GemmFusion::kSeparate ? " separate" : "");
}

GemmDesc qgemm_kernel_desc(const GemmDesc& d, const GemmConfig& c) {
  GemmDesc k = d;
  if (is_float_a(d) && c.fusion == GemmFusion::kSeparate) k.a_source = ActSource::kQuantized;
  if (k.a_source == ActSource::kQuantized) k.x_dtype = DType::kBF16;  // canonical when unused
  return k;
}

int qgemm_smem_bytes(const GemmDesc& d, const GemmConfig& c) {
  const GemmDesc k = qgemm_kernel_desc(d, c);
  return c.smem_bytes() + (k.a_source == ActSource::kDynamic ? 4 * c.tile_m : 0);
}

long long gemm_m_bucket(long long m) {
  long long b = 16;
  while (b < m && b < (1ll << 20)) b *= 2;
  return b;
}

void check_gemm_desc(const GemmDesc& d, Arch arch) {
  const bool int8 = d.qtype_a == QType::kInt8 && d.qtype_w == QType::kInt8;
  QJIT_CHECK_GEN("qgemm", int8 || (is_fp8(d.qtype_a) && is_fp8(d.qtype_w)),
                 "operand qtypes {} x {} are not both int8 or both fp8 (fp8_e4m3 / fp8_e5m2)", qtype_name(d.qtype_a),
                 qtype_name(d.qtype_w));
  QJIT_CHECK_GEN("qgemm", int8 || arch.number >= 89,
                 "fp8 x fp8 mma (m16n8k32 .e4m3/.e5m2) needs sm_89 or newer; the target is {}", arch.str());
  QJIT_CHECK_GEN("qgemm", d.n > 0 && d.n % 16 == 0, "N = {} must be a positive multiple of 16", d.n);
  QJIT_CHECK_GEN("qgemm", d.k >= 0 && d.k % 16 == 0, "K = {} must be a multiple of 16", d.k);
  // NOTE: |acc| <= 127 * 127 * K must fit int32 (int8 codes are within ±127, never -128).
  QJIT_CHECK_GEN("qgemm", !int8 || 127ll * 127ll * d.k <= 2147483647ll,
                 "int8 K = {} could overflow the int32 accumulator (127 * 127 * K > 2^31 - 1; K <= {})", d.k,
                 2147483647ll / (127 * 127));
  QJIT_CHECK_GEN("qgemm",
                 d.scale_a == Granularity::kPerToken || d.scale_a == Granularity::kPerTensor ||
                     d.scale_a == Granularity::kGroup128,
                 "activation scale granularity '{}' is not per_token, per_tensor or group128",
                 granularity_name(d.scale_a));
  QJIT_CHECK_GEN("qgemm",
                 d.scale_w == Granularity::kPerChannel || d.scale_w == Granularity::kPerTensor ||
                     d.scale_w == Granularity::kBlock128,
                 "weight scale granularity '{}' is not per_channel, per_tensor or block128",
                 granularity_name(d.scale_w));
  // Block-fp8 (DESIGN.md section 5): the two block layouts go together, and only with fp8.
  const bool group_a = d.scale_a == Granularity::kGroup128, block_w = d.scale_w == Granularity::kBlock128;
  QJIT_CHECK_GEN("qgemm", group_a == block_w,
                 "activation scales {} with weight scales {}: group128 activations go only with block128 weights "
                 "(the block-fp8 family), and block128 weights only with group128 activations",
                 granularity_name(d.scale_a), granularity_name(d.scale_w));
  QJIT_CHECK_GEN("qgemm", !block_w || !int8,
                 "group128 x block128 scales are the block-fp8 family: operands must be fp8, not {} x {}",
                 qtype_name(d.qtype_a), qtype_name(d.qtype_w));
  QJIT_CHECK_GEN("qgemm", !d.bias || is_high_precision(*d.bias), "bias dtype '{}' is not none, f32, f16 or bf16",
                 dtype_name(*d.bias));
  QJIT_CHECK_GEN("qgemm", !is_float_a(d) || is_high_precision(d.x_dtype),
                 "float activations of dtype '{}' are not bf16, f16 or f32", dtype_name(d.x_dtype));
  QJIT_CHECK_GEN("qgemm", d.a_source != ActSource::kStatic || d.scale_a == Granularity::kPerTensor,
                 "a static activation scale is per_tensor, not {}", granularity_name(d.scale_a));
  QJIT_CHECK_GEN("qgemm", is_high_precision(d.out), "output dtype '{}' is not f32, f16 or bf16", dtype_name(d.out));
}

void check_gemm_config(const GemmDesc& d, const GemmConfig& c, Arch arch) {
  const std::string s = c.str();
  QJIT_CHECK_GEN("qgemm", c.tile_k == 32 || c.tile_k == 64 || c.tile_k == 128,
                 "config {}: tile_k must be 32, 64 or 128", s);
  QJIT_CHECK_GEN("qgemm", c.stages >= 2 && c.stages <= 5, "config {}: stages must be in [2, 5]", s);
  QJIT_CHECK_GEN("qgemm", c.warps_m >= 1 && c.warps_n >= 1 && c.warps_m * c.warps_n <= 16,
                 "config {}: 1 to 16 warps", s);
  QJIT_CHECK_GEN("qgemm", c.tile_m % c.warps_m == 0 && (c.tile_m / c.warps_m) % 16 == 0,
                 "config {}: the warp tile's M must be a multiple of 16", s);
  QJIT_CHECK_GEN("qgemm", c.tile_n % c.warps_n == 0 && (c.tile_n / c.warps_n) % 16 == 0,
                 "config {}: the warp tile's N must be a multiple of 16", s);
  QJIT_CHECK_GEN("qgemm", (c.threads() / (c.tile_k / 16)) % 8 == 0,
                 "config {}: threads / (tile_k / 16) must be a multiple of 8", s);
  QJIT_CHECK_GEN("qgemm", !is_block_fp8(d) || 128 % (c.tile_n / c.warps_n) == 0,
                 "config {}: block-fp8 needs a warp tile N ({}) that divides 128 (one block128 weight scale per warp)",
                 s, c.tile_n / c.warps_n);
  QJIT_CHECK_GEN("qgemm", !is_float_a(d) || c.fusion == GemmFusion::kSeparate || can_fuse(d),
                 "config {}: dynamic {} activation scales cannot be fused into the GEMM (only per_token can: a CTA "
                 "sees whole rows, not the tensor); use the separate act_quant pass",
                 s, granularity_name(d.scale_a));
  const int acc_regs = accumulator_registers(d, c);
  QJIT_CHECK_GEN("qgemm", acc_regs <= accumulator_budget(d, arch),
                 "config {}: {} accumulator registers per thread (at most {} for {} on {}; fp8 keeps two sets)", s,
                 acc_regs, accumulator_budget(d, arch), qtype_name(d.qtype_a), arch.str());
  QJIT_CHECK_GEN("qgemm", qgemm_smem_bytes(d, c) <= max_smem_optin(arch),
                 "config {}: {} bytes of shared memory exceed the {} bytes {} allows", s, qgemm_smem_bytes(d, c),
                 max_smem_optin(arch), arch.str());
}

std::vector<GemmConfig> qgemm_shipped_configs() { return {kSmall, kMedium, kLarge, kWide, kNarrowWarps}; }

namespace {

GemmConfig heuristic_tiles(const GemmDesc& d, Arch arch) {
  auto fits = [&](const GemmConfig& c) {
    return accumulator_registers(d, c) <= accumulator_budget(d, arch) && qgemm_smem_bytes(d, c) <= max_smem_optin(arch) &&
           (!is_block_fp8(d) || 128 % (c.tile_n / c.warps_n) == 0);
  };
  if (d.m_bucket <= 16) return kSmall;
  const GemmConfig medium = fits(kMedium) ? kMedium : kNarrowWarps;
  if (d.m_bucket <= 64) return medium;
  auto ctas = [&](const GemmConfig& c) {
    return ((d.m_bucket + c.tile_m - 1) / c.tile_m) * ((d.n + c.tile_n - 1) / c.tile_n);
  };
  for (const GemmConfig& c : {kWide, kLarge}) {
    if (fits(c) && ctas(c) >= kFillCtas) return c;
  }
  return medium;
}

// Column tiles up to which the fused dynamic strategy wins. Per element of bf16 x and with
// C = ceil(N / tile_n) CTAs per row band: fused, each CTA reads its rows twice (amax, then
// the main loop): 4 C bytes; separate, act_quant reads x twice and writes the 1-byte code
// (5 bytes), then each CTA reads the code (C bytes): 5 + C. Fused moves 3 C - 5 more bytes
// (mostly L2 hits) and quantizes each element C times instead of once, but saves a launch
// and the codes' round trip through DRAM: cheap for few column tiles, a loss for many.
constexpr long long kFusedMaxColumnTiles = 4;
// Up to this M bucket a layer is launch-bound (a few microseconds of work), so fusing the
// quantization (one launch, not two) wins whatever N is.
constexpr long long kFusedMaxMBucket = 64;

}  // namespace

GemmConfig qgemm_heuristic(const GemmDesc& d, Arch arch) {
  GemmConfig c = heuristic_tiles(d, arch);
  // NOTE: the fusion strategy never changes results (the act_quant kernel and the fused
  // prologue compute the same scales and codes, bit for bit); it only moves work.
  if (d.a_source == ActSource::kDynamic) {
    const long long column_tiles = (d.n + c.tile_n - 1) / c.tile_n;
    const bool fuse = can_fuse(d) && (column_tiles <= kFusedMaxColumnTiles || d.m_bucket <= kFusedMaxMBucket);
    c.fusion = fuse ? GemmFusion::kFused : GemmFusion::kSeparate;
  }
  // A static scale is always fused: no pass over x is needed before the GEMM.
  return c;
}

ParamLayout QGemmParams::layout() {
  using P = QGemmParams;
  return {.host_type = "jit::impls::QGemmParams",
          .fields = {QJIT_PARAM_FIELD(P, a), QJIT_PARAM_FIELD(P, a_ld), QJIT_PARAM_FIELD(P, w), QJIT_PARAM_FIELD(P, w_ld),
           QJIT_PARAM_FIELD(P, scale_a), QJIT_PARAM_FIELD(P, scale_w), QJIT_PARAM_FIELD(P, bias),
           QJIT_PARAM_FIELD(P, y), QJIT_PARAM_FIELD(P, y_ld), QJIT_PARAM_FIELD(P, m), QJIT_PARAM_FIELD(P, n),
           QJIT_PARAM_FIELD(P, k)}};
}

ParamLayout QGemmBlockScalesParams::layout() {
  using P = QGemmBlockScalesParams;
  return {.host_type = "jit::impls::QGemmBlockScalesParams",
          .fields = {QJIT_PARAM_FIELD(P, src), QJIT_PARAM_FIELD(P, dst), QJIT_PARAM_FIELD(P, m), QJIT_PARAM_FIELD(P, groups)}};
}

Family qgemm_family() {
  return {"qgemm",
          "impls/qgemm.cuh",
          {{kQGemmKernel, &param_layout<QGemmParams>()},
           {kQGemmBlockScalesKernel, &param_layout<QGemmBlockScalesParams>()}},
          {"kQA", "kQW", "kScaleAPerToken", "kScaleWPerChannel", "kBlockScales", "kASource", "kX", "kHasBias", "kBias", "kGelu", "kOut", "kTileM",
           "kTileN", "kTileK", "kWarpsM", "kWarpsN", "kStages"}};
}

KernelSpec qgemm_spec(const GemmDesc& problem, const GemmConfig& c, Arch arch) {
  check_gemm_desc(problem, arch);
  check_gemm_config(problem, c, arch);
  const GemmDesc d = qgemm_kernel_desc(problem, c);
  const char* source = d.a_source == ActSource::kStatic    ? "kStatic"
                       : d.a_source == ActSource::kDynamic ? "kDynamicFused"
                                                           : "kQuantized";
  KernelSpec spec("qgemm", arch);
  // NOTE: M, N and K are launch arguments, not spec fields: one compiled kernel serves every
  // shape its desc's bucket maps to.
  spec.set("kQA", qtype_enum(d.qtype_a))
      .set("kQW", qtype_enum(d.qtype_w))
      .set("kScaleAPerToken", d.scale_a == Granularity::kPerToken)
      .set("kScaleWPerChannel", d.scale_w == Granularity::kPerChannel)
      .set("kBlockScales", is_block_fp8(d))
      .set("kASource", EnumValue{"qjit::kernels::QGemmASource", source})
      .set("kX", dtype_enum(d.x_dtype))
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

long long group_scales_ld(long long m) { return (m + 7) / 8 * 8; }

GemmGrid qgemm_block_scales_grid(long long m, long long groups) {
  const long long gx = (m + 31) / 32, gy = (groups + 31) / 32;
  QJIT_CHECK_GEN("qgemm", gx >= 1 && gx < 2147483648ll && gy >= 1 && gy < 65536,
                 "group128 scales of M = {} rows and {} groups give a grid of {} x {} CTAs, beyond the launch limits",
                 m, groups, gx, gy);
  return {static_cast<unsigned>(gx), static_cast<unsigned>(gy)};
}

GemmGrid qgemm_grid(const GemmConfig& c, long long m, long long n) {
  const long long gx = (m + c.tile_m - 1) / c.tile_m, gy = (n + c.tile_n - 1) / c.tile_n;
  QJIT_CHECK_GEN("qgemm", gx >= 1 && gx <= 2147483647ll && gy >= 1 && gy < 65536,
                 "M = {}, N = {} give a grid of {} x {} CTAs, beyond the launch limits", m, n, gx, gy);
  return {static_cast<unsigned>(gx), static_cast<unsigned>(gy)};
}

}  // namespace qjit::jit::impls
