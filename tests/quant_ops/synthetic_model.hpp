#pragma once
// A small synthetic module tree for the Rule::apply and QuantLinear tests, named as Wan names
// its layers: blocks.{0,1}.{self_attn.q, ffn.0, ffn.2}, head.head, plus a norm with no Linear
// below it. bf16 Linear layers with N, K multiples of 16 (dim 32, ffn 64, out 16); ffn.0
// carries the fused GELU and biases sit on ffn.* and head.head. Seeded random weights,
// placed on a given device (cpu, or a sim driver's device).

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "runtime/driver.hpp"
#include "runtime/linear.hpp"
#include "runtime/module.hpp"
#include "runtime/tensor.hpp"

namespace qjit::test {

inline Tensor seeded(std::vector<std::int64_t> shape, DType dtype, unsigned seed, float sigma = 1.0f) {
  std::int64_t n = 1;
  for (auto s : shape) n *= s;
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, sigma);
  std::vector<float> v(static_cast<std::size_t>(n));
  for (float& x : v) x = normal(rng);
  return Tensor::from_vector<float>(std::move(shape), v, dtype);
}

// Where the model's parameters live: the cpu, or `driver`'s device (sim).
struct Placement {
  std::shared_ptr<Driver> driver;  // null: cpu
  Tensor put(const Tensor& t) const { return driver ? t.to(Device::sim(), driver) : t; }
};

inline std::shared_ptr<Linear> make_linear(const Placement& at, std::int64_t n, std::int64_t k, unsigned seed,
                                           bool bias, bool gelu = false, DType dtype = DType::kBF16) {
  std::optional<Tensor> b;
  if (bias) b = at.put(seeded({n}, dtype, seed + 1000));
  return std::make_shared<Linear>(at.put(seeded({n, k}, dtype, seed, 0.05f)), b, gelu);
}

class SelfAttn final : public Module {
 public:
  explicit SelfAttn(std::shared_ptr<LinearLayer> q) : q_(add<LinearLayer>("q", std::move(q))) {}
  std::string type_name() const override { return "SelfAttn"; }
  Tensor forward(const Tensor& x) const { return q_->forward(x); }

 private:
  Slot<LinearLayer> q_;
};

// Wan's ffn: Linear (GELU-tanh fused here) then Linear, named "0" and "2" as in Sequential.
class Ffn final : public Module {
 public:
  Ffn(std::shared_ptr<LinearLayer> up, std::shared_ptr<LinearLayer> down)
      : up_(add<LinearLayer>("0", std::move(up))), down_(add<LinearLayer>("2", std::move(down))) {}
  std::string type_name() const override { return "Ffn"; }
  Tensor forward(const Tensor& x) const { return down_->forward(up_->forward(x)); }

 private:
  Slot<LinearLayer> up_, down_;
};

class Block final : public Module {
 public:
  Block(const Placement& at, std::int64_t dim, std::int64_t ffn, unsigned seed)
      : attn_(add<SelfAttn>("self_attn", std::make_shared<SelfAttn>(make_linear(at, dim, dim, seed, false)))),
        ffn_(add<Ffn>("ffn", std::make_shared<Ffn>(make_linear(at, ffn, dim, seed + 1, true, /*gelu=*/true),
                                                   make_linear(at, dim, ffn, seed + 2, true)))) {}
  std::string type_name() const override { return "Block"; }
  Tensor forward(const Tensor& x) const { return ffn_->forward(attn_->forward(x)); }

 private:
  Slot<SelfAttn> attn_;
  Slot<Ffn> ffn_;
};

class Head final : public Module {
 public:
  explicit Head(std::shared_ptr<LinearLayer> head) : head_(add<LinearLayer>("head", std::move(head))) {}
  std::string type_name() const override { return "Head"; }
  Tensor forward(const Tensor& x) const { return head_->forward(x); }

 private:
  Slot<LinearLayer> head_;
};

class Norm final : public Module {
 public:
  std::string type_name() const override { return "Norm"; }
};

class TinyModel final : public Module {
 public:
  static constexpr std::int64_t kDim = 32, kFfn = 64, kOut = 16;

  explicit TinyModel(const Placement& at = {})
      : norm_(add<Norm>("norm", std::make_shared<Norm>())),
        blocks_(add<ModuleList<Block>>("blocks", std::make_shared<ModuleList<Block>>())),
        head_(add<Head>("head", std::make_shared<Head>(make_linear(at, kOut, kDim, 90, true)))) {
    blocks_->push_back(std::make_shared<Block>(at, kDim, kFfn, 10));
    blocks_->push_back(std::make_shared<Block>(at, kDim, kFfn, 20));
  }
  std::string type_name() const override { return "TinyModel"; }
  Tensor forward(Tensor x) const {
    for (std::size_t i = 0; i < blocks_->size(); ++i) x = (*blocks_)[i].forward(x);
    return head_->forward(x);
  }

 private:
  Slot<Norm> norm_;
  Slot<ModuleList<Block>> blocks_;
  Slot<Head> head_;
};

// The Linear layers of TinyModel, pre-order.
inline const std::vector<std::string>& tiny_layers() {
  static const std::vector<std::string> paths = {"blocks.0.self_attn.q", "blocks.0.ffn.0", "blocks.0.ffn.2",
                                                 "blocks.1.self_attn.q", "blocks.1.ffn.0", "blocks.1.ffn.2",
                                                 "head.head"};
  return paths;
}

// Every module of the tree by path, to show that a failed apply left it as it was.
inline std::vector<std::pair<std::string, const Module*>> snapshot(Module& m) {
  std::vector<std::pair<std::string, const Module*>> out;
  for (const NamedModule& nm : m.named_modules()) out.emplace_back(nm.path, nm.module);
  return out;
}

}  // namespace qjit::test
