#include "jit/impls/host_attention.hpp"

#include "common/error.hpp"

namespace qjit::jit::impls {

ParamLayout HostAttentionParams::layout() {
  using P = HostAttentionParams;
  return {.host_type = "jit::impls::HostAttentionParams",
          .fields = {QJIT_PARAM_FIELD(P, q), QJIT_PARAM_FIELD(P, q_row_stride), QJIT_PARAM_FIELD(P, q_batch_stride),
                     QJIT_PARAM_FIELD(P, k_packed), QJIT_PARAM_FIELD(P, v), QJIT_PARAM_FIELD(P, v_row_stride),
                     QJIT_PARAM_FIELD(P, v_batch_stride), QJIT_PARAM_FIELD(P, out),
                     QJIT_PARAM_FIELD(P, o_row_stride), QJIT_PARAM_FIELD(P, o_batch_stride),
                     QJIT_PARAM_FIELD(P, scale), QJIT_PARAM_FIELD(P, sq), QJIT_PARAM_FIELD(P, skv),
                     QJIT_PARAM_FIELD(P, heads), QJIT_PARAM_FIELD(P, pad)}};
}

Family host_attention_family() {
  Family f{"host_attention", "host/attention.h", {{kHostAttention, &param_layout<HostAttentionParams>()}},
           {"kIsa", "kOut", "kHeadDim", "kMQ", "kKT"}};
  f.host = true;
  return f;
}

KernelSpec host_attention_spec(const HostAttentionDesc& d, const HostAttentionConfig& c) {
  QJIT_CHECK_GEN("jit", host_attention_head_dim_ok(d.head_dim),
                 "host_attention: head dim {} is not a multiple of 16 in [16, 256]", d.head_dim);
  QJIT_CHECK_GEN("jit", c.mq >= 4 && c.mq <= 64 && c.mq % 4 == 0, "host_attention: mq {} is not a multiple of 4 in [4, 64]",
                 c.mq);
  QJIT_CHECK_GEN("jit", c.kt >= 64 && c.kt <= 512 && c.kt % 64 == 0,
                 "host_attention: kt {} is not a multiple of 64 in [64, 512]", c.kt);
  KernelSpec s("host_attention", Arch::host());
  s.set("kIsa", host_isa_enum(d.isa));
  s.set("kOut", host_float_enum(d.out_dtype));
  s.set("kHeadDim", d.head_dim);
  s.set("kMQ", c.mq);
  s.set("kKT", c.kt);
  return s;
}

}  // namespace qjit::jit::impls
