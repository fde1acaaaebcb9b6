#include "runtime/ops/norm_mod.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "common/error.hpp"
#include "jit/impls/norm_mod.hpp"
#include "runtime/kernel_operands.hpp"
#include "runtime/kernels.hpp"
#include "runtime/ops/norm_mod_launch.hpp"
#include "runtime/host_driver.hpp"
#include "runtime/ops/host_glue.hpp"
#include "runtime/ops/norm_mod_reference.hpp"

namespace qjit {

namespace {

bool float_dtype(DType t) { return t == DType::kF32 || t == DType::kF16 || t == DType::kBF16; }

// A parameter on x's device and driver, contiguous.
Tensor on(const Tensor& t, const Tensor& like) {
  return on_driver(t, like.device(), like.driver()).contiguous();
}

}  // namespace

namespace ops {

NormModRows check_norm_mod(const Tensor& x, const NormModArgs& a, DType out) {
  QJIT_CHECK_GEN("norm_mod", x.defined() && x.dim() >= 1, "x must be a tensor of rank >= 1, got {}",
                 x.defined() ? x.describe() : "an undefined tensor");
  QJIT_CHECK_GEN("norm_mod", float_dtype(x.dtype()), "x must be f32, f16 or bf16, got {}", x.describe());
  QJIT_CHECK_GEN("norm_mod", float_dtype(out), "the output dtype must be f32, f16 or bf16, got {}", dtype_name(out));
  QJIT_CHECK_GEN("norm_mod", a.kind == NormKind::kLayerNorm || a.kind == NormKind::kRmsNorm, "unknown norm kind {}",
                 static_cast<int>(a.kind));
  QJIT_CHECK_GEN("norm_mod", std::isfinite(a.eps) && a.eps >= 0, "eps {} must be finite and >= 0", a.eps);
  NormModRows r;
  r.d = x.size(-1);
  r.m = 1;
  for (std::int64_t i = 0; i + 1 < x.dim(); ++i) r.m *= x.size(i);
  QJIT_CHECK_GEN("norm_mod", r.d > 0, "x {} has empty rows: a norm over 0 elements is undefined", x.describe());
  QJIT_CHECK_GEN("norm_mod", r.m <= (1ll << 31) - 1 && r.d <= (1ll << 31) - 1,
                 "x {} is too large: M={} and D={} must each fit in 32 bits", x.describe(), r.m, r.d);
  QJIT_CHECK_GEN("norm_mod", a.shift.defined() && (a.shift.dim() == 1 || a.shift.dim() == 2) &&
                                 a.shift.size(-1) == r.d && a.shift.dtype() == DType::kF32,
                 "shift must be f32 [{0}] or [B, {0}] (D of x {1}), got {2}", r.d, x.describe(),
                 a.shift.defined() ? a.shift.describe() : "an undefined tensor");
  QJIT_CHECK_GEN("norm_mod", a.scale.defined() && a.scale.shape() == a.shift.shape() && a.scale.dtype() == DType::kF32,
                 "scale must be f32 of shift's shape {}, got {}", a.shift.describe(),
                 a.scale.defined() ? a.scale.describe() : "an undefined tensor");
  const std::int64_t batches = a.shift.dim() == 2 ? a.shift.size(0) : 1;
  QJIT_CHECK_GEN("norm_mod", batches >= 1 && r.m % batches == 0,
                 "shift / scale have {} batch rows, which do not divide the {} rows of x {}", batches, r.m,
                 x.describe());
  r.rows_per_batch = std::max<std::int64_t>(r.m / batches, 1);
  if (a.kind == NormKind::kRmsNorm) QJIT_CHECK_GEN("norm_mod", a.weight.has_value(), "RMSNorm needs its weight [{}]", r.d);
  if (a.weight) {
    QJIT_CHECK_GEN("norm_mod", a.weight->defined() && a.weight->dim() == 1 && a.weight->size(0) == r.d &&
                                   a.weight->dtype() == DType::kF32,
                   "weight must be f32 [{}] (D of x {}), got {}", r.d, x.describe(),
                   a.weight->defined() ? a.weight->describe() : "an undefined tensor");
  }
  Tensor c = x.stride(-1) == 1 && x.dim() <= 2 ? x : x.contiguous();
  r.x2d = c.dim() == 2 ? c : c.reshape({r.m, r.d});
  r.row_stride = r.m > 1 ? r.x2d.stride(0) : r.d;
  return r;
}

void launch_norm_mod(const NormModRows& r, const NormModArgs& a, DType out, const NormModQuant* q, const Tensor& dst,
                     const Tensor& scales) {
  if (r.m == 0) return;
  const std::shared_ptr<Driver>& driver = r.x2d.driver();
  const auto quant = q == nullptr         ? jit::impls::NormModQuant::kNone
                     : q->per_token ? jit::impls::NormModQuant::kDynamicPerToken
                                    : jit::impls::NormModQuant::kStaticPerTensor;
  ResolvedKernel local;
  const ResolvedKernel& plan = resolve_plan(
      a.memo, *driver,
      {static_cast<std::int64_t>(a.kind) | static_cast<std::int64_t>(a.weight.has_value()) << 4 |
           static_cast<std::int64_t>(quant) << 8,
       static_cast<std::int64_t>(r.x2d.dtype()), static_cast<std::int64_t>(out),
       q ? static_cast<std::int64_t>(q->codes) : -1},
      local, [&] {
        jit::impls::NormModDesc desc;
        desc.norm = a.kind;
        desc.affine = a.weight.has_value();
        desc.quant = quant;
        desc.in_dtype = r.x2d.dtype();
        desc.out_dtype = out;
        desc.qtype = q == nullptr ? QType::kNone : qtype_of_storage(q->codes).value_or(QType::kNone);
        const auto config = jit::impls::norm_mod_heuristic(desc);
        const jit::KernelSpec spec = jit::impls::norm_mod_spec(desc, config, jit::Arch{});
        return ResolvedKernel{&KernelCache::global().get(driver, spec, jit::impls::norm_mod_kernel()), {config.threads, 0, 0}};
      });
  const Tensor shift = on(a.shift, r.x2d), scale = on(a.scale, r.x2d);
  // NOTE: a LayerNorm without affine reads no weight; shift's address stands in for it.
  const Tensor w = a.weight ? on(*a.weight, r.x2d) : shift;
  const std::int64_t warps = plan.launch[0] / 32;
  LaunchConfig lc;
  lc.block.x = static_cast<unsigned>(plan.launch[0]);
  lc.grid.x = static_cast<unsigned>(std::min<std::int64_t>((r.m + warps - 1) / warps, 65535));
  jit::impls::NormModParams args;
  args.x = r.x2d.device_ptr();
  args.x_row_stride = r.row_stride;
  args.w = w.device_ptr();
  args.shift = shift.device_ptr();
  args.scale = scale.device_ptr();
  args.out = dst.device_ptr();
  args.out_row_stride = r.d;
  args.scales = scales.defined() ? scales.device_ptr() : DevicePtr{0};
  args.eps = a.eps;
  args.m = static_cast<int>(r.m);
  args.d = static_cast<int>(r.d);
  args.rows_per_batch = static_cast<int>(r.rows_per_batch);
  plan.kernel->launch(lc, args);
}

}  // namespace ops

Tensor norm_modulate(const Tensor& x, const NormModArgs& args, DType out) {
  const ops::NormModRows r = ops::check_norm_mod(x, args, out);
  if (x.device().is_host()) {
    return runs_compiled_host_kernels(x.device()) ? host_norm_mod(r, args, out)
                                                  : on_host_device(ops::norm_mod_reference(r.x2d, args, out), x.device());
  }
  const Tensor y = Tensor::empty({r.m, r.d}, out, x.device(), r.x2d.driver());
  ops::launch_norm_mod(r, args, out, nullptr, y, Tensor());
  return y;
}

LinearInput norm_modulate_for(const Tensor& x, const NormModArgs& args, DType round_to,
                              const std::optional<InputQuantization>& want) {
  if (!want || x.device().is_host()) return {norm_modulate(x, args, round_to)};
  const ops::NormModRows r = ops::check_norm_mod(x, args, round_to);
  const InputQuantization& q = *want;
  QJIT_CHECK_GEN("norm_mod", q.codes == DType::kI8 || q.codes == DType::kE4M3 || q.codes == DType::kE5M2,
                 "a layer asked for its input as {} codes; int8, fp8_e4m3 or fp8_e5m2 are what the kernel emits",
                 dtype_name(q.codes));
  QJIT_CHECK_GEN("norm_mod", q.per_token || (q.static_scale && q.static_scale->numel() == 1 &&
                                             q.static_scale->dtype() == DType::kF32),
                 "a layer asked for static quantization without its one f32 scale");
  const auto driver = r.x2d.driver();
  LinearInput in;
  in.x = Tensor::empty({r.m, r.d}, q.codes, x.device(), driver);
  in.scales = q.per_token ? Tensor::empty({r.m}, DType::kF32, x.device(), driver) : on(*q.static_scale, r.x2d);
  const ops::NormModQuant quant{q.codes, q.per_token};
  ops::launch_norm_mod(r, args, round_to, &quant, in.x, *in.scales);
  return in;
}

}  // namespace qjit
