#include "quant_ops/reference_tensor.hpp"

namespace qjit {

Tensor ReferenceHold::keep(const Tensor& t) {
  tensors_.push_back(t.to(Device::cpu()).contiguous());
  return tensors_.back();
}

std::span<const std::uint8_t> tensor_bytes(const Tensor& t) {
  return {static_cast<const std::uint8_t*>(t.raw_data_ptr()), t.nbytes()};
}

reference::QuantOperand reference_operand(const Tensor& codes, QType qtype, Granularity granularity,
                                          const Tensor& scales, ReferenceHold& hold) {
  const Tensor s = hold.keep(scales);
  return {qtype, granularity, tensor_bytes(codes), {s.data_ptr<float>(), static_cast<std::size_t>(s.numel())}};
}

reference::GemmEpilogue reference_epilogue(const std::optional<Tensor>& bias, reference::Activation activation,
                                           DType out_dtype, ReferenceHold& hold) {
  reference::GemmEpilogue e;  // no bias: null, kF32
  if (bias) {
    const Tensor b = hold.keep(*bias);
    e.bias = b.raw_data_ptr();
    e.bias_dtype = b.dtype();
  }
  e.activation = activation;
  e.out_dtype = out_dtype;
  return e;
}

Tensor reference_output(const reference::GemmOutput& r) {
  if (r.dtype == DType::kF32) return Tensor::from_vector<float>({r.rows, r.cols}, r.values);
  return Tensor::from_raw({r.rows, r.cols}, r.dtype, r.bits.data());
}

}  // namespace qjit
