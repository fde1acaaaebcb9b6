#pragma once
// The Wan2.1 text-to-video DiT (wan/modules/model.py's WanModel) as a module tree with Wan's
// native names, its forward built from the runtime's ops on any device:
//
//   patch_embedding      Conv3d (1, 2, 2) as a GEMM over patches (high precision, no rule)
//   text_embedding.0/.2  Linear, GELU-tanh (fused in .0's epilogue), Linear
//   time_embedding.0/.2  Linear, SiLU, Linear on the sinusoidal timestep embedding
//   time_projection.1    SiLU, Linear -> the 6 modulation vectors of every block
//   blocks.N             norm1 + modulation -> self_attn (q, k, v; RMSNorm q / k; 3-D RoPE;
//                        attention; o) -> gated residual; norm3 (affine LayerNorm) ->
//                        cross_attn (q on x; k, v on the text) -> residual; norm2 +
//                        modulation -> ffn.0 (GELU-tanh fused) -> ffn.2 -> gated residual
//   head.head            LayerNorm + the head's modulation -> Linear, then unpatchify
//
// Every linear is a LinearLayer slot, so Rule::apply puts QuantLinear in place of any of them,
// and rules and DAX configs may name layers natively or as diffusers does (path_aliases).
// Precision follows Wan's autocast: the linears compute in bf16 (f32 checkpoints are rounded
// to bf16 once; f16 / bf16 ones are kept), the residual stream, the time embedding, the
// modulation and the head in f32, every block linear's input rounded to bf16. The prompt is
// zero-padded to text_len, as Wan pads it. Where a layer asks for its
// input quantized (LinearLayer::input_quantization: per-token dynamic or static W8A8), the
// norm + modulation kernel emits the codes and scales itself (one pass for q, k and v when
// their forms agree), on sim and cuda; the cpu hands float rows (there the layer's own
// quantization is the reference, with the same bits).

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/device.hpp"
#include "runtime/driver.hpp"
#include "runtime/linear.hpp"
#include "runtime/models/wan_config.hpp"
#include "runtime/module.hpp"
#include "runtime/ops/norm_mod.hpp"
#include "runtime/ops/rope.hpp"
#include "runtime/tensor.hpp"

namespace qjit {

/// A PyTorch Sequential of linears whose parameter-free members (GELU, SiLU) its parent
/// applies: children named by their Sequential index ("0", "2").
class WanSequential final : public Module {
 public:
  std::string type_name() const override { return "Sequential"; }
  void add_linear(const std::string& index, std::shared_ptr<LinearLayer> layer);
  LinearLayer& operator[](const std::string& index) const;

 private:
  std::vector<std::pair<std::string, Slot<LinearLayer>>> slots_;
};

/// Wan's WanSelfAttention / WanT2VCrossAttention: q, k, v, o and the RMSNorms of q and k
/// across all heads.
class WanAttention final : public Module {
 public:
  WanAttention(const std::map<std::string, Tensor>& weights, const std::string& prefix, std::int64_t heads,
               float eps, const Device& device, const std::shared_ptr<Driver>& driver);
  std::string type_name() const override { return "WanAttention"; }
  LinearLayer& q() const { return *q_; }
  LinearLayer& k() const { return *k_; }
  LinearLayer& v() const { return *v_; }
  LinearLayer& o() const { return *o_; }

  /// Self-attention on x [B, S, D], given the norm + modulation that produces its input:
  /// out [B, S, D] (o's output dtype).
  Tensor self_forward(const Tensor& x, const NormModArgs& input_norm, const RopeGrid& grid) const;
  /// Cross-attention: q from x [B, S, D] through `input_norm`, k and v from context [B, L, D].
  Tensor cross_forward(const Tensor& x, const NormModArgs& input_norm, const Tensor& context) const;

 private:
  Tensor attend(const Tensor& q, const Tensor& k, const Tensor& v, std::int64_t batch,
                const RopeGrid* grid) const;
  Slot<LinearLayer> q_, k_, v_, o_;
  Tensor norm_q_, norm_k_;  // f32 [D] on the model's device
  Tensor zeros_;            // f32 [D]: the RMSNorms' shift and scale (no modulation)
  std::int64_t heads_ = 1;
  float eps_ = 1e-6f;
  // The glue kernels this module resolved (runtime/kernels.hpp): one memo per op, so a
  // forward that ran before builds no spec.
  mutable KernelMemo norm_plans_, rope_plans_, attention_plans_;
};

/// One transformer block (Wan's WanAttentionBlock).
class WanBlock final : public Module {
 public:
  WanBlock(const std::map<std::string, Tensor>& weights, const std::string& prefix, const WanConfig& config,
           const Device& device, const std::shared_ptr<Driver>& driver);
  std::string type_name() const override { return "WanAttentionBlock"; }
  /// x [B, S, D] f32 -> [B, S, D] f32; e0 [B, 6, D] f32 (time_projection's output); context
  /// [B, L, D] (text_embedding's output).
  Tensor forward(const Tensor& x, const Tensor& e0, const Tensor& context, const RopeGrid& grid) const;
  WanAttention& self_attn() const { return *self_attn_; }
  WanAttention& cross_attn() const { return *cross_attn_; }
  WanSequential& ffn() const { return *ffn_; }

