#include "quant_ops/norm_mod.hpp"

#include <cmath>
#include <string>

#include "common/error.hpp"
#include "quant_ops/act_quant.hpp"
#include "quant_ops/reference/quantize_value.hpp"
#include "runtime/ops/norm_mod_launch.hpp"
#include "runtime/ops/norm_mod_reference.hpp"

namespace qjit {

QuantizedActivations norm_modulate_quantized(const Tensor& x, const NormModArgs& args, DType round_to, QType qtype,
                                             ActScale mode, const std::optional<Tensor>& static_scale) {
  const ops::NormModRows r = ops::check_norm_mod(x, args, round_to);
  QJIT_CHECK_GEN("norm_mod", qtype != QType::kNone, "activation qtype 'none' has nothing to quantize");
  QJIT_CHECK_GEN("norm_mod", mode == ActScale::kDynamicPerToken || mode == ActScale::kStaticPerTensor,
                 "the fused norm quantizes dynamic per-token or static per-tensor only (mode {}); run "
                 "norm_modulate and quantize_activations for the others",
                 static_cast<int>(mode));
  if (mode == ActScale::kStaticPerTensor) {
    QJIT_CHECK_GEN("norm_mod", static_scale.has_value(), "static quantization needs one f32 scale, got none");
    check_static_scale(*static_scale, "norm_mod");
  } else {
    QJIT_CHECK_GEN("norm_mod", !static_scale.has_value(),
                   "dynamic per-token quantization computes its scales; a static scale was given");
  }
  // cpu: the definition itself (the reference y, then the reference quantization).
  if (x.device().is_host()) {
    return quantize_activations(ops::norm_mod_reference(r.x2d, args, round_to), qtype, mode, static_scale);
  }
  const auto driver = r.x2d.driver();
  QuantizedActivations out;
  out.q = Tensor::empty({r.m, r.d}, qtype_storage(qtype), x.device(), driver);
  out.scales = mode == ActScale::kDynamicPerToken ? Tensor::empty({r.m}, DType::kF32, x.device(), driver)
                                                  : static_scale->contiguous().to(x.device(), driver);
  const ops::NormModQuant q{qtype_storage(qtype), mode == ActScale::kDynamicPerToken};
  ops::launch_norm_mod(r, args, round_to, &q, out.q, out.scales);
  return out;
}

}  // namespace qjit
