#include "jit/family.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "common/error.hpp"
#include "jit/impls/act_quant.hpp"
#include "jit/impls/attention.hpp"
#include "jit/impls/elementwise.hpp"
#include "jit/impls/host_attention.hpp"
#include "jit/impls/host_gemm_bf16.hpp"
#include "jit/impls/host_gemm_f32.hpp"
#include "jit/impls/host_glue.hpp"
#include "jit/impls/host_qgemm.hpp"
#include "jit/impls/norm_mod.hpp"
#include "jit/impls/qgemm.hpp"
#include "jit/impls/qgemm_wo.hpp"
#include "jit/impls/rope.hpp"

namespace qjit::jit {

namespace {
const std::vector<Family>& families() {
  static const std::vector<Family> all = {impls::act_quant_family(), impls::qgemm_family(),
                                          impls::qgemm_wo_family(),
                                          impls::norm_mod_family(), impls::attention_family(),
                                          impls::rope_family(), impls::elementwise_family(),
                                          impls::host_act_quant_family(), impls::host_qgemm_family(),
                                          impls::host_gemm_bf16_family(), impls::host_attention_family(),
                                          impls::host_elementwise_family(), impls::host_norm_mod_family(),
                                          impls::host_rope_family(), impls::host_gemm_f32_family()};
  return all;
}
}  // namespace

const Family& find_family(const std::string& name) {
  for (const auto& f : families()) {
    if (f.name == name) return f;
  }
  QJIT_THROW("jit", "unknown kernel family '{}' (known: {})", name, fmt::join(family_names(), ", "));
}

const KernelEntry& Family::kernel(const std::string& kernel_name) const {
  std::vector<std::string> names;
  for (const auto& k : kernels) {
    if (k.name == kernel_name) return k;
    names.push_back(k.name);
  }
  QJIT_THROW("jit", "family '{}' has no kernel '{}' (its kernels: {})", name, kernel_name, fmt::join(names, ", "));
}

std::vector<std::string> family_names() {
  std::vector<std::string> names;
  for (const auto& f : families()) names.push_back(f.name);
  return names;
}

}  // namespace qjit::jit
