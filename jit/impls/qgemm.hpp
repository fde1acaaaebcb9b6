#pragma once
// Host generator of the W8A8 GEMM family (device side: templates/impls/qgemm.cuh): problem
// (GemmDesc) + tuning choice (GemmConfig) -> KernelSpec, shared-memory size and grid. The
// activations are pre-quantized, or float and quantized by the GEMM (static scale, or
// dynamic per-token scales in a fused prologue or a separate act_quant pass: the config's
// fusion strategy). The heuristic is a pure function of the two structs.

#include <optional>
#include <string>
#include <vector>

#include "common/dtype.hpp"
#include "common/qtype.hpp"
#include "jit/arch.hpp"
#include "jit/family.hpp"
#include "jit/kernel_params.hpp"
#include "jit/kernel_spec.hpp"

namespace qjit::jit::impls {

// Where the activations come from: quantized (int8 / fp8 codes and scales given), static
// (float x and a calibrated per_tensor scale) or dynamic (float x, scales computed from it:
// per_token fused or separate, per_tensor and group128 separate).
enum class ActSource { kQuantized, kStatic, kDynamic };

// The problem, in the shared vocabulary (common/qtype.hpp).
struct GemmDesc {
  long long m_bucket = 16;        // gemm_m_bucket(M): heuristics see M only through it
  long long n = 0, k = 0;         // N, K (multiples of 16)
  QType qtype_a = QType::kInt8;   // int8 | fp8_e4m3 | fp8_e5m2
  QType qtype_w = QType::kInt8;   // int8 | fp8_e4m3 | fp8_e5m2 (both int8 or both fp8)
  Granularity scale_a = Granularity::kPerToken;    // per_token | per_tensor | group128 (block-fp8)
  Granularity scale_w = Granularity::kPerChannel;  // per_channel | per_tensor | block128 (block-fp8)
  std::optional<DType> bias;      // none | f32 | f16 | bf16
  Activation act = Activation::kNone;
  DType out = DType::kBF16;       // bf16 | f16 | f32
  ActSource a_source = ActSource::kQuantized;
  DType x_dtype = DType::kBF16;   // float x: bf16 | f16 | f32 (a_source static or dynamic)
};

// How float activations meet the GEMM (a_source static or dynamic; ignored for quantized).
enum class GemmFusion {
  kFused,     // the GEMM reads x and quantizes it in its main loop (dynamic: after a prologue
              // pass computing each of its rows' amax over K)
  kSeparate,  // the act_quant kernel writes codes and scales, then the pre-quantized GEMM
};

// The tuning choice. NOTE: never changes results, only speed: every config runs the same
// 32-wide k-steps in the same order and promotes fp8 at the same 128-K boundaries.
struct GemmConfig {
  int tile_m = 64, tile_n = 128, tile_k = 64;  // CTA tile: rows, columns, K bytes
  int warps_m = 2, warps_n = 2;                // warp grid; warp tile = tile / warps
  int stages = 4;                              // cp.async pipeline depth (2..5)
  GemmFusion fusion = GemmFusion::kFused;      // float activations only

