#include "runtime/models/wan_model.hpp"

#include <fmt/format.h>

#include <cmath>
#include <utility>

#include "common/error.hpp"
#include "runtime/kernel_operands.hpp"
#include "runtime/models/wan_names.hpp"
#include "runtime/models/wan_params.hpp"
#include "runtime/ops/attention.hpp"
#include "runtime/ops/elementwise.hpp"
#include "runtime/ops/gemm.hpp"

namespace qjit {

namespace {

constexpr const char* kSub = "wan";
constexpr DType kActivation = DType::kBF16;  // every linear's input, as under Wan's bf16 autocast

const Tensor& param(const std::map<std::string, Tensor>& weights, const std::string& name) {
  const auto it = weights.find(name);
  QJIT_CHECK_GEN(kSub, it != weights.end() && it->second.defined(), "the weights have no parameter '{}'", name);
  return it->second;
}

// t on the model's device and driver, contiguous.
Tensor placed(const Tensor& t, const Device& device, const std::shared_ptr<Driver>& driver) {
  return on_driver(t, device, driver).contiguous();
}

// A linear's weights in the dtype it computes in: bf16 for f32 checkpoints (Wan runs its
// linears under bf16 autocast, and the device GEMMs take 16-bit operands), else as stored.
Tensor compute_weight(const Tensor& t) { return t.dtype() == DType::kF32 ? t.to(Device::cpu()).to_dtype(DType::kBF16) : t; }

// An f32 copy of a parameter (norms, modulation) on the model's device.
Tensor f32_param(const std::map<std::string, Tensor>& weights, const std::string& name,
                 std::vector<std::int64_t> shape, const Device& device, const std::shared_ptr<Driver>& driver) {
  const Tensor& t = param(weights, name);
  const Tensor host = t.to(Device::cpu());
  const Tensor f = host.dtype() == DType::kF32 ? host : host.to_dtype(DType::kF32);
  return placed(f.reshape(std::move(shape)), device, driver);
}

std::shared_ptr<Linear> linear(const std::map<std::string, Tensor>& weights, const std::string& name, bool gelu,
                               const Device& device, const std::shared_ptr<Driver>& driver) {
  return std::make_shared<Linear>(placed(compute_weight(param(weights, name + ".weight")), device, driver),
                                  placed(param(weights, name + ".bias"), device, driver), gelu);
}

Tensor zeros_on(std::int64_t d, const Device& device, const std::shared_ptr<Driver>& driver) {
  return placed(Tensor::zeros({d}, DType::kF32), device, driver);
}

// Row i of an f32 [B, n, D] tensor as a contiguous [B, D] (one modulation vector per sample).
Tensor chunk(const Tensor& e, std::int64_t i) { return e.select(1, i).contiguous(); }

// A linear on rows [B * S, K] (or a produced input), back to [B, S, N].
Tensor batched(const Tensor& rows, std::int64_t batch) { return rows.reshape({batch, rows.size(0) / batch, rows.size(1)}); }

// The norm + modulation output for several consumers, produced once per distinct form the
// consumers ask for (q, k and v under one rule share one quantized output).
std::vector<LinearInput> inputs_for(const Tensor& x, const NormModArgs& args, const std::vector<LinearLayer*>& layers) {
  // NOTE: args carries the calling module's memo: every form here resolves once.
  std::vector<std::optional<InputQuantization>> forms;
  std::vector<LinearInput> made, out;
  for (LinearLayer* layer : layers) {
    const std::optional<InputQuantization> want = layer->input_quantization();
    std::size_t i = 0;
    for (; i < forms.size(); ++i) {
      if (forms[i].has_value() == want.has_value() && (!want || forms[i]->same_as(*want))) break;
    }
    if (i == forms.size()) {
      forms.push_back(want);
      made.push_back(norm_modulate_for(x, args, kActivation, want));
    }
    out.push_back(made[i]);
  }
  return out;
}

}  // namespace

void WanSequential::add_linear(const std::string& index, std::shared_ptr<LinearLayer> layer) {
  slots_.emplace_back(index, add<LinearLayer>(index, std::move(layer)));
}

LinearLayer& WanSequential::operator[](const std::string& index) const {
  for (const auto& [name, slot] : slots_) {
    if (name == index) return *slot;
  }
  QJIT_THROW(kSub, "the Sequential has no layer '{}'", index);
}

WanAttention::WanAttention(const std::map<std::string, Tensor>& w, const std::string& prefix, std::int64_t heads,
                           float eps, const Device& device, const std::shared_ptr<Driver>& driver)
    : heads_(heads), eps_(eps) {
  q_ = add<LinearLayer>("q", linear(w, prefix + ".q", false, device, driver));
  k_ = add<LinearLayer>("k", linear(w, prefix + ".k", false, device, driver));
  v_ = add<LinearLayer>("v", linear(w, prefix + ".v", false, device, driver));
  o_ = add<LinearLayer>("o", linear(w, prefix + ".o", false, device, driver));
  const std::int64_t d = q_->out_features();
  norm_q_ = f32_param(w, prefix + ".norm_q.weight", {d}, device, driver);
  norm_k_ = f32_param(w, prefix + ".norm_k.weight", {d}, device, driver);
  zeros_ = zeros_on(d, device, driver);
}

Tensor WanAttention::attend(const Tensor& q, const Tensor& k, const Tensor& v, std::int64_t batch,
                            const RopeGrid* grid) const {
  // Wan: q = norm_q(q(x)), k = norm_k(k(x)) (RMSNorm across heads, back to the activations'
  // dtype), 3-D RoPE on both for self-attention, then attention over every head.
  NormModArgs rms{NormKind::kRmsNorm, eps_, norm_q_, zeros_, zeros_, &norm_plans_};
  Tensor qn = batched(norm_modulate(q, rms, kActivation), batch);
  rms.weight = norm_k_;
  Tensor kn = batched(norm_modulate(k, rms, kActivation), batch);
  if (grid != nullptr) {
    qn = rope_3d(qn, heads_, *grid, std::nullopt, 10000.0, &rope_plans_);
    kn = rope_3d(kn, heads_, *grid, std::nullopt, 10000.0, &rope_plans_);
  }
  const Tensor attn = attention(qn, kn, batched(v, batch), heads_, {.memo = &attention_plans_});
  return batched(o_->forward(attn.reshape({attn.size(0) * attn.size(1), attn.size(2)})), batch);
}

Tensor WanAttention::self_forward(const Tensor& x, const NormModArgs& input_norm, const RopeGrid& grid) const {
  NormModArgs norm = input_norm;
  norm.memo = &norm_plans_;
  const std::vector<LinearInput> in = inputs_for(x, norm, {q_.get(), k_.get(), v_.get()});
  return attend(q_->forward_input(in[0]), k_->forward_input(in[1]), v_->forward_input(in[2]), x.size(0), &grid);
}

Tensor WanAttention::cross_forward(const Tensor& x, const NormModArgs& input_norm, const Tensor& context) const {
  NormModArgs norm = input_norm;
  norm.memo = &norm_plans_;
  const Tensor q = q_->forward_input(norm_modulate_for(x, norm, kActivation, q_->input_quantization()));
  const Tensor ctx = context.reshape({context.size(0) * context.size(1), context.size(2)});
  return attend(q, k_->forward(ctx), v_->forward(ctx), x.size(0), nullptr);
}

WanBlock::WanBlock(const std::map<std::string, Tensor>& w, const std::string& prefix, const WanConfig& c,
                   const Device& device, const std::shared_ptr<Driver>& driver)
    : eps_(static_cast<float>(c.eps)) {
  self_attn_ = add<WanAttention>(
      "self_attn", std::make_shared<WanAttention>(w, prefix + ".self_attn", c.heads, eps_, device, driver));
  cross_attn_ = add<WanAttention>(
      "cross_attn", std::make_shared<WanAttention>(w, prefix + ".cross_attn", c.heads, eps_, device, driver));
  auto ffn = std::make_shared<WanSequential>();
  ffn->add_linear("0", linear(w, prefix + ".ffn.0", true, device, driver));
  ffn->add_linear("2", linear(w, prefix + ".ffn.2", false, device, driver));
  ffn_ = add<WanSequential>("ffn", std::move(ffn));
  modulation_ = f32_param(w, prefix + ".modulation", {6, c.dim}, device, driver);
  norm3_w_ = f32_param(w, prefix + ".norm3.weight", {c.dim}, device, driver);
  norm3_b_ = f32_param(w, prefix + ".norm3.bias", {c.dim}, device, driver);
  zeros_ = zeros_on(c.dim, device, driver);
}

Tensor WanBlock::forward(const Tensor& x0, const Tensor& e0, const Tensor& context, const RopeGrid& grid) const {
  // e = (modulation + e0).chunk(6): shift / scale / gate of the attention, then of the ffn.
  KernelMemo* const ew = &elementwise_plans_;
  const Tensor e = qjit::add(e0, modulation_, DType::kF32, ew);
  const NormModArgs norm1{NormKind::kLayerNorm, eps_, std::nullopt, chunk(e, 0), chunk(e, 1)};
  Tensor x = gated_residual(x0, self_attn_->self_forward(x0, norm1, grid), chunk(e, 2), DType::kF32, ew);
  const NormModArgs norm3{NormKind::kLayerNorm, eps_, norm3_w_, norm3_b_, zeros_};
  x = qjit::add(x, cross_attn_->cross_forward(x, norm3, context), DType::kF32, ew);
  const NormModArgs norm2{NormKind::kLayerNorm, eps_, std::nullopt, chunk(e, 3), chunk(e, 4), &norm_plans_};
  LinearLayer& fc1 = (*ffn_)["0"];
  const Tensor h = fc1.forward_input(norm_modulate_for(x, norm2, kActivation, fc1.input_quantization()));
  return gated_residual(x, batched((*ffn_)["2"].forward(h), x.size(0)), chunk(e, 5), DType::kF32, ew);
}

WanHead::WanHead(const std::map<std::string, Tensor>& w, const WanConfig& c, const Device& device,
                 const std::shared_ptr<Driver>& driver)
    : eps_(static_cast<float>(c.eps)) {
  head_ = add<LinearLayer>("head", linear(w, "head.head", false, device, driver));
  modulation_ = f32_param(w, "head.modulation", {2, c.dim}, device, driver);
}

Tensor WanHead::forward(const Tensor& x, const Tensor& e) const {
  // e = (modulation + e.unsqueeze(1)).chunk(2): shift, then scale.
  const Tensor shift = qjit::add(e, modulation_.select(0, 0), DType::kF32, &elementwise_plans_);
  const Tensor scale = qjit::add(e, modulation_.select(0, 1), DType::kF32, &elementwise_plans_);
  const NormModArgs norm{NormKind::kLayerNorm, eps_, std::nullopt, shift, scale, &norm_plans_};
  // NOTE: f32, as Wan runs the head under autocast(float32): an unquantized head.head rounds
  // its input to its weights' dtype for the GEMM and answers in f32.
  return batched(head_->forward_input(norm_modulate_for(x, norm, DType::kF32, head_->input_quantization())),
                 x.size(0));
}

WanModel::WanModel(const WanConfig& config, const std::map<std::string, Tensor>& weights, const Device& device,
                   std::shared_ptr<Driver> driver)
    : config_(config), device_(device), driver_(std::move(driver)) {
  // Every parameter, by name and shape, before anything is built.
  for (const ParamShape& p : wan_parameters(config_)) {
    const Tensor& t = param(weights, p.name);
    QJIT_CHECK_GEN(kSub, t.shape() == p.shape && is_float(t.dtype()),
                   "parameter '{}' must be a float tensor of shape [{}] for {}, got {}", p.name,
                   fmt::join(p.shape, ", "), config_.name, t.describe());
  }
  QJIT_CHECK_GEN(kSub, config_.dim % config_.heads == 0 && (config_.dim / config_.heads) % 2 == 0,
                 "dim {} must split into {} heads of an even width", config_.dim, config_.heads);
  if (!device_.is_host() && driver_ == nullptr) driver_ = driver_for(device_);
  const std::int64_t d = config_.dim;
  const Tensor pw = compute_weight(param(weights, "patch_embedding.weight"));
  patch_w_ = placed(pw.reshape({d, pw.numel() / d}), device_, driver_);
  patch_b_ = placed(param(weights, "patch_embedding.bias"), device_, driver_);
  auto text = std::make_shared<WanSequential>();
  text->add_linear("0", linear(weights, "text_embedding.0", true, device_, driver_));
  text->add_linear("2", linear(weights, "text_embedding.2", false, device_, driver_));
  text_embedding_ = add<WanSequential>("text_embedding", std::move(text));
  auto time = std::make_shared<WanSequential>();
  time->add_linear("0", linear(weights, "time_embedding.0", false, device_, driver_));
  time->add_linear("2", linear(weights, "time_embedding.2", false, device_, driver_));
  time_embedding_ = add<WanSequential>("time_embedding", std::move(time));
  auto projection = std::make_shared<WanSequential>();
  projection->add_linear("1", linear(weights, "time_projection.1", false, device_, driver_));
  time_projection_ = add<WanSequential>("time_projection", std::move(projection));
  auto blocks = std::make_shared<ModuleList<WanBlock>>();
  for (std::int64_t b = 0; b < config_.layers; ++b) {
    blocks->push_back(std::make_shared<WanBlock>(weights, fmt::format("blocks.{}", b), config_, device_, driver_));
  }
  blocks_ = add<ModuleList<WanBlock>>("blocks", std::move(blocks));
  head_ = add<WanHead>("head", std::make_shared<WanHead>(weights, config_, device_, driver_));
}

std::vector<std::string> WanModel::path_aliases(std::string_view path) const {
  std::optional<std::string> d = wan_diffusers_name(path);
  if (!d || *d == path) return {};
  return {std::move(*d)};
}

Tensor WanModel::on_device(const Tensor& t) const { return placed(t, device_, driver_); }

Tensor wan_timestep_embedding(const Tensor& timesteps, std::int64_t dim) {
  QJIT_CHECK_GEN(kSub, timesteps.defined() && timesteps.dim() == 1 && dim % 2 == 0,
                 "timesteps must be [B] and the embedding width even, got {} and {}", timesteps.describe(), dim);
  const std::vector<float> t = timesteps.to(Device::cpu()).contiguous().to_f32_vector();
  const std::int64_t half = dim / 2, b = timesteps.size(0);
  std::vector<float> out(static_cast<std::size_t>(b * dim));
  for (std::int64_t i = 0; i < b; ++i) {
    for (std::int64_t j = 0; j < half; ++j) {
      const double arg = static_cast<double>(t[i]) * std::pow(10000.0, -static_cast<double>(j) / static_cast<double>(half));
      out[i * dim + j] = static_cast<float>(std::cos(arg));
      out[i * dim + half + j] = static_cast<float>(std::sin(arg));
    }
  }
  return Tensor::from_f32({b, dim}, out);
}

Tensor WanModel::forward(const Tensor& latents, const Tensor& timesteps, const Tensor& context) {
  const WanConfig& c = config_;
  QJIT_CHECK_GEN(kSub, latents.defined() && latents.dim() == 5 && latents.size(1) == c.in_dim &&
                           latents.size(3) % 2 == 0 && latents.size(4) % 2 == 0 && is_float(latents.dtype()),
                 "latents must be float [B, {}, F, H, W] with H and W even (patch 1x2x2), got {}", c.in_dim,
                 latents.defined() ? latents.describe() : "an undefined tensor");
  const std::int64_t b = latents.size(0), f = latents.size(2), h = latents.size(3) / 2, w = latents.size(4) / 2;
  QJIT_CHECK_GEN(kSub, b >= 1 && f >= 1 && h >= 1 && w >= 1, "latents {} must have a sample, a frame and a 2x2 patch",
                 latents.describe());
  QJIT_CHECK_GEN(kSub, timesteps.defined() && timesteps.dim() == 1 && timesteps.size(0) == b,
                 "timesteps must be [{}] (one per latent), got {}", b,
                 timesteps.defined() ? timesteps.describe() : "an undefined tensor");
  QJIT_CHECK_GEN(kSub, context.defined() && context.dim() == 3 && context.size(0) == b &&
                           context.size(2) == c.text_dim && is_float(context.dtype()),
                 "context must be float [{}, L, {}], got {}", b, c.text_dim,
                 context.defined() ? context.describe() : "an undefined tensor");
  QJIT_CHECK_GEN(kSub, context.size(1) >= 1 && context.size(1) <= c.text_len,
                 "context {} must hold 1 to text_len = {} tokens (Wan pads the prompt to text_len)", context.describe(),
                 c.text_len);
  const std::int64_t s = f * h * w;
  // NOTE: a planned forward (runtime/plan_driver.hpp) has no values to move: the host-side
  // steps (patchify, the prompt's padding, unpatchify) only make tensors of their shapes.
  const bool planning = !patch_w_.holds_values();
  const Tensor patches = planning ? Tensor::empty({b * s, c.in_dim * 4}, patch_w_.dtype(), device_, driver_)
                                  : on_device(patchify(latents).to_dtype(patch_w_.dtype()));
  Tensor x = gemm(patches, patch_w_,
                  GemmOptions{.bias = patch_b_, .out_dtype = DType::kF32, .memo = &patch_plans_})
                 .reshape({b, s, c.dim});
  // Time, in f32 as Wan runs it (autocast float32): e = time_embedding(sinusoid(t)), e0 =
  // time_projection(e) as [B, 6, D]. Unquantized linears round their input to the weights'
  // dtype and answer in f32.
  const Tensor sinusoid = on_device(wan_timestep_embedding(timesteps, c.freq_dim));
  const Tensor e = (*time_embedding_)["2"].forward(
      silu((*time_embedding_)["0"].forward(sinusoid), DType::kF32, &elementwise_plans_));
  const Tensor e0 =
      (*time_projection_)["1"].forward(silu(e, DType::kF32, &elementwise_plans_)).reshape({b, 6, c.dim});
  // Text: the prompt zero-padded to text_len, as Wan pads it (the padding's keys and values,
  // the embedding of zeros, take part in cross-attention); text_embedding.0 carries its
  // GELU-tanh in the GEMM's epilogue.
  Tensor ctx_rows;
  if (planning) {
    ctx_rows = Tensor::empty({b * c.text_len, c.text_dim}, kActivation, device_, driver_);
  } else {
    Tensor padded = Tensor::zeros({b, c.text_len, c.text_dim}, kActivation);
    padded.narrow(1, 0, context.size(1)).copy_(context.to(Device::cpu()).to_dtype(kActivation));
    ctx_rows = on_device(padded.reshape({b * c.text_len, c.text_dim}));
  }
  const Tensor ctx = (*text_embedding_)["2"].forward((*text_embedding_)["0"].forward(ctx_rows));
  const Tensor text = ctx.reshape({b, c.text_len, c.dim});
  const RopeGrid grid{f, h, w};
  for (std::size_t i = 0; i < blocks_->size(); ++i) x = (*blocks_)[i].forward(x, e0, text, grid);
  const Tensor y = head_->forward(x, e);
  if (planning) return Tensor::empty({b, c.out_dim, f, 2 * h, 2 * w}, DType::kF32);
  return unpatchify(y.to(Device::cpu()).to_dtype(DType::kF32), c.out_dim, grid);
}

Tensor patchify(const Tensor& latents) {
  QJIT_CHECK_GEN(kSub, latents.defined() && latents.dim() == 5 && latents.size(3) % 2 == 0 && latents.size(4) % 2 == 0,
                 "latents must be [B, C, F, H, W] with H and W even, got {}",
                 latents.defined() ? latents.describe() : "an undefined tensor");
  const std::int64_t b = latents.size(0), ch = latents.size(1), f = latents.size(2), h = latents.size(3) / 2,
                     w = latents.size(4) / 2;
  // [B, C, F, 2h, 2w] -> [B, f, h, w, C, 2, 2]: the Conv3d's (c, kt, kh, kw) weight order.
  return latents.to(Device::cpu())
      .reshape({b, ch, f, h, 2, w, 2})
      .permute({0, 2, 3, 5, 1, 4, 6})
      .contiguous()
      .reshape({b * f * h * w, ch * 4});
}

Tensor unpatchify(const Tensor& tokens, std::int64_t channels, const RopeGrid& grid) {
  const std::int64_t f = grid.frames, h = grid.height, w = grid.width;
  QJIT_CHECK_GEN(kSub, tokens.defined() && tokens.dim() == 3 && tokens.size(1) == f * h * w &&
                           tokens.size(2) == channels * 4,
                 "tokens must be [B, {}, {}] for a {}x{}x{} grid of {} channels, got {}", f * h * w, channels * 4, f, h,
                 w, channels, tokens.defined() ? tokens.describe() : "an undefined tensor");
  const std::int64_t b = tokens.size(0);
  // Wan's unpatchify: [B, (f, h, w), (1, 2, 2, C)] -> einsum fhwpqrc -> cfphqwr -> [B, C, F, 2h, 2w].
  return tokens.to(Device::cpu())
      .reshape({b, f, h, w, 1, 2, 2, channels})
      .permute({0, 7, 1, 4, 2, 5, 3, 6})
      .contiguous()
      .reshape({b, channels, f, 2 * h, 2 * w});
}

}  // namespace qjit
