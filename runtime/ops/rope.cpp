#include "runtime/ops/rope.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "common/error.hpp"
#include "jit/impls/rope.hpp"
#include "runtime/kernels.hpp"
#include "runtime/host_driver.hpp"
#include "runtime/kernel_operands.hpp"
#include "runtime/ops/host_glue.hpp"
#include "runtime/ops/rope_reference.hpp"

namespace qjit {

namespace {

constexpr const char* kOp = "rope_3d";

bool float_dtype(DType t) { return t == DType::kF32 || t == DType::kF16 || t == DType::kBF16; }

// Everything is checked here, before any work.
void check(const Tensor& x, std::int64_t heads, const RopeGrid& g, DType out, double theta) {
  QJIT_CHECK_GEN(kOp, x.defined() && x.dim() == 3, "x must be [B, S, heads*head_dim], got {}",
                 x.defined() ? x.describe() : "an undefined tensor");
  QJIT_CHECK_GEN(kOp, float_dtype(x.dtype()), "x must be f32, f16 or bf16, got {}", x.describe());
  QJIT_CHECK_GEN(kOp, float_dtype(out), "the output dtype must be f32, f16 or bf16, got {}", dtype_name(out));
  QJIT_CHECK_GEN(kOp, heads > 0 && x.size(2) % heads == 0, "heads {} must be > 0 and divide x's width {} (x {})",
                 heads, x.size(2), x.describe());
  const std::int64_t head_dim = x.size(2) / heads;
  QJIT_CHECK_GEN(kOp, head_dim > 0 && head_dim % 2 == 0,
                 "head_dim {} (x's width {} / {} heads) must be even and > 0: RoPE rotates pairs", head_dim,
                 x.size(2), heads);
  QJIT_CHECK_GEN(kOp, g.frames >= 1 && g.height >= 1 && g.width >= 1,
                 "grid sizes must be >= 1, got frames={} height={} width={}", g.frames, g.height, g.width);
  QJIT_CHECK_GEN(kOp, g.frames <= x.size(1) && g.height <= x.size(1) && g.width <= x.size(1) &&
                          g.frames * g.height * g.width <= x.size(1),
                 "the grid frames={} x height={} x width={} has more tokens than x's sequence S={} (x {})", g.frames,
                 g.height, g.width, x.size(1), x.describe());
  QJIT_CHECK_GEN(kOp, std::isfinite(theta) && theta > 0, "theta {} must be finite and > 0", theta);
  QJIT_CHECK_GEN(kOp, heads <= (1ll << 31) - 1 && head_dim <= (1ll << 31) - 1 && x.size(1) <= (1ll << 31) - 1,
                 "x {} is too large", x.describe());
}

Tensor run_kernel(const Tensor& x_in, std::int64_t heads, const RopeGrid& g, DType out, double theta,
                  KernelMemo* memo) {
  const Tensor x = x_in.contiguous();  // NOTE: the kernel reads pair p at elements 2p, 2p + 1
  const Device dev = x.device();
  const std::shared_ptr<Driver> driver = x.driver();
  Tensor y = Tensor::empty(x.shape(), out, dev, driver);
  const std::int64_t pairs = x.numel() / 2;
  if (pairs == 0) return y;
  const ops::RopeTable t = ops::rope_table(x.size(2) / heads, g, theta);
  // cos then sin, one upload. NOTE: small (sum of the axes' lengths times their pairs);
  // recomputed per call, which costs less than the kernel's pass over x.
  std::vector<float> host(t.cos);
  host.insert(host.end(), t.sin.begin(), t.sin.end());
  const Tensor table = Tensor::from_f32({2, t.size()}, host, DType::kF32).to(dev, driver);
  ResolvedKernel local;
  const ResolvedKernel& plan = resolve_plan(
      memo, *driver, {static_cast<std::int64_t>(x.dtype()), static_cast<std::int64_t>(out), 0, 0}, local, [&] {
        jit::impls::RopeDesc desc;
        desc.in_dtype = x.dtype();
        desc.out_dtype = out;
        const auto config = jit::impls::rope_heuristic(desc);
        return ResolvedKernel{
            &KernelCache::global().get(driver, jit::impls::rope_spec(desc, config, jit::Arch{}), jit::impls::rope_kernel()),
            {config.threads, 0, 0}};
      });
  const std::int64_t threads = plan.launch[0];
  LaunchConfig lc;
  lc.block.x = static_cast<unsigned>(threads);
  // NOTE: grid-strided; 4096 blocks of 256 threads fill any current GPU.
  lc.grid.x = static_cast<unsigned>(std::min<std::int64_t>((pairs + threads - 1) / threads, 4096));
  jit::impls::RopeParams args;
  args.x = x.device_ptr();
  args.out = y.device_ptr();
  args.table = table.device_ptr();
  args.sin_offset = t.size();
  args.off_h = t.off_h;
  args.off_w = t.off_w;
  args.pairs = pairs;
  args.seq = x.size(1);
  args.grid_tokens = g.frames * g.height * g.width;
  args.grid_h = static_cast<int>(g.height);
  args.grid_w = static_cast<int>(g.width);
  args.heads = static_cast<int>(heads);
  args.half = static_cast<int>(t.half);
  args.n_f = static_cast<int>(t.n_f);
  args.n_h = static_cast<int>(t.n_h);
  plan.kernel->launch(lc, args);
  return y;
}

}  // namespace

Tensor rope_3d(const Tensor& x, std::int64_t heads, const RopeGrid& grid, std::optional<DType> out, double theta,
               KernelMemo* memo) {
  const DType out_dtype = out ? *out : (x.defined() ? x.dtype() : DType::kF32);
  check(x, heads, grid, out_dtype, theta);
  if (x.device().is_host()) {
    if (runs_compiled_host_kernels(x.device())) return host_rope_3d(x, heads, grid, out_dtype, theta, memo);
    return on_host_device(ops::rope_3d_reference(x, heads, grid, out_dtype, theta), x.device());
  }
  return run_kernel(x, heads, grid, out_dtype, theta, memo);
}

}  // namespace qjit
