#include "quant_ops/act_quant.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/error.hpp"
#include "jit/impls/act_quant.hpp"
#include "jit/impls/qgemm.hpp"
#include "quant_ops/reference/act_quant.hpp"
#include "quant_ops/reference/quantize_value.hpp"
#include "runtime/kernels.hpp"

namespace qjit {

namespace {

struct Rows {
  Tensor x2d;  // [M, K], unit stride along K
  std::int64_t m = 0, k = 0;
  std::int64_t row_stride = 0;  // elements; K when there is one row
};

Rows as_rows(const Tensor& x) {
  QJIT_CHECK_GEN("act_quant", x.defined() && x.dim() >= 1, "activations must be a tensor of rank >= 1, got {}",
                 x.defined() ? x.describe() : "an undefined tensor");
  QJIT_CHECK_GEN("act_quant", x.dtype() == DType::kF32 || x.dtype() == DType::kF16 || x.dtype() == DType::kBF16,
                 "activations must be f32, f16 or bf16, got {}", x.describe());
  Rows r;
  r.k = x.size(-1);
  r.m = 1;
  for (std::int64_t d = 0; d + 1 < x.dim(); ++d) r.m *= x.size(d);
  // NOTE: before any copy below; the kernels index rows and columns with 32-bit ints.
  QJIT_CHECK_GEN("act_quant", r.m <= (1ll << 31) - 1 && r.k <= (1ll << 31) - 1,
                 "activations {} are too large: M={} and K={} must each fit in 32 bits", x.describe(), r.m, r.k);
  Tensor c = x.stride(-1) == 1 && x.dim() <= 2 ? x : x.contiguous();
  r.x2d = c.dim() == 2 ? c : c.reshape({r.m, r.k});
  r.row_stride = r.m > 1 ? r.x2d.stride(0) : r.k;
  return r;
}

const char* mode_name(ActScale mode) {
  switch (mode) {
    case ActScale::kDynamicPerToken: return "dynamic per-token";
    case ActScale::kStaticPerTensor: return "static per-tensor";
    case ActScale::kDynamicPerTensor: return "dynamic per-tensor";
    case ActScale::kDynamicGroup128: return "dynamic group128";
  }
  QJIT_THROW("act_quant", "unknown activation scale mode {}", static_cast<int>(mode));
}

Granularity dynamic_granularity(ActScale mode) {
  switch (mode) {
    case ActScale::kDynamicPerToken: return Granularity::kPerToken;
    case ActScale::kDynamicPerTensor: return Granularity::kPerTensor;
    case ActScale::kDynamicGroup128: return Granularity::kGroup128;
    case ActScale::kStaticPerTensor: break;
  }
  QJIT_THROW("act_quant", "{} scales are not computed from the data", mode_name(mode));
}

std::vector<std::int64_t> scales_shape(ActScale mode, std::int64_t m, std::int64_t k) {
  switch (mode) {
    case ActScale::kDynamicPerToken: return {m};
    case ActScale::kDynamicGroup128: return {m, (k + reference::kGroupSize - 1) / reference::kGroupSize};
    case ActScale::kStaticPerTensor:
    case ActScale::kDynamicPerTensor: break;
  }
  return {1};
}

QuantizedActivations run_reference(const Rows& r, QType qtype, ActScale mode, float scale) {
  // NOTE: an empty tensor on a device comes here too (no element is read): no data pointer.
  const void* data = r.m > 0 && r.k > 0 ? r.x2d.raw_data_ptr() : nullptr;
  const auto view = reference::ActView{data, r.x2d.dtype(), r.m, r.k, r.row_stride};
  QuantizedActivations out;
  out.q = Tensor::empty({r.m, r.k}, qtype_storage(qtype));
  if (mode == ActScale::kStaticPerTensor) {
    out.scales = Tensor::from_vector<float>({1}, std::vector<float>{scale});
    reference::quantize_static(view, qtype, scale, out.q.raw_data_ptr());
  } else {
    out.scales = Tensor::empty(scales_shape(mode, r.m, r.k), DType::kF32);
    reference::quantize_dynamic(view, qtype, dynamic_granularity(mode), out.q.raw_data_ptr(),
                                out.scales.data_ptr<float>());
  }
  return out;
}

// Elements (a power of two <= 16) that the base address, the row stride and K are
// multiples of: bounds the kernels' vector width (q rows are K bytes apart, so K counts too).
std::int64_t row_align(const Rows& r) {
  const std::int64_t elt = static_cast<std::int64_t>(dtype_size(r.x2d.dtype()));
  const DevicePtr base = r.x2d.device_ptr();
  std::int64_t a = 16;
  while (a > 1 && (base % static_cast<DevicePtr>(a * elt) != 0 || r.row_stride % a != 0 || r.k % a != 0)) a /= 2;
  return a;
}

// Blocks that keep every SM busy; grid-strided kernels loop over the rest.
std::int64_t resident_blocks(const Driver& driver) { return std::max(driver.props().sm_count, 1) * 8; }

// Runs a plan on rows of x (k_major: group128 scales in the block-fp8 GEMM's layout).
QuantizedActivations run_plan(const ActQuantPlan& p, const Rows& r, const Tensor* scale) {
  const Device dev = r.x2d.device();
  // NOTE: the driver that owns the input's memory runs the kernel (tests put several sim
  // devices, one per arch, side by side).
  const std::shared_ptr<Driver>& driver = r.x2d.driver();
  const std::int64_t groups = (r.k + reference::kGroupSize - 1) / reference::kGroupSize;
  if (p.k_major && (r.m == 0 || r.k == 0)) {
    // No element, no scale to write: the layout's (empty) shapes.
    return {Tensor::empty({r.m, r.k}, qtype_storage(p.qtype), dev, driver),
            Tensor::empty({groups, jit::impls::group_scales_ld(r.m)}, DType::kF32, dev, driver)};
  }
  if (r.m == 0 || r.k == 0) {
    // Nothing to read: the reference gives the (data-independent) scales.
    const float s = scale ? scale->to(Device::cpu()).item_f32(0) : 0.0f;
    QuantizedActivations h = run_reference(r, p.qtype, p.mode, s);
    return {h.q.to(dev, driver), h.scales.to(dev, driver)};
  }
  QuantizedActivations out;
  out.q = Tensor::empty({r.m, r.k}, qtype_storage(p.qtype), dev, driver);
  jit::impls::ActQuantParams args;
  args.x = r.x2d.device_ptr();
  args.x_row_stride = r.row_stride;
  args.q = out.q.device_ptr();
  args.q_row_stride = r.k;
  args.m = static_cast<int>(r.m);
  args.k = static_cast<int>(r.k);
  const std::int64_t max_blocks = resident_blocks(*driver);
  LaunchConfig lc;
  lc.block.x = static_cast<unsigned>(p.threads);
  switch (p.mode) {
    case ActScale::kDynamicPerToken: {
      out.scales = Tensor::empty({r.m}, DType::kF32, dev, driver);
      lc.grid.x = static_cast<unsigned>(std::min<std::int64_t>(r.m, 65535));
      args.scales = out.scales.device_ptr();
      p.kernel->launch(lc, args);
      break;
    }
    case ActScale::kStaticPerTensor: {
      out.scales = scale->device() == dev && scale->driver() == driver ? *scale : scale->to(dev, driver);
      const std::int64_t blocks = (r.m * r.k + p.threads - 1) / p.threads;
      lc.grid.x = static_cast<unsigned>(std::clamp<std::int64_t>(blocks, 1, 4096));
      args.scales = out.scales.device_ptr();
      p.kernel->launch(lc, args);
      break;
    }
    case ActScale::kDynamicPerTensor: {
      // Pass 1 max-combines every block's amax into a zeroed word; pass 2 quantizes with it.
      const Tensor amax_bits = Tensor::zeros({1}, DType::kI32, dev, driver);
      out.scales = Tensor::empty({1}, DType::kF32, dev, driver);
      const std::int64_t chunks = (r.k + p.vec - 1) / p.vec;
      const std::int64_t gx = std::min((chunks + p.threads - 1) / p.threads, max_blocks);
      lc.grid.x = static_cast<unsigned>(gx);
      lc.grid.y = static_cast<unsigned>(std::clamp<std::int64_t>(std::min(r.m, max_blocks / gx), 1, 65535));
      args.amax_bits = amax_bits.device_ptr();
      args.scales = out.scales.device_ptr();
      p.amax->launch(lc, args);
      p.kernel->launch(lc, args);
      break;
    }
    case ActScale::kDynamicGroup128: {
      out.scales = p.k_major ? Tensor::empty({groups, jit::impls::group_scales_ld(r.m)}, DType::kF32, dev, driver)
                             : Tensor::empty(scales_shape(p.mode, r.m, r.k), DType::kF32, dev, driver);
      const std::int64_t warps = p.threads / 32;
      const std::int64_t blocks = (r.m * groups + warps - 1) / warps;
      lc.grid.x = static_cast<unsigned>(std::min(blocks, max_blocks));
      args.scales = out.scales.device_ptr();
      p.kernel->launch(lc, args);
      break;
    }
  }
  return out;
}

// The plan for rows of x, made on the spot (the public ops: one call, one resolution).
QuantizedActivations run_kernel(const Rows& r, QType qtype, ActScale mode, const Tensor* scale, bool k_major = false) {
  if (r.m == 0 || r.k == 0) return run_plan(ActQuantPlan{qtype, mode, k_major, r.k}, r, scale);
  return run_plan(plan_act_quant(r.x2d.driver(), r.x2d.dtype(), qtype, mode, r.k, row_align(r), k_major), r,
                  scale);
}

}  // namespace

std::int64_t act_quant_row_align(const Tensor& x) { return row_align(as_rows(x)); }

ActQuantPlan plan_act_quant(const std::shared_ptr<Driver>& driver, DType x_dtype, QType qtype, ActScale mode,
                            std::int64_t k, std::int64_t row_align, bool k_major) {
  const jit::impls::ActQuantDesc desc{x_dtype, qtype, mode, k, row_align,
                                      k_major};
  const auto config = jit::impls::act_quant_heuristic(desc);
  const jit::KernelSpec spec = jit::impls::act_quant_spec(desc, config, jit::Arch{});
  ActQuantPlan p{qtype, mode, k_major, k, row_align, config.threads, config.vec};
  p.kernel = &KernelCache::global().get(driver, spec, jit::impls::act_quant_kernel(desc.mode));
  if (mode == ActScale::kDynamicPerTensor) {
    p.amax = &KernelCache::global().get(driver, spec, jit::impls::act_quant_tensor_amax_kernel());
  }
  return p;
}

QuantizedActivations launch_act_quant(const ActQuantPlan& plan, const Tensor& x, const Tensor* static_scale) {
  return run_plan(plan, as_rows(x), static_scale);
}

float check_static_scale(const Tensor& s, const char* sub, bool need_value) {
  QJIT_CHECK_GEN(sub, s.defined() && s.numel() == 1 && s.dtype() == DType::kF32,
                 "a static activation scale must be one f32 value, got {}", s.defined() ? s.describe() : "none");
  if (!need_value && !s.device().is_host()) return std::numeric_limits<float>::quiet_NaN();
  const float v = s.to(Device::cpu()).item_f32(0);
  QJIT_CHECK_GEN(sub, std::isfinite(v) && v > 0, "static activation scale {} must be finite and > 0", v);
  reference::static_scale(v);  // also rejects a subnormal scale, whose inverse overflows
  return v;
}

QuantizedActivations quantize_activations(const Tensor& x, QType qtype, ActScale mode,
                                          const std::optional<Tensor>& static_scale) {
  QJIT_CHECK_GEN("act_quant", qtype != QType::kNone, "activation qtype 'none' has nothing to quantize");
  const char* name = mode_name(mode);  // rejects an out-of-range mode
  const Rows r = as_rows(x);
  float scale = 0;
  if (mode == ActScale::kStaticPerTensor) {
    QJIT_CHECK_GEN("act_quant", static_scale.has_value(), "static activation quantization needs a scale");
    scale = check_static_scale(*static_scale, "act_quant", /*need_value=*/x.device().is_host());
  } else {
    QJIT_CHECK_GEN("act_quant", !static_scale.has_value(),
                   "{} activation quantization computes its scales; a static scale ({}) was given", name,
                   static_scale->defined() ? static_scale->describe() : "undefined");
  }
  if (x.device().is_host()) return run_reference(r, qtype, mode, scale);
  return run_kernel(r, qtype, mode, static_scale ? &*static_scale : nullptr);
}

QuantizedActivations quantize_group128_k_major(const Tensor& x, QType qtype) {
  QJIT_CHECK_GEN("act_quant", qtype != QType::kNone, "activation qtype 'none' has nothing to quantize");
  const Rows r = as_rows(x);
  QJIT_CHECK_GEN("act_quant", !x.device().is_host(),
                 "K-major group128 scales are the block-fp8 GEMM kernel's layout: activations {} must be on sim or "
                 "cuda",
                 x.describe());
  return run_kernel(r, qtype, ActScale::kDynamicGroup128, nullptr, /*k_major=*/true);
}

}  // namespace qjit
