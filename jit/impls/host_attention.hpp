#pragma once
// Host generator of the cpu device's attention (templates/host/attention.h): bf16 q, k, v with
// the head dim a multiple of 16 up to 256, f32 arithmetic, online softmax over key tiles, keys
// packed by the host in panels of 16 (runtime/ops/host_attention.hpp). Compiles to host object
// code for an ISA: AVX-512 (vdpbf16ps where the host has AVX-512 BF16) or the portable path.

#include <cstdint>

#include "common/dtype.hpp"
#include "jit/family.hpp"
#include "jit/impls/host_qgemm.hpp"
#include "jit/kernel_params.hpp"
#include "jit/kernel_spec.hpp"

namespace qjit::jit::impls {

struct HostAttentionDesc {
  int head_dim = 128;
  DType out_dtype = DType::kBF16;
  HostIsa isa = HostIsa::kGeneric;
};
struct HostAttentionConfig {
  // NOTE: never changes results beyond the order of the additions, only speed.
  int mq = 16;  // query rows per grid block (a multiple of 4)
  int kt = 64;  // keys per tile (a multiple of 64)
};
struct HostAttentionParams {
  DeviceAddress q = 0;
  std::int64_t q_row_stride = 0, q_batch_stride = 0;
  DeviceAddress k_packed = 0;
  DeviceAddress v = 0;
  std::int64_t v_row_stride = 0, v_batch_stride = 0;
  DeviceAddress out = 0;
  std::int64_t o_row_stride = 0, o_batch_stride = 0;
  float scale = 0;
  std::int32_t sq = 0, skv = 0, heads = 0, pad = 0;
  static ParamLayout layout();
};
/// Whether the host kernel takes this head dim (a multiple of 16 up to 256).
inline bool host_attention_head_dim_ok(std::int64_t d) { return d >= 16 && d <= 256 && d % 16 == 0; }
Family host_attention_family();
/// Throws qjit::Error naming the field when a desc or config cannot run.
KernelSpec host_attention_spec(const HostAttentionDesc& desc, const HostAttentionConfig& config);
inline constexpr const char* kHostAttention = "qjit::host::attention_rows";

}  // namespace qjit::jit::impls
