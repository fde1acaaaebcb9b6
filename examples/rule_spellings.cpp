// The two spellings of a quantization rule on a small model of Linear layers, on the cpu:
// qjit::Rule (checked when applied) and qjit::rule<qjit::RuleSpec{...}> (checked while
// compiling: `.act = "fp8"` below instead of "int8" would not compile). Both print the same
// report.
//   example_rule_spellings

#include <cstdio>
#include <iostream>
#include <memory>
#include <vector>

#include "common/error.hpp"
#include "quant_ops/rule.hpp"
#include "quant_ops/rule_spec.hpp"
#include "runtime/linear.hpp"
#include "runtime/module.hpp"

namespace {

// Two bf16 Linear layers named as Wan names its feed-forward: ffn.0 (GELU) and ffn.2.
class Ffn final : public qjit::Module {
 public:
  Ffn() : up_(add<qjit::LinearLayer>("0", linear(64, 32, true))), down_(add<qjit::LinearLayer>("2", linear(32, 64, false))) {}
  std::string type_name() const override { return "Ffn"; }
  qjit::Tensor forward(const qjit::Tensor& x) const { return down_->forward(up_->forward(x)); }

 private:
  static std::shared_ptr<qjit::Linear> linear(std::int64_t n, std::int64_t k, bool gelu) {
    std::vector<float> w(static_cast<std::size_t>(n * k));
    for (std::size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(static_cast<int>((i * 37) % 23) - 11) / 64.0f;
    return std::make_shared<qjit::Linear>(qjit::Tensor::from_vector<float>({n, k}, w, qjit::DType::kBF16), std::nullopt,
                                          gelu);
  }
  Slot<qjit::LinearLayer> up_, down_;
};

class Model final : public qjit::Module {
 public:
  Model() : ffn_(add<Ffn>("ffn", std::make_shared<Ffn>())) {}
  std::string type_name() const override { return "Model"; }
  qjit::Tensor forward(const qjit::Tensor& x) const { return ffn_->forward(x); }

 private:
  Slot<Ffn> ffn_;
};

}  // namespace

int main() {
  try {
    Model a, b;
    // Checked at run time: a bad value is a qjit::Error from apply().
    const qjit::ApplyReport by_rule = qjit::Rule{.weight = "int8", .act = "int8"}.apply(a);
    // Checked at compile time: a bad value is a compile error naming the problem.
    const qjit::ApplyReport by_spec = qjit::rule<qjit::RuleSpec{.weight = "int8", .act = "int8"}>.apply(b);
    std::cout << "qjit::Rule{.weight = \"int8\", .act = \"int8\"}.apply(model):\n" << by_rule.str();
    std::cout << "\nqjit::rule<qjit::RuleSpec{.weight = \"int8\", .act = \"int8\"}>.apply(model):\n" << by_spec.str();
    const qjit::Tensor x = qjit::Tensor::from_vector<float>({2, 32}, std::vector<float>(64, 0.5f), qjit::DType::kBF16);
    std::cout << "\ny = " << a.forward(x).str() << "\n";
  } catch (const qjit::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
