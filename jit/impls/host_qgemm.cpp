#include "jit/impls/host_qgemm.hpp"

#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "common/error.hpp"
#include "common/knobs.hpp"
#include "jit/host_compiler.hpp"

namespace qjit::jit::impls {

namespace {

bool host_has_avx2() {
  if (!host_compiler_available()) return false;
  const HostTarget& t = host_native_target();
  return t.has("avx2") && t.has("fma");
}

bool host_has_vnni() {
  if (!host_compiler_available()) return false;
  const HostTarget& t = host_native_target();
  return t.has("avx512f") && t.has("avx512bw") && t.has("avx512vl") && t.has("avx512vnni");
}

// Linux hands a process the AMX tile state (8 KiB of XSAVE area per thread) only when asked:
// arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA), once, for every thread of the process.
// Without it the first tile instruction is SIGILL, so no grant means no AMX.
bool amx_granted() {
#if defined(__linux__) && defined(SYS_arch_prctl)
  static const bool granted = [] {
    constexpr int kArchReqXcompPerm = 0x1023;
    constexpr int kXFeatureXTileData = 18;
    return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXFeatureXTileData) == 0;
  }();
  return granted;
#else
  return false;
#endif
}

bool host_has_amx() {
  if (!host_has_vnni()) return false;
  const HostTarget& t = host_native_target();
  return t.has("amx-tile") && t.has("amx-int8") && t.has("amx-bf16") && amx_granted();
}

}  // namespace

EnumValue host_isa_enum(HostIsa isa) {
  return {"qjit::host::Isa", isa == HostIsa::kAmx          ? "kAmx"
                             : isa == HostIsa::kAvx512Vnni ? "kAvx512Vnni"
                             : isa == HostIsa::kAvx2       ? "kAvx2"
                                                           : "kGeneric"};
}

EnumValue host_float_enum(DType t) {
  QJIT_CHECK_GEN("jit", is_high_precision(t), "host kernels take f32, f16 or bf16 here, got {}", dtype_name(t));
  return {"qjit::host::DType", t == DType::kF32 ? "kF32" : t == DType::kF16 ? "kF16" : "kBF16"};
}

void set_host_gemm_params(KernelSpec& s, HostIsa isa, DType out, std::optional<DType> bias, Activation act, int mr,
                          int nb, int mc, int nc, int kc) {
  s.set("kIsa", host_isa_enum(isa));
  s.set("kOut", host_float_enum(out));
  s.set("kHasBias", bias.has_value());
  s.set("kBias", host_float_enum(bias.value_or(DType::kF32)));
  s.set("kAct", EnumValue{"qjit::host::Activation", act == Activation::kGeluTanh ? "kGeluTanh" : "kNone"});
  s.set("kMR", mr);
  s.set("kNB", nb);
  s.set("kMC", mc);
  s.set("kNC", nc);
  s.set("kKC", kc);
}

const char* host_isa_name(HostIsa isa) {
  return isa == HostIsa::kAmx ? "amx" : isa == HostIsa::kAvx512Vnni ? "avx512_vnni" : isa == HostIsa::kAvx2 ? "avx2" : "generic";
}

HostIsa host_isa() {
  const std::string forced = knobs::cpu_isa();
  if (forced == "generic") return HostIsa::kGeneric;
  if (forced == "avx2") {
    QJIT_CHECK_GEN("jit", host_has_avx2(), "QJIT_CPU_ISA=avx2, but this host (or its compiler) lacks AVX2 and FMA");
    return HostIsa::kAvx2;
  }
  const bool vnni = host_has_vnni();
  if (forced == "avx512_vnni") {
    QJIT_CHECK_GEN("jit", vnni, "QJIT_CPU_ISA=avx512_vnni, but this host (or its compiler) lacks AVX-512 VNNI");
    return HostIsa::kAvx512Vnni;
  }
  const bool amx = host_has_amx();
  if (forced == "amx") {
    QJIT_CHECK_GEN("jit", amx,
                   "QJIT_CPU_ISA=amx, but this host (or its compiler, or its kernel's grant of the tile state) lacks "
                   "AMX-INT8 and AMX-BF16 with AVX-512 VNNI");
  }
  return amx ? HostIsa::kAmx : vnni ? HostIsa::kAvx512Vnni : host_has_avx2() ? HostIsa::kAvx2 : HostIsa::kGeneric;
}

