#pragma once
// Host generator of the cpu device's float GEMM family (templates/host/gemm_bf16.h): bf16
// operands, products exact in f32, f32 sums — the unquantized bf16 GEMM, weight-only (weights
// dequantized to bf16 at apply time), fp8 W8A8 (codes decoded to bf16) and block fp8, told
// apart by how K is summed (HostAccum). Weights are packed once in 16-channel panels of bf16
// pairs (runtime/ops/host_gemm.hpp). Compiles to host object code for an ISA: AVX-512 (with
// vdpbf16ps where the host has AVX-512 BF16) or the portable path.

#include <cstdint>
#include <optional>

#include "common/dtype.hpp"
#include "common/qtype.hpp"
#include "jit/family.hpp"
#include "jit/impls/host_qgemm.hpp"
#include "jit/kernel_params.hpp"
#include "jit/kernel_spec.hpp"

namespace qjit::jit::impls {

enum class HostAccum {
  kSequential,      // one f32 sum over K; epilogue fmaf(acc, 1, bias)
  kBlock128,        // fp8: 128-K block sums promoted; epilogue fmaf(total, sa * sw, bias)
  kBlock128Scaled,  // block fp8: each block's sum times sa[m, g] * sw[n / 128, g]; epilogue fmaf(total, 1, bias)
};
const char* host_accum_name(HostAccum a);

/// bf16 pairs per activation row and per packed weight row: K rounded up to a multiple of 32
/// (an AMX tile row; vdpbf16ps needs 2).
inline std::int64_t host_k_pairs(std::int64_t k) { return (k + 31) / 32 * 16; }

struct HostGemmBf16Desc {
  HostAccum accum = HostAccum::kSequential;
  DType out_dtype = DType::kBF16;
  std::optional<DType> bias;  // its dtype; none: no bias
  Activation activation = Activation::kNone;
  HostIsa isa = HostIsa::kGeneric;
};
struct HostGemmBf16Config {
  // NOTE: never changes results beyond the order of the additions, only speed.
  int mr = 6, nb = 4;     // register tile: mr rows x nb panels of 16 channels
  int mc = 48, nc = 256;  // a grid block: mc rows x nc channels
  int kc = 1024;          // K step (a multiple of 128; running totals kept between steps)
  // NOTE: on AMX the register tile is mr / 16 x nb tiles (mr 16 or 32, nb 1 or 2).
  int threads = 0;        // launch, not code: as HostQGemmConfig::threads
};
struct HostGemmBf16Params {
  DeviceAddress a = 0;
  std::int64_t lda = 0;
  DeviceAddress a_scales = 0;
  std::int64_t a_scale_stride = 0;
  DeviceAddress w_packed = 0;
  DeviceAddress w_scales = 0;
  std::int64_t w_scale_stride = 0;
  DeviceAddress bias = 0;
  DeviceAddress out = 0;
  std::int64_t ldo = 0;
  std::int32_t m = 0, n = 0, k_pairs = 0, pad = 0;
  static ParamLayout layout();
};
Family host_gemm_bf16_family();
HostGemmBf16Config host_gemm_bf16_heuristic(const HostGemmBf16Desc& desc, std::int64_t m, std::int64_t n,
                                            std::int64_t k);
/// Throws qjit::Error naming the field when a config cannot run.
void check_host_gemm_bf16_config(const HostGemmBf16Config& config, HostIsa isa);
KernelSpec host_gemm_bf16_spec(const HostGemmBf16Desc& desc, const HostGemmBf16Config& config);
inline constexpr const char* kHostGemmBf16 = "qjit::host::gemm_bf16";

}  // namespace qjit::jit::impls
