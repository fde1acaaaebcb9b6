// Quantizes a small bf16 activation tensor per token to int8 on a device and prints it.
//   example_quantize_activations [cpu|cuda|sim]

#include <cstdio>
#include <iostream>

#include "common/error.hpp"
#include "quant_ops/act_quant.hpp"

int main(int argc, char** argv) {
  try {
    const qjit::Device device = qjit::Device::parse(argc > 1 ? argv[1] : "cpu");
    std::vector<float> values;
    for (int i = 0; i < 4 * 8; ++i) values.push_back(static_cast<float>((i * 37) % 23) - 11.0f);
    const qjit::Tensor x = qjit::Tensor::from_vector<float>({4, 8}, values).to_dtype(qjit::DType::kBF16).to(device);
    const auto q = qjit::quantize_activations(x, qjit::QType::kInt8, qjit::ActScale::kDynamicPerToken);
    std::cout << "x      = " << x.str() << "\n";
    std::cout << "q      = " << q.q.str() << "\n";
    std::cout << "scales = " << q.scales.str() << "\n";
  } catch (const qjit::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
