#pragma once
// Which config a tunable kernel family runs with: the tuning database's record for the
// problem on this device (written by `qjit autotune`), else the family's heuristic.
// QJIT_PRINT_AUTOTUNING=1 says each decision once per problem per process; QJIT_TUNING_DISABLE=1
// ignores the database. The lookups are what the ops call: the cpu GEMMs' on every call
// (memoized by the problem's integers, so a call builds no key), qgemm's and qgemm_wo's once
// per plan.

#include <cstdint>
#include <memory>
#include <string>

#include "jit/impls/host_gemm_bf16.hpp"
#include "jit/impls/host_gemm_f32.hpp"
#include "jit/impls/host_qgemm.hpp"
#include "jit/impls/qgemm.hpp"
#include "jit/impls/qgemm_wo.hpp"
#include "jit/tuning_db.hpp"
#include "runtime/driver.hpp"

namespace qjit {

/// The device, arch and toolchain a record on `driver` is keyed by: on cpu the CPU's model
/// name with the kernel pool's thread count, "host:<llvm cpu>" and Clang's version; on sim /
/// cuda the device's name, the target arch and NVRTC's identity. The toolchain also names a
/// digest of the kernel templates: another qjit's kernels are other kernels.
struct TuningTarget {
  std::string device, arch, toolchain;
};
TuningTarget tuning_target(const Driver& driver);

jit::TuningKey host_qgemm_tuning_key(const jit::impls::HostQGemmDesc& desc, std::int64_t m, std::int64_t n,
                                     std::int64_t k);
jit::TuningKey host_gemm_bf16_tuning_key(const jit::impls::HostGemmBf16Desc& desc, std::int64_t m, std::int64_t n,
                                         std::int64_t k);
jit::TuningKey host_gemm_f32_tuning_key(const jit::impls::HostGemmF32Desc& desc, std::int64_t m, std::int64_t n,
                                        std::int64_t k);
jit::TuningKey qgemm_tuning_key(const Driver& driver, const jit::impls::GemmDesc& desc);
jit::TuningKey qgemm_wo_tuning_key(const Driver& driver, const jit::impls::WeightOnlyDesc& desc);

/// The cpu int8 GEMM's config for (desc, m, n, k).
jit::impls::HostQGemmConfig host_qgemm_config(const jit::impls::HostQGemmDesc& desc, std::int64_t m, std::int64_t n,
                                              std::int64_t k);
/// The cpu float GEMM's config (fp8, block fp8 and bf16 weight-only rules) for (desc, m, n, k).
jit::impls::HostGemmBf16Config host_gemm_bf16_config(const jit::impls::HostGemmBf16Desc& desc, std::int64_t m,
                                                     std::int64_t n, std::int64_t k);
/// The cpu f16 / f32 GEMM's config (weight-only rules on f16 activations) for (desc, m, n, k).
jit::impls::HostGemmF32Config host_gemm_f32_config(const jit::impls::HostGemmF32Desc& desc, std::int64_t m,
                                                   std::int64_t n, std::int64_t k);
/// The W8A8 GEMM's config for desc on driver (sim / cuda): a record's config that no longer
/// passes the family's checks is ignored with the reason. A plan driver (kernel code none)
/// gets the heuristic's: it stands for no particular device.
jit::impls::GemmConfig qgemm_config(const Driver& driver, const jit::impls::GemmDesc& desc, jit::Arch arch);
/// The weight-only GEMM's config for desc on driver (sim / cuda), as qgemm_config.
jit::impls::WeightOnlyConfig qgemm_wo_config(const Driver& driver, const jit::impls::WeightOnlyDesc& desc,
                                             jit::Arch arch);

}  // namespace qjit
