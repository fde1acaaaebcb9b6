#pragma once
// SYNTHETIC Wan2.1 weights and inputs: seeded random numbers with the shapes, scales and
// outlier structure of a trained Wan DiT, for tests, benchmarks and `qjit run`. They are
// NOT trained weights: the model they make denoises nothing; they exercise every code path
// with realistic magnitudes.
//
// Determinism: every value is a pure function of (seed, tensor name, element index) through
// splitmix64 used as a counter-based generator, and normals come from Box-Muller with log,
// sin and cos written out here in plain IEEE double arithmetic (+ - * / sqrt, no libm, no
// contraction: the build uses -ffp-contract=off), each value rounded once to f32 and then
// (RNE) to the target dtype. So the bytes are the same on every IEEE-754 platform and
// compiler, independent of thread count and of the order tensors are made in.
// (std::normal_distribution is implementation-defined, hence not used.)
//
// Scales, after Wan's init_weights (wan/modules/model.py), with two departures so no path
// is trivially zero: biases are U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (PyTorch's Linear
// default; Wan zeroes them) and head.head is Xavier like the other linears (Wan zeroes it).
//   Linear weights                    Xavier uniform U(-a, a), a = sqrt(6 / (fan_in + fan_out))
//   patch_embedding.weight            Xavier uniform over weight.flatten(1): fan_in = in_dim * 4
//   text_embedding / time_embedding   N(0, 0.02^2) weights (as Wan)
//   modulation, head.modulation       N(0, 1) / sqrt(dim) (as Wan)
//   norm_q, norm_k, norm3 weights     1 + N(0, 0.05^2)  ("~1", as trained RMS/LayerNorm gains)
//   norm3.bias                        N(0, 0.02^2)
//
// Outlier channels: real DiTs have a few hidden channels carrying activations 10-100x the
// rest, which is what makes per-tensor activation quantization hard. Here a seeded set of
// max(1, dim / 256) channels (wan_synthetic_outlier_channels) gets, in every block's
// modulation, a scale entry in [9, 19] in chunks 1 and 4 (the `scale` of
// norm1(x) * (1 + scale) + shift before self-attention, and of norm2 before the ffn), so
// those channels of the inputs of self_attn.{q,k,v} and ffn.0 are 10-20x the others. The
// time embedding adds only ~0.1 to the modulation at these scales, so the factor holds for
// every timestep.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/dtype.hpp"
#include "runtime/models/wan_config.hpp"
#include "runtime/tensor.hpp"

namespace qjit {

/// Every parameter of wan_parameters(config), native names -> contiguous cpu tensors of
/// `dtype` (f32, f16 or bf16), as described above. Deterministic in (config, seed, dtype).
/// Large tensors are filled by several threads (same bytes for any count).
std::map<std::string, Tensor> wan_synthetic_weights(const WanConfig& config, std::uint64_t seed,
                                                    DType dtype = DType::kBF16);

/// The hidden channels wan_synthetic_weights(config, seed) makes outliers: max(1, dim / 256)
/// distinct channels in [0, dim), ascending.
std::vector<std::int64_t> wan_synthetic_outlier_channels(const WanConfig& config, std::uint64_t seed);

/// The channel scale range of the outliers: chunks 1 and 4 of each block's modulation hold
/// U(kOutlierScaleMin, kOutlierScaleMax) there, so 1 + scale is in [10, 20].
inline constexpr float kOutlierScaleMin = 9.0f;
inline constexpr float kOutlierScaleMax = 19.0f;

/// Synthetic inputs of one forward pass of Wan's DiT, all contiguous f32 on the cpu.
struct WanInputs {
  Tensor latents;    // [B, in_dim, F, H, W] f32, N(0, 1): the noised video latent
  Tensor timesteps;  // [B] f32 in [0, 1000): the diffusion timestep of each sample
  Tensor context;    // [B, text_tokens, text_dim] f32, N(0, 1) with outlier channels x20:
                     // umT5 prompt embeddings before Wan pads them to text_len
};

/// Context channels scaled 20x in wan_synthetic_inputs: max(1, text_dim / 256) distinct
/// channels in [0, text_dim), ascending (umT5 outputs have a few such channels too).
std::vector<std::int64_t> wan_synthetic_context_outlier_channels(const WanConfig& config, std::uint64_t seed);
inline constexpr float kContextOutlierFactor = 20.0f;

/// Every check wan_synthetic_inputs makes of its arguments, without generating anything.
void check_wan_synthetic_inputs(const WanConfig& config, std::int64_t batch, std::int64_t frames,
                                std::int64_t height, std::int64_t width, std::int64_t text_tokens);

/// Seeded inputs for `batch` samples of `frames` x `height` x `width` latent pixels (height
/// and width even: the patch is 2x2) and `text_tokens` prompt tokens (1..text_len).
/// Throws qjit::Error (subsystem "model") naming a bad argument.
WanInputs wan_synthetic_inputs(const WanConfig& config, std::int64_t batch, std::int64_t frames, std::int64_t height,
                               std::int64_t width, std::int64_t text_tokens, std::uint64_t seed);

/// The generator, exposed for tests and for other synthetic data: the 64-bit value number
/// `counter` of the stream `stream` (splitmix64's output for state stream + (counter + 1) *
/// golden gamma), and the stream of a name under a seed (FNV-1a 64 of the name, mixed with
/// the seed).
std::uint64_t synthetic_bits(std::uint64_t stream, std::uint64_t counter);
std::uint64_t synthetic_stream(std::uint64_t seed, std::string_view name);
/// Standard normal number `index` of a stream (Box-Muller pair index / 2, cos for even
/// indices, sin for odd), as a double: deterministic as described above.
double synthetic_normal(std::uint64_t stream, std::uint64_t index);
/// Uniform in [0, 1) with 53 random bits, number `index` of a stream.
double synthetic_uniform(std::uint64_t stream, std::uint64_t index);

}  // namespace qjit
