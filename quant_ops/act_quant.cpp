#include "quant_ops/act_quant.hpp"

#include <algorithm>
#include <cmath>

#include "common/error.hpp"
#include "jit/impls/act_quant.hpp"
#include "quant_ops/reference/act_quant.hpp"
#include "runtime/kernel_args.hpp"
#include "runtime/kernels.hpp"

namespace qjit {

namespace {

struct Rows {
  Tensor x2d;  // [M, K], unit stride along K
  std::int64_t m = 0, k = 0;
};

Rows as_rows(const Tensor& x) {
  QJIT_CHECK_GEN("act_quant", x.defined() && x.dim() >= 1, "activations must be a tensor of rank >= 1, got {}",
                 x.defined() ? x.describe() : "an undefined tensor");
  QJIT_CHECK_GEN("act_quant", x.dtype() == DType::kF32 || x.dtype() == DType::kF16 || x.dtype() == DType::kBF16,
                 "activations must be f32, f16 or bf16, got {}", x.describe());
  Rows r;
  r.k = x.size(-1);
  r.m = r.k == 0 ? 0 : x.numel() / r.k;
  Tensor c = x.stride(-1) == 1 && x.dim() <= 2 ? x : x.contiguous();
  r.x2d = c.dim() == 2 ? c : c.reshape({r.m, r.k});
  return r;
}

float host_scale(const Tensor& s) {
  QJIT_CHECK_GEN("act_quant", s.defined() && s.numel() == 1 && s.dtype() == DType::kF32,
                 "a static activation scale must be one f32 value, got {}", s.defined() ? s.describe() : "none");
  const float v = s.to(Device::cpu()).item_f32(0);
  QJIT_CHECK_GEN("act_quant", std::isfinite(v) && v > 0, "static activation scale {} must be finite and > 0", v);
  return v;
}

std::string in_name(DType t) { return std::string(dtype_name(t)); }

QuantizedActivations run_reference(const Rows& r, QType qtype, ActScale mode, float scale) {
  const auto view = reference::ActView{r.x2d.raw_data_ptr(), r.x2d.dtype(), r.m, r.k, r.m > 1 ? r.x2d.stride(0) : r.k};
  QuantizedActivations out;
  out.q = Tensor::empty({r.m, r.k}, qtype_storage(qtype));
  if (mode == ActScale::kDynamicPerToken) {
    out.scales = Tensor::empty({r.m}, DType::kF32);
    reference::quantize_dynamic(view, qtype, Granularity::kPerToken, out.q.raw_data_ptr(),
                                out.scales.data_ptr<float>());
  } else {
    out.scales = Tensor::from_vector<float>({1}, std::vector<float>{scale});
    reference::quantize_static(view, qtype, scale, out.q.raw_data_ptr());
  }
  return out;
}

QuantizedActivations run_kernel(const Rows& r, QType qtype, ActScale mode, const Tensor* scale) {
  const Device dev = r.x2d.device();
  // NOTE: the driver that owns the input's memory runs the kernel (tests put several sim
  // devices, one per arch, side by side).
  const std::shared_ptr<Driver> driver = r.x2d.storage()->driver();
  jit::impls::ActQuantDesc desc{in_name(r.x2d.dtype()), std::string(qtype_name(qtype)),
                                mode == ActScale::kDynamicPerToken ? jit::impls::ActQuantMode::kDynamicPerToken
                                                                   : jit::impls::ActQuantMode::kStaticPerTensor,
                                r.k};
  const auto config = jit::impls::act_quant_heuristic(desc);
  const Kernel& kernel = KernelCache::global().get(driver, jit::impls::act_quant_spec(desc, config, jit::Arch{}),
                                                   jit::impls::act_quant_kernel(desc.mode));
  QuantizedActivations out;
  out.q = Tensor::empty({r.m, r.k}, qtype_storage(qtype), dev, driver);
  const std::int64_t x_stride = r.m > 1 ? r.x2d.stride(0) : r.k;
  const int m = static_cast<int>(r.m), k = static_cast<int>(r.k);
  if (r.m == 0 || r.k == 0) {
    out.scales = Tensor::empty({mode == ActScale::kDynamicPerToken ? r.m : 1}, DType::kF32, dev, driver);
    return out;
  }
  LaunchConfig lc;
  lc.block.x = static_cast<unsigned>(config.threads);
  if (mode == ActScale::kDynamicPerToken) {
    out.scales = Tensor::empty({r.m}, DType::kF32, dev, driver);
    lc.grid.x = static_cast<unsigned>(std::min<std::int64_t>(r.m, 65535));
    KernelArgs args(r.x2d.device_ptr(), x_stride, out.q.device_ptr(), r.k, out.scales.device_ptr(), m, k);
    kernel.launch(lc, args);
  } else {
    out.scales = scale->device() == dev && scale->storage()->driver() == driver ? *scale : scale->to(dev, driver);
    const std::int64_t blocks = (r.m * r.k + config.threads - 1) / config.threads;
    lc.grid.x = static_cast<unsigned>(std::clamp<std::int64_t>(blocks, 1, 4096));
    KernelArgs args(r.x2d.device_ptr(), x_stride, out.q.device_ptr(), r.k, out.scales.device_ptr(), m, k);
    kernel.launch(lc, args);
  }
  driver->synchronize();
  return out;
}

}  // namespace

QuantizedActivations quantize_activations(const Tensor& x, QType qtype, ActScale mode,
                                          const std::optional<Tensor>& static_scale) {
  QJIT_CHECK_GEN("act_quant", qtype != QType::kNone, "activation qtype 'none' has nothing to quantize");
  const Rows r = as_rows(x);
  QJIT_CHECK_GEN("act_quant", r.m <= (1ll << 31) - 1 && r.k <= (1ll << 31) - 1, "activations {} are too large",
                 x.describe());
  float scale = 0;
  if (mode == ActScale::kStaticPerTensor) {
    QJIT_CHECK_GEN("act_quant", static_scale.has_value(), "static activation quantization needs a scale");
    scale = host_scale(*static_scale);
  }
  if (x.device().is_host()) return run_reference(r, qtype, mode, scale);
  return run_kernel(r, qtype, mode, static_scale ? &*static_scale : nullptr);
}

}  // namespace qjit
