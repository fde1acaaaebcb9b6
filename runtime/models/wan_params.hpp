#pragma once
// Every parameter of Wan2.1 T2V's WanModel (wan/modules/model.py), with Wan's native names
// and shapes, in the order PyTorch's state_dict() lists them. What a checkpoint must hold
// (wan_checkpoint.hpp), what synthetic weights fill (wan_synthetic.hpp), what the model binds.
//
// NOTE: state_dict order is a module's own parameters first, then its children in
// registration order. So each block starts with blocks.N.modulation (registered directly on
// WanAttentionBlock) before self_attn, norm3, cross_attn and ffn, and the head starts with
// head.modulation before head.head. norm1/norm2 of a block and head.norm are LayerNorms
// without affine parameters and hold nothing.

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/models/wan_config.hpp"

namespace qjit {

struct ParamShape {
  std::string name;                  // native dotted name: "blocks.3.self_attn.q.weight"
  std::vector<std::int64_t> shape;   // PyTorch's shape: Linear weight [out, in]
};

/// Every parameter of the model `config` describes (validated first), native names, in
/// state_dict order:
///   patch_embedding.weight [dim, in_dim, 1, 2, 2], .bias [dim]        (Conv3d, stride = patch)
///   text_embedding.{0,2}   Linear text_dim -> dim, dim -> dim          (GELU-tanh between)
///   time_embedding.{0,2}   Linear freq_dim -> dim, dim -> dim          (SiLU between)
///   time_projection.1      Linear dim -> 6 * dim                       (after a SiLU)
///   per block N: modulation [1, 6, dim];
///     self_attn.{q,k,v,o} Linear dim -> dim; self_attn.norm_{q,k}.weight [dim] (RMSNorm
///     across heads); norm3.{weight,bias} [dim] (the affine LayerNorm before cross-attention);
///     cross_attn.* as self_attn; ffn.0 Linear dim -> ffn_dim, ffn.2 ffn_dim -> dim
///   head.modulation [1, 2, dim]; head.head Linear dim -> out_dim * 4
/// Linear weights are [out, in] with a bias [out].
std::vector<ParamShape> wan_parameters(const WanConfig& config);

/// The total number of elements of wan_parameters(config): 1,418,996,800 for Wan2.1-T2V-1.3B
/// (825 tensors) and 14,288,491,584 for 14B (1095 tensors).
std::int64_t wan_parameter_count(const WanConfig& config);

/// numel of one shape (1 for a scalar).
std::int64_t shape_numel(const std::vector<std::int64_t>& shape);

}  // namespace qjit
