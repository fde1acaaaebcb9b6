#include "quant_ops/norm_mod.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "common/error.hpp"
#include "jit/impls/norm_mod.hpp"
#include "quant_ops/reference/norm_mod.hpp"
#include "quant_ops/reference/quantize_value.hpp"
#include "runtime/kernel_args.hpp"
#include "runtime/kernels.hpp"

namespace qjit {

namespace {

bool float_dtype(DType t) { return t == DType::kF32 || t == DType::kF16 || t == DType::kBF16; }

struct Rows {
  Tensor x2d;  // [M, D], unit stride along D
  std::int64_t m = 0, d = 0, row_stride = 0;
};

// Everything is checked here, before any work.
Rows check(const Tensor& x, const NormModArgs& a, DType out) {
  QJIT_CHECK_GEN("norm_mod", x.defined() && x.dim() >= 1, "x must be a tensor of rank >= 1, got {}",
                 x.defined() ? x.describe() : "an undefined tensor");
  QJIT_CHECK_GEN("norm_mod", float_dtype(x.dtype()), "x must be f32, f16 or bf16, got {}", x.describe());
  QJIT_CHECK_GEN("norm_mod", float_dtype(out), "the output dtype must be f32, f16 or bf16, got {}", dtype_name(out));
  QJIT_CHECK_GEN("norm_mod", a.kind == NormKind::kLayerNorm || a.kind == NormKind::kRmsNorm, "unknown norm kind {}",
                 static_cast<int>(a.kind));
  QJIT_CHECK_GEN("norm_mod", std::isfinite(a.eps) && a.eps >= 0, "eps {} must be finite and >= 0", a.eps);
  Rows r;
  r.d = x.size(-1);
  r.m = 1;
  for (std::int64_t i = 0; i + 1 < x.dim(); ++i) r.m *= x.size(i);
  QJIT_CHECK_GEN("norm_mod", r.d > 0, "x {} has empty rows: a norm over 0 elements is undefined", x.describe());
  QJIT_CHECK_GEN("norm_mod", r.m <= (1ll << 31) - 1 && r.d <= (1ll << 31) - 1,
                 "x {} is too large: M={} and D={} must each fit in 32 bits", x.describe(), r.m, r.d);
  auto vec = [&](const char* name, const Tensor& t) {
    QJIT_CHECK_GEN("norm_mod", t.defined() && t.dim() == 1 && t.size(0) == r.d && t.dtype() == DType::kF32,
                   "{} must be f32 [{}] (D of x {}), got {}", name, r.d, x.describe(),
                   t.defined() ? t.describe() : "an undefined tensor");
  };
  vec("shift", a.shift);
  vec("scale", a.scale);
  if (a.kind == NormKind::kRmsNorm) {
    QJIT_CHECK_GEN("norm_mod", a.weight.has_value(), "RMSNorm needs its weight [{}]", r.d);
    vec("weight", *a.weight);
  } else {
    QJIT_CHECK_GEN("norm_mod", !a.weight.has_value(), "LayerNorm here has no affine weight, but one was given ({})",
                   a.weight->defined() ? a.weight->describe() : "undefined");
  }
  Tensor c = x.stride(-1) == 1 && x.dim() <= 2 ? x : x.contiguous();
  r.x2d = c.dim() == 2 ? c : c.reshape({r.m, r.d});
  r.row_stride = r.m > 1 ? r.x2d.stride(0) : r.d;
  return r;
}

// The static scale's value, checked as quantize_activations checks it.
float checked_static_scale(const std::optional<Tensor>& s) {
  QJIT_CHECK_GEN("norm_mod", s.has_value() && s->defined() && s->numel() == 1 && s->dtype() == DType::kF32,
                 "static quantization needs one f32 scale, got {}",
                 s.has_value() && s->defined() ? s->describe() : "none");
  const float v = s->to(Device::cpu()).item_f32(0);
  QJIT_CHECK_GEN("norm_mod", std::isfinite(v) && v > 0, "static activation scale {} must be finite and > 0", v);
  reference::static_scale(v);  // also rejects a subnormal scale, whose inverse overflows
  return v;
}

Tensor on(const Tensor& t, const Tensor& like) {
  const Device dev = like.device();
  const auto& driver = like.storage()->driver();
  if (t.device() == dev && (dev.is_host() || t.storage()->driver() == driver)) return t.contiguous();
  return t.contiguous().to(dev, driver);
}

Tensor run_reference(const Rows& r, const NormModArgs& a, DType out) {
  const Tensor shift = a.shift.to(Device::cpu()).contiguous(), scale = a.scale.to(Device::cpu()).contiguous();
  std::optional<Tensor> w;
  if (a.weight) w = a.weight->to(Device::cpu()).contiguous();
  reference::NormModParams p;
  p.kind = a.kind == NormKind::kLayerNorm ? reference::NormKind::kLayerNorm : reference::NormKind::kRmsNorm;
  p.eps = a.eps;
  p.weight = w ? w->data_ptr<float>() : nullptr;
  p.shift = shift.data_ptr<float>();
  p.scale = scale.data_ptr<float>();
  const void* data = r.m > 0 ? r.x2d.raw_data_ptr() : nullptr;
  const auto raw = reference::norm_mod(reference::ActView{data, r.x2d.dtype(), r.m, r.d, r.row_stride}, p, out);
  return Tensor::from_raw({r.m, r.d}, out, raw.data());
}

jit::impls::NormModQuant jit_quant(ActScale mode) {
  if (mode == ActScale::kDynamicPerToken) return jit::impls::NormModQuant::kDynamicPerToken;
  return jit::impls::NormModQuant::kStaticPerTensor;
}

// quant: nullptr for the float output; else the qtype, mode and (static) scale tensor.
struct QuantArgs {
  QType qtype;
  ActScale mode;
  const Tensor* scale;
};

// out_q / scales: allocated by the caller on x's device.
void run_kernel(const Rows& r, const NormModArgs& a, DType out, const QuantArgs* q, const Tensor& dst,
                const Tensor& scales) {
  if (r.m == 0) return;
  const std::shared_ptr<Driver> driver = r.x2d.storage()->driver();
  jit::impls::NormModDesc desc;
  desc.norm = a.kind == NormKind::kLayerNorm ? jit::impls::NormKind::kLayerNorm : jit::impls::NormKind::kRmsNorm;
  desc.quant = q ? jit_quant(q->mode) : jit::impls::NormModQuant::kNone;
  desc.in_dtype = std::string(dtype_name(r.x2d.dtype()));
  desc.out_dtype = std::string(dtype_name(out));
  desc.qtype = q ? std::string(qtype_name(q->qtype)) : "";
  const auto config = jit::impls::norm_mod_heuristic(desc);
  const jit::KernelSpec spec = jit::impls::norm_mod_spec(desc, config, jit::Arch{});
  const Kernel& kernel = KernelCache::global().get(driver, spec, jit::impls::norm_mod_kernel());
  const Tensor shift = on(a.shift, r.x2d), scale = on(a.scale, r.x2d);
  // NOTE: LayerNorm reads no weight; shift's address stands in for the unused pointer.
  const Tensor w = a.weight ? on(*a.weight, r.x2d) : shift;
  const std::int64_t warps = config.threads / 32;
  LaunchConfig lc;
  lc.block.x = static_cast<unsigned>(config.threads);
  lc.grid.x = static_cast<unsigned>(std::min<std::int64_t>((r.m + warps - 1) / warps, 65535));
  const DevicePtr scales_ptr = scales.defined() ? scales.device_ptr() : DevicePtr{0};
  KernelArgs args(r.x2d.device_ptr(), r.row_stride, w.device_ptr(), shift.device_ptr(), scale.device_ptr(),
                  dst.device_ptr(), r.d, scales_ptr, a.eps, static_cast<int>(r.m), static_cast<int>(r.d));
  kernel.launch(lc, args);
  driver->synchronize();
}

}  // namespace

Tensor norm_modulate(const Tensor& x, const NormModArgs& args, DType out) {
  const Rows r = check(x, args, out);
  if (x.device().is_host()) return run_reference(r, args, out);
  const Tensor y = Tensor::empty({r.m, r.d}, out, x.device(), r.x2d.storage()->driver());
  run_kernel(r, args, out, nullptr, y, Tensor());
  return y;
}

QuantizedActivations norm_modulate_quantized(const Tensor& x, const NormModArgs& args, DType round_to, QType qtype,
                                             ActScale mode, const std::optional<Tensor>& static_scale) {
  const Rows r = check(x, args, round_to);
  QJIT_CHECK_GEN("norm_mod", qtype != QType::kNone, "activation qtype 'none' has nothing to quantize");
  QJIT_CHECK_GEN("norm_mod", mode == ActScale::kDynamicPerToken || mode == ActScale::kStaticPerTensor,
                 "the fused norm quantizes dynamic per-token or static per-tensor only (mode {}); run "
                 "norm_modulate and quantize_activations for the others",
                 static_cast<int>(mode));
  if (mode == ActScale::kStaticPerTensor) {
    checked_static_scale(static_scale);
  } else {
    QJIT_CHECK_GEN("norm_mod", !static_scale.has_value(),
                   "dynamic per-token quantization computes its scales; a static scale was given");
  }
  // cpu: the definition itself (the reference y, then the reference quantization).
  if (x.device().is_host()) return quantize_activations(run_reference(r, args, round_to), qtype, mode, static_scale);
  const auto driver = r.x2d.storage()->driver();
  QuantizedActivations out;
  out.q = Tensor::empty({r.m, r.d}, qtype_storage(qtype), x.device(), driver);
  out.scales = mode == ActScale::kDynamicPerToken ? Tensor::empty({r.m}, DType::kF32, x.device(), driver)
                                                  : on(*static_scale, r.x2d);
  const QuantArgs q{qtype, mode, static_scale ? &*static_scale : nullptr};
  run_kernel(r, args, round_to, &q, out.q, out.scales);
  return out;
}

}  // namespace qjit
