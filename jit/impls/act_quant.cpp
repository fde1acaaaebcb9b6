#include "jit/impls/act_quant.hpp"

#include "common/error.hpp"
#include "jit/impls/dtype_enum.hpp"

namespace qjit::jit::impls {

ParamLayout ActQuantParams::layout() {
  using P = ActQuantParams;
  return {.host_type = "jit::impls::ActQuantParams",
          .fields = {QJIT_PARAM_FIELD(P, x), QJIT_PARAM_FIELD(P, x_row_stride), QJIT_PARAM_FIELD(P, q),
           QJIT_PARAM_FIELD(P, q_row_stride), QJIT_PARAM_FIELD(P, scales), QJIT_PARAM_FIELD(P, amax_bits),
           QJIT_PARAM_FIELD(P, m), QJIT_PARAM_FIELD(P, k)}};
}

Family act_quant_family() {
  const ParamLayout* params = &param_layout<ActQuantParams>();
  return {"act_quant",
          "impls/act_quant.cuh",
          {{"qjit::kernels::act_quant_per_token", params},
           {"qjit::kernels::act_quant_static", params},
           {"qjit::kernels::act_quant_tensor_amax", params},
           {"qjit::kernels::act_quant_tensor_apply", params},
           {"qjit::kernels::act_quant_group128", params}},
          {"kMode", "kIn", "kOut", "kScalesKMajor", "kThreads", "kVec"}};
}

namespace {

int in_bytes(DType dtype) { return static_cast<int>(dtype_size(dtype)); }

EnumValue mode_enum(ActScale mode) {
  const char* name = nullptr;
  switch (mode) {
    case ActScale::kDynamicPerToken: name = "kDynamicPerToken"; break;
    case ActScale::kStaticPerTensor: name = "kStaticPerTensor"; break;
    case ActScale::kDynamicPerTensor: name = "kDynamicPerTensor"; break;
    case ActScale::kDynamicGroup128: name = "kDynamicGroup128"; break;
  }
  QJIT_CHECK_GEN("jit", name != nullptr, "act_quant: unknown mode {}", static_cast<int>(mode));
  return {"qjit::kernels::ActQuantMode", name};
}

}  // namespace

long long act_quant_row_align(long long k) {
  long long a = 1;
  while (a < 16 && k % (2 * a) == 0) a *= 2;
  return a;
}

ActQuantConfig act_quant_heuristic(const ActQuantDesc& desc) {
  ActQuantConfig c;
  switch (desc.mode) {
    case ActScale::kDynamicPerToken:
    case ActScale::kStaticPerTensor:
      // One block per row: small rows waste threads, long rows want more of them. These
      // kernels read element by element (kVec 1 keeps one spec per problem).
      c.threads = desc.k <= 512 ? 128 : desc.k <= 4096 ? 256 : 512;
      c.vec = 1;
      break;
    case ActScale::kDynamicPerTensor:
    case ActScale::kDynamicGroup128: {
      // Grid-strided element-wise passes (per-tensor) or a warp per group (group128): 16-byte
      // loads where the rows allow them; 8 warps per block hide latency at any K.
      c.threads = 256;
      const long long align = desc.row_align > 0 ? desc.row_align : act_quant_row_align(desc.k);
      const long long widest = 16 / in_bytes(desc.in_dtype);
      c.vec = static_cast<int>(align < widest ? align : widest);
      break;
    }
  }
  return c;
}

KernelSpec act_quant_spec(const ActQuantDesc& desc, const ActQuantConfig& config, Arch arch) {
  const DType in = desc.in_dtype;
  QJIT_CHECK_GEN("jit", is_high_precision(in), "act_quant: input dtype '{}' is not f32, f16 or bf16", dtype_name(in));
  QJIT_CHECK_GEN("jit", desc.out_qtype != QType::kNone, "act_quant: qtype none is not int8, fp8_e4m3 or fp8_e5m2");
  QJIT_CHECK_GEN("jit", config.threads % 32 == 0 && config.threads >= 32 && config.threads <= 1024,
                 "act_quant: threads {} must be a multiple of 32 in [32, 1024]", config.threads);
  QJIT_CHECK_GEN("jit", config.vec >= 1 && (config.vec & (config.vec - 1)) == 0 && config.vec * in_bytes(in) <= 16,
                 "act_quant: vec {} must be a power of two with at most 16 bytes of {} input", config.vec,
                 dtype_name(in));
  const long long align = desc.row_align > 0 ? desc.row_align : act_quant_row_align(desc.k);
  QJIT_CHECK_GEN("jit", align % config.vec == 0,
                 "act_quant: vec {} needs rows aligned to it, but they are aligned to {} elements (K={})",
                 config.vec, align, desc.k);
  QJIT_CHECK_GEN("jit", !desc.scales_k_major || desc.mode == ActScale::kDynamicGroup128,
                 "act_quant: K-major scales are group128's, not mode {}", static_cast<int>(desc.mode));
  KernelSpec spec("act_quant", arch);
  spec.set("kMode", mode_enum(desc.mode))
      .set("kIn", dtype_enum(in))
      .set("kOut", qtype_enum(desc.out_qtype))
      .set("kScalesKMajor", desc.scales_k_major)
      .set("kThreads", config.threads)
      .set("kVec", config.vec);
  return spec;
}

std::string act_quant_kernel(ActScale mode) {
  switch (mode) {
    case ActScale::kDynamicPerToken: return "qjit::kernels::act_quant_per_token";
    case ActScale::kStaticPerTensor: return "qjit::kernels::act_quant_static";
    case ActScale::kDynamicPerTensor: return "qjit::kernels::act_quant_tensor_apply";
    case ActScale::kDynamicGroup128: return "qjit::kernels::act_quant_group128";
  }
  QJIT_THROW("jit", "act_quant: unknown mode {}", static_cast<int>(mode));
}

std::string act_quant_tensor_amax_kernel() { return "qjit::kernels::act_quant_tensor_amax"; }

std::vector<std::string> act_quant_mode_kernels(ActScale mode) {
  if (mode == ActScale::kDynamicPerTensor) return {act_quant_tensor_amax_kernel(), act_quant_kernel(mode)};
  return {act_quant_kernel(mode)};
}

}  // namespace qjit::jit::impls