ParamLayout HostActQuantParams::layout() {
  using P = HostActQuantParams;
  return {.host_type = "jit::impls::HostActQuantParams",
          .fields = {QJIT_PARAM_FIELD(P, x), QJIT_PARAM_FIELD(P, x_row_stride), QJIT_PARAM_FIELD(P, q),
                     QJIT_PARAM_FIELD(P, q_row_stride), QJIT_PARAM_FIELD(P, scales), QJIT_PARAM_FIELD(P, row_sums),
                     QJIT_PARAM_FIELD(P, row_amax), QJIT_PARAM_FIELD(P, m), QJIT_PARAM_FIELD(P, k),
                     QJIT_PARAM_FIELD(P, k_padded), QJIT_PARAM_FIELD(P, rows_per_block)}};
}

Family host_act_quant_family() {
  const ParamLayout* params = &param_layout<HostActQuantParams>();
  Family f{"host_act_quant", "host/act_quant.h", {{kHostActAmaxRows, params}, {kHostActQuantRows, params}},
           {"kIn", "kOut", "kMode", "kIsa", "kRowsPerBlock"}};
  f.host = true;
  return f;
}

KernelSpec host_act_quant_spec(const HostActQuantDesc& desc, const HostActQuantConfig& config) {
  QJIT_CHECK_GEN("jit", config.rows_per_block >= 1 && config.rows_per_block <= 4096,
                 "host_act_quant: rows_per_block {} is not in [1, 4096]", config.rows_per_block);
  const char* mode = nullptr;
  switch (desc.mode) {
    case ActScale::kDynamicPerToken: mode = "kDynamicPerToken"; break;
    case ActScale::kDynamicPerTensor: mode = "kDynamicPerTensor"; break;
    case ActScale::kStaticPerTensor: mode = "kStatic"; break;
    case ActScale::kDynamicGroup128: mode = desc.out == QType::kInt8 ? nullptr : "kDynamicGroup128"; break;
  }
  QJIT_CHECK_GEN("jit", mode != nullptr, "host_act_quant: int8 activations are per-token, per-tensor or static");
  QJIT_CHECK_GEN("jit", desc.out != QType::kNone, "host_act_quant: activations quantize to int8 or fp8");
  KernelSpec s("host_act_quant", Arch::host());
  s.set("kIn", host_float_enum(desc.in_dtype));
  s.set("kOut", EnumValue{"qjit::host::DType", desc.out == QType::kInt8   ? "kI8"
                                               : desc.out == QType::kE4M3 ? "kE4M3"
                                                                          : "kE5M2"});
  s.set("kMode", EnumValue{"qjit::host::ActMode", mode});
  s.set("kIsa", host_isa_enum(desc.isa));
  s.set("kRowsPerBlock", config.rows_per_block);
  return s;
}

ParamLayout HostQGemmParams::layout() {
  using P = HostQGemmParams;
  return {.host_type = "jit::impls::HostQGemmParams",
          .fields = {QJIT_PARAM_FIELD(P, a), QJIT_PARAM_FIELD(P, lda), QJIT_PARAM_FIELD(P, a_row_sums),
                     QJIT_PARAM_FIELD(P, a_scales), QJIT_PARAM_FIELD(P, a_scale_stride),
                     QJIT_PARAM_FIELD(P, w_packed), QJIT_PARAM_FIELD(P, w_scales),
                     QJIT_PARAM_FIELD(P, w_scale_stride), QJIT_PARAM_FIELD(P, bias), QJIT_PARAM_FIELD(P, out),
                     QJIT_PARAM_FIELD(P, ldo), QJIT_PARAM_FIELD(P, m), QJIT_PARAM_FIELD(P, n),
                     QJIT_PARAM_FIELD(P, k_padded), QJIT_PARAM_FIELD(P, pad)}};
}

Family host_qgemm_family() {
  Family f{"host_qgemm_int8", "host/qgemm_int8.h", {{kHostQGemmInt8, &param_layout<HostQGemmParams>()}},
           {"kIsa", "kOut", "kHasBias", "kBias", "kAct", "kMR", "kNB", "kMC", "kNC", "kKC"}};
  f.host = true;
  return f;
}

namespace {

// The grid blocks of an mr x nb register tile: multiples of it, sums within 1 MiB of stack.
void check_host_blocks(const char* family, int mr, int nb, int mc, int nc) {
  QJIT_CHECK_GEN("jit", mc >= mr && mc % mr == 0 && mc <= 1024, "{}: mc {} must be a multiple of mr {} and at most 1024",
                 family, mc, mr);
  QJIT_CHECK_GEN("jit", nc >= nb * kHostPanel && nc % (nb * kHostPanel) == 0 && nc <= 4096,
                 "{}: nc {} must be a multiple of nb * 16 = {} and at most 4096", family, nc, nb * kHostPanel);
  // NOTE: a block's running sums (4 bytes each) live on the kernel's stack.
  QJIT_CHECK_GEN("jit", static_cast<long long>(mc) * nc * 4 <= 1024 * 1024,
                 "{}: a {}x{} block's partial sums take {} bytes of stack, more than 1 MiB", family, mc, nc,
                 static_cast<long long>(mc) * nc * 4);
}

}  // namespace

