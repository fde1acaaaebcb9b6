#pragma once
// Host generator of the cpu device's f16 / f32 GEMM (templates/host/gemm_f32.h): the
// unquantized layers', and weight-only rules' on f16 activations (tuned by `qjit autotune`):
// operands widened exactly to f32, each output summed over K in order, as the reference sums:
// bit-identical to it without GELU. Weights are packed once in 16-channel panels of f32
// (runtime/ops/host_gemm_f32.hpp). Compiles to host object code for an ISA: AVX-512 or the
// portable path (an AMX host runs the AVX-512 one).

#include <cstdint>
#include <optional>

#include "common/dtype.hpp"
#include "common/qtype.hpp"
#include "jit/family.hpp"
#include "jit/impls/host_qgemm.hpp"
#include "jit/kernel_params.hpp"
#include "jit/kernel_spec.hpp"

namespace qjit::jit::impls {

struct HostGemmF32Desc {
  DType in = DType::kF16;  // the operands' dtype: f16 or f32
  DType out_dtype = DType::kF16;
  std::optional<DType> bias;  // its dtype; none: no bias
  Activation activation = Activation::kNone;
  HostIsa isa = HostIsa::kGeneric;
};
struct HostGemmF32Config {
  // NOTE: never changes results (the K order is kept across steps), only speed.
  int mr = 6, nb = 4;     // register tile: mr rows x nb panels of 16 channels
  int mc = 48, nc = 256;  // a grid block: mc rows x nc channels
  int kc = 512;           // K step (running sums kept between steps)
  int threads = 0;        // launch, not code: as HostQGemmConfig::threads
};
struct HostGemmF32Params {
  DeviceAddress a = 0;
  std::int64_t lda = 0;
  DeviceAddress w_packed = 0;
  DeviceAddress bias = 0;
  DeviceAddress out = 0;
  std::int64_t ldo = 0;
  std::int32_t m = 0, n = 0, k = 0, pad = 0;
  static ParamLayout layout();
};
Family host_gemm_f32_family();
HostGemmF32Config host_gemm_f32_heuristic(const HostGemmF32Desc& desc, std::int64_t m, std::int64_t n, std::int64_t k);
/// The ISA whose code the kernel runs on a host of `isa` (an AMX host runs the AVX-512 tile).
HostIsa host_gemm_f32_isa(HostIsa isa);
/// Throws qjit::Error naming the field when a config cannot run (on any ISA: the checks are
/// the same on each; `isa` is there for the tuner's family-generic lookup).
void check_host_gemm_f32_config(const HostGemmF32Config& config, HostIsa isa);
/// Throws qjit::Error naming the field when a desc or config cannot run.
KernelSpec host_gemm_f32_spec(const HostGemmF32Desc& desc, const HostGemmF32Config& config);
inline constexpr const char* kHostGemmF32 = "qjit::host::gemm_f32";

}  // namespace qjit::jit::impls
