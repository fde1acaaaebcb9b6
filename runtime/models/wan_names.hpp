#pragma once
// Wan2.1's two spellings of the same model: the native names of wan/modules/model.py
// (WanModel, what qjit uses everywhere) and the names of diffusers' WanTransformer3DModel
// (what "*-Diffusers" checkpoints hold), both ways, for parameters and modules.
//
//   native                                  diffusers
//   patch_embedding                         patch_embedding
//   text_embedding                          condition_embedder.text_embedder
//   text_embedding.0 / .2                   condition_embedder.text_embedder.linear_1 / linear_2
//   time_embedding                          condition_embedder.time_embedder
//   time_embedding.0 / .2                   condition_embedder.time_embedder.linear_1 / linear_2
//   time_projection.1                       condition_embedder.time_proj
//   blocks, blocks.N                        blocks, blocks.N
//   blocks.N.modulation                     blocks.N.scale_shift_table        (parameter)
//   blocks.N.norm1                          blocks.N.norm1                    (no parameters)
//   blocks.N.self_attn / cross_attn         blocks.N.attn1 / attn2
//     .q .k .v .o                             .to_q .to_k .to_v .to_out.0
//     .norm_q .norm_k                         .norm_q .norm_k
//   blocks.N.norm3 (affine, before cross)   blocks.N.norm2
//   blocks.N.norm2 (before the ffn)         blocks.N.norm3                    (no parameters)
//   blocks.N.ffn                            blocks.N.ffn
//   blocks.N.ffn.0 / ffn.2                  blocks.N.ffn.net.0.proj / ffn.net.2
//   head.norm                               norm_out                          (no parameters)
//   head.head                               proj_out
//   head.modulation                         scale_shift_table                 (parameter)
//   "" (the model)                          ""
//
// A parameter path is a module path of the table plus ".weight" / ".bias" where that module
// has them (Linear, Conv3d, the affine LayerNorm: both; RMSNorm: weight), or one of the two
// modulation parameters. Modules with no 1:1 counterpart map to nothing: native
// time_projection (SiLU + Linear; diffusers keeps the SiLU on condition_embedder), head
// (diffusers spreads it over norm_out, proj_out and scale_shift_table), activations and
// dropouts, and diffusers' condition_embedder (native time_embedding, time_projection and
// text_embedding together), attn1.to_out (a ModuleList of Linear and Dropout) and ffn.net.
// (Checked against diffusers' transformer_wan.py and scripts/convert_wan_to_diffusers.py.)
//
// NOTE: recent diffusers builds norm_out as an AdaLayerNorm and turns the stored top-level
// scale_shift_table into norm_out.linear.{weight,bias} when loading; checkpoints on disk
// hold scale_shift_table, which is what this mapping names.

#include <optional>
#include <string>
#include <string_view>

namespace qjit {

enum class WanNaming {
  kNative,     // wan/modules/model.py: blocks.0.self_attn.q.weight
  kDiffusers,  // diffusers WanTransformer3DModel: blocks.0.attn1.to_q.weight
};

/// "native" | "diffusers".
std::string_view wan_naming_name(WanNaming naming);

/// The diffusers name of a native parameter or module path, or nullopt when the path is no
/// Wan path or has no 1:1 counterpart (see the table above). Block indices are any
/// non-negative decimal without leading zeros; they are not checked against a config.
std::optional<std::string> wan_diffusers_name(std::string_view native_path);

/// The native name of a diffusers parameter or module path, or nullopt (as above).
std::optional<std::string> wan_native_name(std::string_view diffusers_path);

/// `path` spelled in `from` renamed to `to` (the path itself when from == to and it is a
/// mapped path), or nullopt.
std::optional<std::string> wan_rename(std::string_view path, WanNaming from, WanNaming to);

/// Whether `path` names a parameter (not a module) in `naming`: a mapped module path plus a
/// leaf the module has, or a modulation parameter.
bool wan_is_parameter_path(std::string_view path, WanNaming naming);

}  // namespace qjit
