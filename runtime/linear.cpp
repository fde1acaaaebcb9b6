#include "runtime/linear.hpp"

#include <atomic>
#include <memory>

#include "common/error.hpp"
#include "runtime/ops/gemm.hpp"

namespace qjit {

Linear::Linear(Tensor weight, std::optional<Tensor> bias, bool gelu_tanh)
    : weight_(std::move(weight)), bias_(std::move(bias)), gelu_tanh_(gelu_tanh) {
  QJIT_CHECK_GEN("Linear", weight_.defined() && weight_.dim() == 2 && is_float(weight_.dtype()),
                 "weight must be [N, K] f32, f16 or bf16, got {}",
                 weight_.defined() ? weight_.describe() : "an undefined tensor");
  if (bias_) {
    QJIT_CHECK_GEN("Linear",
                   bias_->defined() && bias_->dim() == 1 && bias_->size(0) == weight_.size(0) &&
                       is_float(bias_->dtype()),
                   "bias must be [N] = [{}] f32, f16 or bf16 (weight {}), got {}", weight_.size(0),
                   weight_.describe(), bias_->defined() ? bias_->describe() : "an undefined tensor");
  }
}

Tensor flatten_rows(const Tensor& x, const char* layer) {
  QJIT_CHECK_GEN(layer, x.defined() && x.dim() >= 1, "input must be [..., K], got {}",
                 x.defined() ? x.describe() : "an undefined tensor");
  const std::int64_t k = x.size(-1);
  return x.dim() == 2 ? x : x.reshape({k == 0 ? 0 : x.numel() / k, k});
}

Tensor converted(const Tensor& x, DType dtype) {
  if (x.dtype() == dtype) return x;
  if (x.device().is_host()) return x.to_dtype(dtype);
  return x.to(Device::cpu()).to_dtype(dtype).to(x.device(), x.driver());
}

Tensor unflatten_rows(const Tensor& y, const Tensor& x) {
  if (x.dim() == 2) return y;
  std::vector<std::int64_t> shape(x.shape().begin(), x.shape().end() - 1);
  shape.push_back(y.size(1));
  return y.reshape(shape);
}

Tensor Linear::forward(const Tensor& x) {
  QJIT_CHECK_GEN("Linear", x.defined() && x.dim() >= 1 && x.size(-1) == in_features(),
                 "input must be [..., {}] (weight {}), got {}", in_features(), weight_.describe(),
                 x.defined() ? x.describe() : "an undefined tensor");
  GemmOptions o;
  o.bias = bias_;
  o.gelu_tanh = gelu_tanh_;
  // NOTE: the weight's dtype is the layer's; x is converted to it when they differ (a
  // model in bf16 fed f32 inputs), and y comes back in x's dtype.
  const Tensor rows = flatten_rows(x, "Linear");
  const Tensor xin = converted(rows, weight_.dtype());
  o.out_dtype = x.dtype();
  o.memo = &plans_;
  o.host_weight = &host_weight_;
  o.host_weight_f32 = &host_weight_f32_;
  return unflatten_rows(gemm(xin, weight_, o), x);
}

void Linear::to(const Device& device) {
  weight_ = weight_.to(device);
  std::atomic_store(&host_weight_, std::shared_ptr<const HostBf16Weight>());
  std::atomic_store(&host_weight_f32_, std::shared_ptr<const HostF32Weight>());
  if (bias_) bias_ = bias_->to(device);
}

}  // namespace qjit
