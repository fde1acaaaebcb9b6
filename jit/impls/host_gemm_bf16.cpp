#include "jit/impls/host_gemm_bf16.hpp"

#include "common/error.hpp"

namespace qjit::jit::impls {

namespace {

constexpr const char* kFamily = "host_gemm_bf16";

}  // namespace

const char* host_accum_name(HostAccum a) {
  switch (a) {
    case HostAccum::kSequential: return "sequential";
    case HostAccum::kBlock128: return "block128";
    case HostAccum::kBlock128Scaled: return "block128_scaled";
  }
  return "?";
}

ParamLayout HostGemmBf16Params::layout() {
  using P = HostGemmBf16Params;
  return {.host_type = "jit::impls::HostGemmBf16Params",
          .fields = {QJIT_PARAM_FIELD(P, a), QJIT_PARAM_FIELD(P, lda), QJIT_PARAM_FIELD(P, a_scales),
                     QJIT_PARAM_FIELD(P, a_scale_stride), QJIT_PARAM_FIELD(P, w_packed),
                     QJIT_PARAM_FIELD(P, w_scales), QJIT_PARAM_FIELD(P, w_scale_stride), QJIT_PARAM_FIELD(P, bias),
                     QJIT_PARAM_FIELD(P, out), QJIT_PARAM_FIELD(P, ldo), QJIT_PARAM_FIELD(P, m),
                     QJIT_PARAM_FIELD(P, n), QJIT_PARAM_FIELD(P, k_pairs), QJIT_PARAM_FIELD(P, pad)}};
}

Family host_gemm_bf16_family() {
  Family f{kFamily, "host/gemm_bf16.h", {{kHostGemmBf16, &param_layout<HostGemmBf16Params>()}},
           {"kIsa", "kAccum", "kOut", "kHasBias", "kBias", "kAct", "kMR", "kNB", "kMC", "kNC", "kKC"}};
  f.host = true;
  return f;
}

void check_host_gemm_bf16_config(const HostGemmBf16Config& c, HostIsa isa) {
  QJIT_CHECK_GEN("jit", c.threads >= 0, "{}: threads {} must be 0 (all) or positive", kFamily, c.threads);
  if (isa == HostIsa::kAmx) {
    check_host_amx_blocking(kFamily, c.mr, c.nb, c.mc, c.nc);
    // NOTE: the last partial tile of 16 rows is copied per K step into 16 x kc bf16 of stack.
    QJIT_CHECK_GEN("jit", c.kc >= 128 && c.kc % 128 == 0 && c.kc <= 4096,
                   "{} (amx): kc {} must be a multiple of 128 in [128, 4096]", kFamily, c.kc);
    return;
  }
  check_host_blocking(kFamily, c.mr, c.nb, c.mc, c.nc);
  QJIT_CHECK_GEN("jit", c.kc >= 128 && c.kc % 128 == 0, "{}: kc {} must be a positive multiple of 128", kFamily,
                 c.kc);
}

HostGemmBf16Config host_gemm_bf16_heuristic(const HostGemmBf16Desc& desc, std::int64_t, std::int64_t, std::int64_t) {
  if (desc.isa == HostIsa::kAmx) {
    // NOTE: 2 x 2 tiles (32 rows x 32 channels, all 8 tiles), blocks of 64 rows x 256 channels,
    // K steps of 2048.
    return HostGemmBf16Config{.mr = 32, .nb = 2, .mc = 64, .nc = 256, .kc = 2048};
  }
  // NOTE: a 6x64 register tile (24 accumulators and 4 weight vectors of the 32), blocks of 48
  // rows x 256 channels, K steps of 1024 (a block's weight slab, 1024 x 256 bf16, stays in L2).
  return HostGemmBf16Config{};
}

KernelSpec host_gemm_bf16_spec(const HostGemmBf16Desc& desc, const HostGemmBf16Config& config) {
  check_host_gemm_bf16_config(config, desc.isa);
  KernelSpec s(kFamily, Arch::host());
  set_host_gemm_params(s, desc.isa, desc.out_dtype, desc.bias, desc.activation, config.mr, config.nb, config.mc,
                       config.nc, config.kc);
  const char* accum = desc.accum == HostAccum::kSequential ? "kSequential"
                      : desc.accum == HostAccum::kBlock128 ? "kBlock128"
                                                            : "kBlock128Scaled";
  s.set("kAccum", EnumValue{"qjit::host::Accum", accum});
  return s;
}

}  // namespace qjit::jit::impls
