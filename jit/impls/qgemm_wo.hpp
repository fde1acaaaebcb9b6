#pragma once
// Host generator of the weight-only GEMM family (device side: templates/impls/qgemm_wo.cuh):
// bf16/f16 activations times int8/fp8 weights dequantized in the main loop, or times
// unquantized weights of the activation dtype (qtype_w == x, scale_w "none": the float GEMM
// of runtime/ops/gemm.hpp). Problem
// (WeightOnlyDesc) + tuning choice (WeightOnlyConfig) -> KernelSpec, shared-memory size and
// grid. The heuristic is a pure function of the two structs.

#include <string>
#include <vector>

#include "jit/arch.hpp"
#include "jit/family.hpp"
#include "jit/impls/qgemm.hpp"
#include "jit/kernel_params.hpp"
#include "jit/kernel_spec.hpp"

namespace qjit::jit::impls {

// The problem. Names are the canonical ones of DESIGN.md section 5.
struct WeightOnlyDesc {
  long long m_bucket = 16;              // gemm_m_bucket(M): heuristics see M only through it
  long long n = 0, k = 0;               // N, K (multiples of 16)
  DType x = DType::kBF16;        // activation dtype: bf16 | f16 (also the mma's)
  QType qtype_w = QType::kInt8;  // int8 | fp8_e4m3 | fp8_e5m2 | none: unquantized, of x's dtype
  Granularity scale_w = Granularity::kPerChannel;  // per_channel | per_tensor | block128;
                                                   // ignored when unquantized
  std::optional<DType> bias;                 // none | f32 | f16 | bf16
  Activation act = Activation::kNone;        // none | gelu_tanh
  DType out = DType::kBF16;                  // bf16 | f16 | f32
};

// The tuning choice. NOTE: never changes results, only speed: every config runs the same
// k16 mma steps in the same order. (Not GemmConfig: tile_k counts elements here, and the
// activation tile takes two bytes per element.)
struct WeightOnlyConfig {
  int tile_m = 64, tile_n = 128, tile_k = 64;  // CTA tile: rows, columns, K elements
  int warps_m = 2, warps_n = 2;                // warp grid; warp tile = tile / warps
  int stages = 4;                              // cp.async pipeline depth (2..5)

  int threads() const { return 32 * warps_m * warps_n; }
  // Dynamic shared memory for weights of `weight_bytes` bytes per element (1: codes, 2:
  // unquantized bf16/f16; qgemm_wo_weight_bytes(desc)).
  int smem_bytes(int weight_bytes = 1) const { return stages * (2 * tile_m + weight_bytes * tile_n) * tile_k; }
  std::string str() const;  // "64x128x64 w2x2 s4"
  bool operator==(const WeightOnlyConfig&) const = default;
};

// Bytes per weight element: 2 for unquantized weights (qtype_w == x), 1 for codes.
int qgemm_wo_weight_bytes(const WeightOnlyDesc& desc);
// Whether desc is the unquantized GEMM (weights of the activation dtype, qtype_w == x).
bool qgemm_wo_is_float(const WeightOnlyDesc& desc);

// Checks what the kernel needs of a desc and an arch (dtypes, qtypes, granularities, N and K
// multiples of 16, sm_80+); throws qjit::Error naming the problem.
void check_weight_only_desc(const WeightOnlyDesc& desc, Arch arch);
// Checks a config against the kernel's static_asserts and the arch's shared memory. Throws
// qjit::Error naming the field.
void check_weight_only_config(const WeightOnlyDesc& desc, const WeightOnlyConfig& config, Arch arch);

// The configs qjit ships (each compiles without spills for sm_80, sm_89 and sm_90).
std::vector<WeightOnlyConfig> qgemm_wo_shipped_configs();
// A shipped config that fits desc on arch: small tiles for small M, the largest tile that
// still gives enough CTAs to fill a GPU otherwise.
WeightOnlyConfig qgemm_wo_heuristic(const WeightOnlyDesc& desc, Arch arch);

// The kernel's parameters, in order (templates/impls/qgemm_wo.cuh).
struct QGemmWoParams {
  DeviceAddress x = 0;  // [M, K] bf16 / f16, x_ld elements apart
  std::int64_t x_ld = 0;
  DeviceAddress w = 0;  // [N, K] codes or 16-bit floats, w_ld elements apart
  std::int64_t w_ld = 0;
  DeviceAddress scale_w = 0;  // the weight scales; 0 for unquantized weights
  DeviceAddress bias = 0;     // [N], or 0
  DeviceAddress y = 0;        // [M, N], y_ld elements apart
  std::int64_t y_ld = 0;
  std::int32_t m = 0, n = 0, k = 0;
  static ParamLayout layout();
};

Family qgemm_wo_family();
KernelSpec qgemm_wo_spec(const WeightOnlyDesc& desc, const WeightOnlyConfig& config, Arch arch);
inline constexpr const char* kQGemmWoKernel = "qjit::kernels::qgemm_wo";

// Launch grid: (ceil(M / tile_m), ceil(N / tile_n)).
GemmGrid qgemm_wo_grid(const WeightOnlyConfig& config, long long m, long long n);

}  // namespace qjit::jit::impls
