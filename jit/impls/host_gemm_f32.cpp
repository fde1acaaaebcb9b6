#include "jit/impls/host_gemm_f32.hpp"

#include "common/error.hpp"

namespace qjit::jit::impls {

namespace {
constexpr const char* kFamily = "host_gemm_f32";
}  // namespace

ParamLayout HostGemmF32Params::layout() {
  using P = HostGemmF32Params;
  return {.host_type = "jit::impls::HostGemmF32Params",
          .fields = {QJIT_PARAM_FIELD(P, a), QJIT_PARAM_FIELD(P, lda), QJIT_PARAM_FIELD(P, w_packed),
                     QJIT_PARAM_FIELD(P, bias), QJIT_PARAM_FIELD(P, out), QJIT_PARAM_FIELD(P, ldo),
                     QJIT_PARAM_FIELD(P, m), QJIT_PARAM_FIELD(P, n), QJIT_PARAM_FIELD(P, k), QJIT_PARAM_FIELD(P, pad)}};
}

Family host_gemm_f32_family() {
  Family f{kFamily, "host/gemm_f32.h", {{kHostGemmF32, &param_layout<HostGemmF32Params>()}},
           {"kIsa", "kIn", "kOut", "kHasBias", "kBias", "kAct", "kMR", "kNB", "kMC", "kNC", "kKC"}};
  f.host = true;
  return f;
}

HostGemmF32Config host_gemm_f32_heuristic(const HostGemmF32Desc&, std::int64_t, std::int64_t, std::int64_t) {
  // NOTE: a 6x64 register tile (24 accumulators and 4 weight vectors of AVX-512's 32), blocks
  // of 48 rows x 256 channels, K steps of 512 (a block's weight slab, 512 x 256 f32, stays in
  // L2). `qjit autotune` searches the rest (jit/impls/tuning_space.hpp).
  return HostGemmF32Config{};
}

// NOTE: the kernel has no AMX path (f16 / f32 products): an AMX host runs the AVX-512 tile.
HostIsa host_gemm_f32_isa(HostIsa isa) { return isa == HostIsa::kAmx ? HostIsa::kAvx512Vnni : isa; }

void check_host_gemm_f32_config(const HostGemmF32Config& c, HostIsa) {
  QJIT_CHECK_GEN("jit", c.threads >= 0, "{}: threads {} must be 0 (all) or positive", kFamily, c.threads);
  check_host_blocking(kFamily, c.mr, c.nb, c.mc, c.nc);
  QJIT_CHECK_GEN("jit", c.kc >= 1 && c.kc <= (1 << 20), "{}: kc {} must be in [1, 2^20]", kFamily, c.kc);
}

KernelSpec host_gemm_f32_spec(const HostGemmF32Desc& desc, const HostGemmF32Config& c) {
  QJIT_CHECK_GEN("jit", desc.in == DType::kF16 || desc.in == DType::kF32, "{}: operands must be f16 or f32, got {}",
                 kFamily, dtype_name(desc.in));
  check_host_gemm_f32_config(c, desc.isa);
  KernelSpec s(kFamily, Arch::host());
  set_host_gemm_params(s, host_gemm_f32_isa(desc.isa), desc.out_dtype, desc.bias, desc.activation, c.mr, c.nb, c.mc,
                       c.nc, c.kc);
  s.set("kIn", host_float_enum(desc.in));
  return s;
}

}  // namespace qjit::jit::impls
