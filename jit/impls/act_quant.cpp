#include "jit/impls/act_quant.hpp"

#include "common/error.hpp"
#include "jit/impls/dtype_enum.hpp"

namespace qjit::jit::impls {

Family act_quant_family() {
  return {"act_quant",
          "impls/act_quant.cuh",
          {"qjit::kernels::act_quant_per_token", "qjit::kernels::act_quant_static"},
          {"kIn", "kOut", "kThreads"}};
}

ActQuantConfig act_quant_heuristic(const ActQuantDesc& desc) {
  ActQuantConfig c;
  // One block per row: small rows waste threads, long rows want more of them.
  c.threads = desc.k <= 512 ? 128 : desc.k <= 4096 ? 256 : 512;
  return c;
}

KernelSpec act_quant_spec(const ActQuantDesc& desc, const ActQuantConfig& config, Arch arch) {
  const std::string in = desc.in_dtype;
  QJIT_CHECK_GEN("jit", in == "f32" || in == "f16" || in == "bf16",
                 "act_quant: input dtype '{}' is not f32, f16 or bf16", in);
  const std::string out = desc.out_qtype;
  QJIT_CHECK_GEN("jit", out == "int8" || out == "fp8_e4m3" || out == "fp8_e5m2",
                 "act_quant: qtype '{}' is not int8, fp8_e4m3 or fp8_e5m2", out);
  QJIT_CHECK_GEN("jit", config.threads % 32 == 0 && config.threads >= 32 && config.threads <= 1024,
                 "act_quant: threads {} must be a multiple of 32 in [32, 1024]", config.threads);
  KernelSpec spec("act_quant", arch);
  spec.set("kIn", dtype_enum(in)).set("kOut", dtype_enum(out)).set("kThreads", config.threads);
  return spec;
}

std::string act_quant_kernel(ActQuantMode mode) {
  return mode == ActQuantMode::kDynamicPerToken ? "qjit::kernels::act_quant_per_token"
                                                : "qjit::kernels::act_quant_static";
}

}  // namespace qjit::jit::impls
