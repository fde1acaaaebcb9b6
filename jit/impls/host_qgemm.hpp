#pragma once
// Host generators of the cpu device's W8A8 linears: the activation quantization family
// (templates/host/act_quant.h: int8 codes K-padded with row code sums, or fp8 values as bf16;
// scales) and the int8 GEMM family (templates/host/qgemm_int8.h) on weights packed in
// 16-channel panels of (w + 128); the float GEMM family is host_gemm_bf16.hpp. All compile to
// host object code (Family::host) for an ISA: AMX tiles for the int8 GEMM where the host and
// its kernel allow them, AVX-512 where the host has it (VNNI for int8), else the portable
// path; all three give the same int8 bits.

#include <cstdint>
#include <optional>
#include <string>

#include "common/dtype.hpp"
#include "common/qtype.hpp"
#include "jit/family.hpp"
#include "jit/kernel_params.hpp"
#include "jit/kernel_spec.hpp"

namespace qjit::jit::impls {

// kAvx2: the portable code compiled for an AVX2 / FMA host; kAmx: AVX-512 VNNI/BF16, AMX-INT8/BF16.
enum class HostIsa { kGeneric, kAvx512Vnni, kAmx, kAvx2 };
const char* host_isa_name(HostIsa isa);
/// The spec values every host family shares: its ISA (kIsa) and a float dtype (f32, f16, bf16;
/// throws naming it otherwise).
EnumValue host_isa_enum(HostIsa isa);
EnumValue host_float_enum(DType t);
/// The parameters both host GEMM families take: kIsa, the epilogue (kOut, kHasBias, kBias,
/// kAct) and the blocking (kMR, kNB, kMC, kNC, kKC).
void set_host_gemm_params(KernelSpec& spec, HostIsa isa, DType out, std::optional<DType> bias, Activation act, int mr,
                          int nb, int mc, int nc, int kc);  // "generic", "avx512_vnni", "amx"
/// The best ISA of this host: AMX where the CPU has AMX-TILE/INT8/BF16 with AVX-512 VNNI and the
/// operating system grants this process the tile state (asked once), else AVX-512 F/BW/VL/VNNI,
/// else generic. QJIT_CPU_ISA forces one ("generic" on any host; "avx512_vnni" and "amx" only
/// where the host has them).
HostIsa host_isa();
/// Codes per row: K rounded up to a multiple of 64 (an AMX tile row; vpdpbusd needs 4).
inline std::int64_t host_k_padded(std::int64_t k) { return (k + 63) / 64 * 64; }
inline constexpr std::int64_t kHostPanel = 16;  // output channels per packed weight panel
/// Throws qjit::Error naming `family` and the field unless a GEMM's blocking can run: the
/// register tile (mr rows x nb panels) fits AVX-512's 32 registers, blocks (mc x nc) are
/// multiples of it and their running sums fit 1 MiB of stack.
void check_host_blocking(const char* family, int mr, int nb, int mc, int nc);
/// The same for a GEMM on AMX tiles: mr 16 or 32 rows by nb 1 or 2 panels (8 tiles: the sums,
/// the A tiles, the B tiles).
void check_host_amx_blocking(const char* family, int mr, int nb, int mc, int nc);

// --- activation quantization (templates/host/act_quant.h) ---
struct HostActQuantDesc {
  DType in_dtype = DType::kBF16;  // f32 | f16 | bf16
  ActScale mode = ActScale::kDynamicPerToken;  // per-token, per-tensor, static; group128 (fp8 only)
  QType out = QType::kInt8;                    // int8 codes | fp8_e4m3 / fp8_e5m2 values as bf16
  HostIsa isa = HostIsa::kGeneric;
};
struct HostActQuantConfig {
  int rows_per_block = 16;  // NOTE: never changes results, only speed
};
struct HostActQuantParams {
  DeviceAddress x = 0;
  std::int64_t x_row_stride = 0;  // elements
  DeviceAddress q = 0;
  std::int64_t q_row_stride = 0;  // bytes
  DeviceAddress scales = 0;
  DeviceAddress row_sums = 0;
  DeviceAddress row_amax = 0;
  std::int32_t m = 0, k = 0, k_padded = 0, rows_per_block = 0;
  static ParamLayout layout();
};
Family host_act_quant_family();
KernelSpec host_act_quant_spec(const HostActQuantDesc& desc, const HostActQuantConfig& config);
inline constexpr const char* kHostActAmaxRows = "qjit::host::act_amax_rows";
inline constexpr const char* kHostActQuantRows = "qjit::host::act_quant_rows";

// --- the GEMM (templates/host/qgemm_int8.h) ---
struct HostQGemmDesc {
  DType out_dtype = DType::kBF16;
  std::optional<DType> bias;  // its dtype; none: no bias
  Activation activation = Activation::kNone;
  HostIsa isa = HostIsa::kGeneric;
};
struct HostQGemmConfig {
  // NOTE: never changes results, only speed. On AMX the register tile is mr / 16 x nb tiles
  // (mr 16 or 32, nb 1 or 2) and kc a multiple of 64.
  int mr = 6, nb = 4;          // register tile: mr rows x nb panels of 16 channels
  int mc = 48, nc = 256;       // a grid block: mc rows x nc channels
  int kc = 2048;               // K step (partial sums kept between steps)
  // Launch, not code (not in the spec): at most this many of the cpu device's threads run
  // the grid; 0: all of them. Fewer can win on a small grid, where threads wait on the last
  // blocks, or where memory bandwidth, not compute, bounds the GEMM.
  int threads = 0;
};
struct HostQGemmParams {
  DeviceAddress a = 0;
  std::int64_t lda = 0;
  DeviceAddress a_row_sums = 0;
  DeviceAddress a_scales = 0;
  std::int64_t a_scale_stride = 0;
  DeviceAddress w_packed = 0;
  DeviceAddress w_scales = 0;
  std::int64_t w_scale_stride = 0;
  DeviceAddress bias = 0;
  DeviceAddress out = 0;
  std::int64_t ldo = 0;
  std::int32_t m = 0, n = 0, k_padded = 0, pad = 0;
  static ParamLayout layout();
};
Family host_qgemm_family();
HostQGemmConfig host_qgemm_heuristic(const HostQGemmDesc& desc, std::int64_t m, std::int64_t n, std::int64_t k);
/// Throws qjit::Error naming the field when a config cannot run (what the template's
/// static_asserts and the stack would refuse).
void check_host_qgemm_config(const HostQGemmConfig& config, HostIsa isa);
KernelSpec host_qgemm_spec(const HostQGemmDesc& desc, const HostQGemmConfig& config);
inline constexpr const char* kHostQGemmInt8 = "qjit::host::qgemm_int8";

}  // namespace qjit::jit::impls