void check_host_amx_blocking(const char* family, int mr, int nb, int mc, int nc) {
  // NOTE: AMX has 8 tiles: mr / 16 x nb accumulators, mr / 16 A tiles and nb B tiles.
  QJIT_CHECK_GEN("jit", (mr == 16 || mr == 32) && (nb == 1 || nb == 2),
                 "{} (amx): the register tile is mr 16 or 32 rows by nb 1 or 2 panels, got mr {} nb {}", family, mr,
                 nb);
  check_host_blocks(fmt::format("{} (amx)", family).c_str(), mr, nb, mc, nc);
}

void check_host_blocking(const char* family, int mr, int nb, int mc, int nc) {
  QJIT_CHECK_GEN("jit", mr >= 1 && mr <= 16, "{}: mr {} is not in [1, 16]", family, mr);
  QJIT_CHECK_GEN("jit", nb >= 1 && nb <= 8, "{}: nb {} is not in [1, 8]", family, nb);
  // NOTE: AVX-512 has 32 vector registers: mr x nb accumulators plus nb weight vectors.
  QJIT_CHECK_GEN("jit", mr * nb + nb <= 32,
                 "{}: an {}x{} register tile needs {} vector registers, more than the 32 there are", family, mr, nb,
                 mr * nb + nb);
  check_host_blocks(family, mr, nb, mc, nc);
}

void check_host_qgemm_config(const HostQGemmConfig& c, HostIsa isa) {
  QJIT_CHECK_GEN("jit", c.threads >= 0, "host_qgemm_int8: threads {} must be 0 (all) or positive", c.threads);
  if (isa != HostIsa::kAmx) {
    check_host_blocking("host_qgemm_int8", c.mr, c.nb, c.mc, c.nc);
    QJIT_CHECK_GEN("jit", c.kc >= 4 && c.kc % 4 == 0, "host_qgemm_int8: kc {} must be a positive multiple of 4",
                   c.kc);
    return;
  }
  check_host_amx_blocking("host_qgemm_int8", c.mr, c.nb, c.mc, c.nc);
  // NOTE: the last partial tile of 16 rows is copied per K step into 16 x kc bytes of stack.
  QJIT_CHECK_GEN("jit", c.kc >= 64 && c.kc % 64 == 0 && c.kc <= 8192,
                 "host_qgemm_int8 (amx): kc {} must be a multiple of 64 in [64, 8192]", c.kc);
}

HostQGemmConfig host_qgemm_heuristic(const HostQGemmDesc& desc, std::int64_t, std::int64_t n, std::int64_t k) {
  if (desc.isa == HostIsa::kAmx) {
    // NOTE: 2 x 2 tiles (32 rows x 32 channels, all 8 tiles); blocks of 128 rows x 512 channels
    // (a block's codes and weight slab, 256 KiB + 1 MiB at K = 2048, stay in a 2 MiB L2; of
    // 64 / 128 / 256 x 256 / 512 at M = 1024 and Wan's shapes, the fastest on 1 and 2 threads
    // here); K steps of 2048. The autotuner (issue 13) searches the rest.
    return HostQGemmConfig{.mr = 32, .nb = 2, .mc = 128, .nc = 512, .kc = 2048};
  }
  // NOTE: a 6x64 register tile (24 accumulators and 4 weight vectors of AVX-512's 32), blocks of
  // 48 rows x 256 channels (the weight slab a block streams, 2048 x 256 bytes, stays in L2), K
  // steps of 2048. Where the weights are large (8 MiB or more: Wan's FFN layers), blocks of 288
  // rows: each weight slab, streamed from L3, then serves 48 register tiles instead of 8
  // (measured on Zen 4 at N = 8960, K = 1536, M = 256 and 1024: 371-383 -> 413-425 GOPS a core,
  // 711-713 -> 812-814 on two; at N = K = 1536 the weights stay in cache and 48 is as fast).
  // The autotuner (issue 13) searches the rest.
  HostQGemmConfig c;
  if (n * k >= (std::int64_t{8} << 20)) c.mc = 288;
  return c;
}

KernelSpec host_qgemm_spec(const HostQGemmDesc& desc, const HostQGemmConfig& config) {
  check_host_qgemm_config(config, desc.isa);
  KernelSpec s("host_qgemm_int8", Arch::host());
  set_host_gemm_params(s, desc.isa, desc.out_dtype, desc.bias, desc.activation, config.mr, config.nb, config.mc,
                       config.nc, config.kc);
  return s;
}

}  // namespace qjit::jit::impls