 private:
  Slot<WanAttention> self_attn_, cross_attn_;
  Slot<WanSequential> ffn_;
  Tensor modulation_;           // f32 [6, D]
  Tensor norm3_w_, norm3_b_;    // f32 [D]
  Tensor zeros_;                // f32 [D]
  float eps_ = 1e-6f;
  mutable KernelMemo norm_plans_, elementwise_plans_;  // as WanAttention's
};

/// Wan's Head: LayerNorm + modulation by the time embedding, then head.head.
class WanHead final : public Module {
 public:
  WanHead(const std::map<std::string, Tensor>& weights, const WanConfig& config, const Device& device,
          const std::shared_ptr<Driver>& driver);
  std::string type_name() const override { return "Head"; }
  /// x [B, S, D] f32, e [B, D] (time_embedding's output) -> [B, S, out_dim * 4].
  Tensor forward(const Tensor& x, const Tensor& e) const;
  LinearLayer& head() const { return *head_; }

 private:
  Slot<LinearLayer> head_;
  Tensor modulation_;  // f32 [2, D]
  float eps_ = 1e-6f;
  mutable KernelMemo norm_plans_, elementwise_plans_;  // as WanAttention's
};

class WanModel final : public Module {
 public:
  /// The model with `weights` by native name (load_wan_weights or wan_synthetic_weights:
  /// every parameter of wan_parameters(config), f32 / f16 / bf16) placed on `device` (through
  /// `driver`, or the device's default driver when null). Linears keep their weights' dtype;
  /// norms and modulation become f32. Throws qjit::Error naming a missing or misshapen
  /// parameter before building anything.
  WanModel(const WanConfig& config, const std::map<std::string, Tensor>& weights, const Device& device = Device::cpu(),
           std::shared_ptr<Driver> driver = nullptr);

  std::string type_name() const override { return "WanModel"; }
  /// Diffusers' name of the module at `path` (wan_names.hpp), when it has one.
  std::vector<std::string> path_aliases(std::string_view path) const override;

  /// The velocity [B, out_dim, F, H, W] f32 (on the cpu) for latents [B, in_dim, F, H, W] (H, W
  /// even; the patch is (1, 2, 2)), timesteps [B] and the prompt embeddings context [B, L,
  /// text_dim] with 1 <= L <= text_len (f32, f16 or bf16, on the cpu or the model's device).
  /// Throws qjit::Error naming a bad input before any work.
  Tensor forward(const Tensor& latents, const Tensor& timesteps, const Tensor& context);

  const WanConfig& config() const { return config_; }
  const Device& device() const { return device_; }
  const std::shared_ptr<Driver>& driver() const { return driver_; }
  std::size_t num_blocks() const { return blocks_->size(); }
  WanBlock& block(std::size_t i) const { return (*blocks_)[i]; }

 private:
  Tensor on_device(const Tensor& t) const;
  WanConfig config_;
  Device device_;
  std::shared_ptr<Driver> driver_;
  Tensor patch_w_, patch_b_;  // [D, in_dim * 4] and [D], the Conv3d as a GEMM over patches
  PlanMemo<GemmPlan> patch_plans_;  // as WanAttention's
  KernelMemo elementwise_plans_;
  Slot<WanSequential> text_embedding_, time_embedding_, time_projection_;
  Slot<ModuleList<WanBlock>> blocks_;
  Slot<WanHead> head_;
};

/// Latents [B, C, F, 2h, 2w] as the patch embedding's rows [B * f * h * w, C * 4] (token
/// (f, h, w) in that order; columns in the Conv3d weight's (c, kt, kh, kw) order), on the cpu.
Tensor patchify(const Tensor& latents);
/// The head's tokens [B, f * h * w, 4 * C] (columns (kt, kh, kw, c)) back to [B, C, F, 2h, 2w]
/// as Wan's unpatchify does, on the cpu.
Tensor unpatchify(const Tensor& tokens, std::int64_t channels, const RopeGrid& grid);

/// Wan's sinusoidal_embedding_1d: [cos(t * 10000^(-i / half)), sin(...)] for i < half = dim /
/// 2, computed in float64 and rounded to f32, [B, dim] on the cpu.
Tensor wan_timestep_embedding(const Tensor& timesteps, std::int64_t dim);

}  // namespace qjit