  int threads() const { return 32 * warps_m * warps_n; }
  int smem_bytes() const { return stages * (tile_m + tile_n) * tile_k; }  // the pipeline's stages
  std::string str() const;  // "64x128x64 w2x2 s4", " separate" appended for kSeparate
  bool operator==(const GemmConfig&) const = default;
};

// The dynamic shared memory of the kernel (desc, config) launches: the stages, plus the
// fused dynamic strategy's row scales.
int qgemm_smem_bytes(const GemmDesc& desc, const GemmConfig& config);
// The desc of the GEMM kernel that (desc, config) launches: with the separate strategy the
// act_quant pass quantizes x, so the GEMM's activations are pre-quantized.
GemmDesc qgemm_kernel_desc(const GemmDesc& desc, const GemmConfig& config);

// M rounded up to a power of two in [16, 2^20]: the part of M a config choice depends on.
long long gemm_m_bucket(long long m);

// Checks what the kernel needs of a desc and an arch (qtypes, fp8 mma only on sm_89+, N and
// K multiples of 16, int8 K bound, group128 activations only with block128 weights and fp8,
// names); throws qjit::Error naming the problem.
void check_gemm_desc(const GemmDesc& desc, Arch arch);
// Checks a config against the kernel's static_asserts and the arch's shared memory, and
// against the desc (fp8 keeps two accumulator sets; block-fp8 needs warp tiles whose N divides
// 128). Throws qjit::Error naming the field.
void check_gemm_config(const GemmDesc& desc, const GemmConfig& config, Arch arch);

// The configs qjit ships (each compiles without spills for sm_80, sm_89 and sm_90); some are
// int8 only (check_gemm_config says which).
std::vector<GemmConfig> qgemm_shipped_configs();
// A shipped config that fits desc on arch: the largest tile that still gives enough CTAs to
// fill a GPU, small tiles for small M; and for float activations the fusion strategy.
GemmConfig qgemm_heuristic(const GemmDesc& desc, Arch arch);

// kQGemmKernel's parameters, in order (templates/impls/qgemm.cuh).
struct QGemmParams {
  DeviceAddress a = 0;  // [M, K] codes (a_ld bytes apart) or float x (a_ld elements apart)
  std::int64_t a_ld = 0;
  DeviceAddress w = 0;  // [N, K] codes, w_ld bytes apart
  std::int64_t w_ld = 0;
  DeviceAddress scale_a = 0;  // the activation scales; 0 for the fused dynamic strategy
  DeviceAddress scale_w = 0;  // the weight scales
  DeviceAddress bias = 0;     // [N], or 0
  DeviceAddress y = 0;        // [M, N], y_ld elements apart
  std::int64_t y_ld = 0;
  std::int32_t m = 0, n = 0, k = 0;
  static ParamLayout layout();
};

// kQGemmBlockScalesKernel's parameters, in order.
struct QGemmBlockScalesParams {
  DeviceAddress src = 0;  // logical group128 scales [m, groups], dense
  DeviceAddress dst = 0;  // K-major [groups, group_scales_ld(m)]
  std::int32_t m = 0, groups = 0;
  static ParamLayout layout();
};

Family qgemm_family();
// The spec of the GEMM kernel (desc, config) launches (see qgemm_kernel_desc).
KernelSpec qgemm_spec(const GemmDesc& desc, const GemmConfig& config, Arch arch);
inline constexpr const char* kQGemmKernel = "qjit::kernels::qgemm";

// Launch grid: (ceil(M / tile_m), ceil(N / tile_n)).
struct GemmGrid {
  unsigned x = 1, y = 1;
};
GemmGrid qgemm_grid(const GemmConfig& config, long long m, long long n);

// Block-fp8: the GEMM reads its group128 activation scales K-major, [ceil(K/128),
// group_scales_ld(M)] (templates/impls/qgemm.cuh says why), not in the logical [M,
// ceil(K/128)] of every interface (DESIGN.md section 5). The act_quant group128 pass writes
// them so when it feeds the GEMM (ActQuantDesc::scales_k_major); logical scales are
// transposed on the device by kQGemmBlockScalesKernel, an entry of the same program as the
// GEMM (it has a body in block-fp8 specs only).
// group_scales_ld: M rounded up to 8 floats (one 32-byte sector per 8 rows of a group).
long long group_scales_ld(long long m);
inline constexpr const char* kQGemmBlockScalesKernel = "qjit::kernels::qgemm_block_scales_k_major";
// kQGemmBlockScalesKernel's launch: 256 threads, a 32 x 32 (rows, groups) tile per CTA:
// grid (ceil(M / 32), ceil(groups / 32)).
inline constexpr int kQGemmBlockScalesThreads = 256;
GemmGrid qgemm_block_scales_grid(long long m, long long groups);

}  // namespace qjit::jit::impls
