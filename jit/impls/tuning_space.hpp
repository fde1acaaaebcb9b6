#pragma once
// The tunable families' search spaces, and their descriptions and configs as JSON (the
// tuning database's records and the autotuner's candidates): the GPU W8A8 GEMM (qgemm:
// tiles, warps, stages, fusion strategy), the GPU weight-only GEMM (qgemm_wo: tiles, warps,
// K step, stages) and the cpu device's GEMMs (host_qgemm_int8, host_gemm_bf16 and
// host_gemm_f32: register tile, blocking, K step, threads). Candidates come heuristic first,
// then its neighbours (one field changed at a time), then the rest of the grid, so a small
// --max-configs still searches around the heuristic. Lists may hold configs the family's checks refuse: the
// autotuner prunes them with the check's reason.

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "jit/arch.hpp"
#include "jit/impls/host_gemm_bf16.hpp"
#include "jit/impls/host_gemm_f32.hpp"
#include "jit/impls/host_qgemm.hpp"
#include "jit/impls/qgemm.hpp"
#include "jit/impls/qgemm_wo.hpp"

namespace qjit::jit::impls {

// --- qgemm (sim / cuda) ---
/// What a qgemm config is tuned for: the desc without its epilogue (bias, activation), which
/// changes no blocking choice. M enters as its bucket.
nlohmann::json qgemm_tuning_desc(const GemmDesc& desc);
nlohmann::json to_json(const GemmConfig& config);
/// Throws qjit::Error naming the field that is missing or not a valid value.
GemmConfig gemm_config_from_json(const nlohmann::json& j);
/// The shipped tiles at 2..5 stages and, for dynamic float activations, both fusion
/// strategies; qgemm_heuristic's config first.
std::vector<GemmConfig> qgemm_candidates(const GemmDesc& desc, Arch arch);

// --- qgemm_wo (sim / cuda: weight-only rules) ---
/// The desc without its epilogue, M as its bucket.
nlohmann::json qgemm_wo_tuning_desc(const WeightOnlyDesc& desc);
nlohmann::json to_json(const WeightOnlyConfig& config);
/// Throws qjit::Error naming the field that is missing or not a valid value.
WeightOnlyConfig weight_only_config_from_json(const nlohmann::json& j);
/// qgemm_wo_heuristic's config first, then its tile at the other depths and K steps, then 15
/// tiles (warp tiles of 16 to 128 rows by 32 columns; warps side by side along N, or two
/// stacked along M), each at its own depth, then each at 2-5 stages.
std::vector<WeightOnlyConfig> qgemm_wo_candidates(const WeightOnlyDesc& desc, Arch arch);

// --- host_qgemm_int8 (cpu) ---
/// The ISA, output dtype, M bucket (gemm_m_bucket), N and K.
nlohmann::json host_qgemm_tuning_desc(const HostQGemmDesc& desc, std::int64_t m, std::int64_t n, std::int64_t k);
nlohmann::json to_json(const HostQGemmConfig& config);
HostQGemmConfig host_qgemm_config_from_json(const nlohmann::json& j);
std::string host_qgemm_label(const HostQGemmConfig& config);  // "6x64 288x256 kc2048", "... 1t"
/// Register tiles, blocks and K steps for desc.isa (AMX tiles on kAmx), and the heuristic's
/// config on fewer of the device's `threads` (the fewest with as many waves of blocks, then
/// halving down to one); the heuristic's first.
std::vector<HostQGemmConfig> host_qgemm_candidates(const HostQGemmDesc& desc, std::int64_t m, std::int64_t n,
                                                   std::int64_t k, int threads);

// --- host_gemm_bf16 (cpu: the fp8, block fp8 and weight-only rules' GEMM) ---
/// The ISA, accumulation, output dtype, M bucket, N and K.
nlohmann::json host_gemm_bf16_tuning_desc(const HostGemmBf16Desc& desc, std::int64_t m, std::int64_t n,
                                          std::int64_t k);
nlohmann::json to_json(const HostGemmBf16Config& config);
HostGemmBf16Config host_gemm_bf16_config_from_json(const nlohmann::json& j);
std::string host_gemm_bf16_label(const HostGemmBf16Config& config);
/// As host_qgemm_candidates, around host_gemm_bf16_heuristic.
std::vector<HostGemmBf16Config> host_gemm_bf16_candidates(const HostGemmBf16Desc& desc, std::int64_t m,
                                                          std::int64_t n, std::int64_t k, int threads);

// --- host_gemm_f32 (cpu: the weight-only rules' GEMM on f16 activations) ---
/// The ISA it runs, operand and output dtypes, M bucket, N and K.
nlohmann::json host_gemm_f32_tuning_desc(const HostGemmF32Desc& desc, std::int64_t m, std::int64_t n, std::int64_t k);
nlohmann::json to_json(const HostGemmF32Config& config);
HostGemmF32Config host_gemm_f32_config_from_json(const nlohmann::json& j);
std::string host_gemm_f32_label(const HostGemmF32Config& config);
/// As host_qgemm_candidates, around host_gemm_f32_heuristic, on the ISA the kernel runs
/// (host_gemm_f32_isa: no AMX tiles).
std::vector<HostGemmF32Config> host_gemm_f32_candidates(const HostGemmF32Desc& desc, std::int64_t m, std::int64_t n,
                                                        std::int64_t k, int threads);

}  // namespace qjit::jit::impls
