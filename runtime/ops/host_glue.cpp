#include "runtime/ops/host_glue.hpp"

#include <algorithm>

#include "jit/impls/host_glue.hpp"
#include "jit/impls/rope.hpp"
#include "runtime/host_driver.hpp"
#include "runtime/ops/rope_reference.hpp"

namespace qjit {

namespace {

using jit::impls::HostGlueConfig;

jit::DeviceAddress address_of(const Tensor& t) { return reinterpret_cast<std::uintptr_t>(t.raw_data_ptr()); }

// A parameter as contiguous f32 on the cpu (it may live on another device).
Tensor host_f32(const Tensor& t) {
  const Tensor c = t.to(Device::cpu()).contiguous();
  return c.dtype() == DType::kF32 ? c : c.to_dtype(DType::kF32);
}

std::int64_t dtypes(DType a, DType b = DType::kF32, DType c = DType::kF32) {
  return static_cast<std::int64_t>(a) | static_cast<std::int64_t>(b) << 8 | static_cast<std::int64_t>(c) << 16;
}

// The memo key's ISA slot: a test may switch QJIT_CPU_ISA between calls.
std::int64_t isa_key(jit::impls::HostIsa isa) { return static_cast<std::int64_t>(isa) << 32; }

unsigned blocks(std::int64_t work, std::int64_t per_block) {
  return static_cast<unsigned>((work + per_block - 1) / per_block);
}

}  // namespace

Tensor host_elementwise(jit::impls::ElementwiseOp op, const Tensor& a_in, const Tensor& b_in, const Tensor& c_in,
                        const ops::Broadcast& bc, DType out, KernelMemo* memo) {
  // NOTE: an operand the op does not read is a again (no copy of a strided one).
  const Tensor a = a_in.contiguous();
  const Tensor b = op == jit::impls::ElementwiseOp::kSilu ? a : b_in.to(Device::cpu()).contiguous();
  const Tensor c = op == jit::impls::ElementwiseOp::kGatedResidual ? c_in.to(Device::cpu()).contiguous() : a;
  Tensor y = Tensor::empty(a.shape(), out, Device::cpu());
  const std::int64_t n = a.numel();
  if (n == 0) return y;
  const std::shared_ptr<HostDriver> driver = host_driver();
  const jit::impls::HostIsa isa = jit::impls::host_isa();
  const HostGlueConfig config;
  ResolvedKernel local;
  const ResolvedKernel& plan =
      resolve_plan(memo, *driver, {static_cast<std::int64_t>(op) | isa_key(isa), dtypes(a.dtype(), b.dtype(), c.dtype()),
                                   static_cast<std::int64_t>(out), -2},
                   local, [&] {
                     jit::impls::HostElementwiseDesc desc;
                     desc.op = {op, a.dtype(), b.dtype(), c.dtype(), out};
                     desc.isa = isa;
                     return ResolvedKernel{&KernelCache::global().get(driver, jit::impls::host_elementwise_spec(desc, config),
                                                                      jit::impls::kHostElementwise),
                                           {config.chunk, 0, 0}};
                   });
  jit::impls::ElementwiseParams p;
  p.a = address_of(a);
  p.b = address_of(b);
  p.c = address_of(c);
  p.out = address_of(y);
  p.n = n;
  p.inner = std::max<std::int64_t>(bc.inner, 1);
  p.block = std::max<std::int64_t>(bc.block, 1);
  p.block_stride = bc.block_stride;
  LaunchConfig launch;
  launch.grid.x = blocks(n, plan.launch[0]);
  plan.kernel->launch(launch, p);
  return y;
}

Tensor host_norm_mod(const ops::NormModRows& r, const NormModArgs& a, DType out) {
  Tensor y = Tensor::empty({r.m, r.d}, out, Device::cpu());
  if (r.m == 0) return y;
  const std::shared_ptr<HostDriver> driver = host_driver();
  const jit::impls::HostIsa isa = jit::impls::host_isa();
  const HostGlueConfig config;
  ResolvedKernel local;
  const ResolvedKernel& plan = resolve_plan(
      a.memo, *driver,
      {static_cast<std::int64_t>(a.kind) | static_cast<std::int64_t>(a.weight.has_value()) << 4 | isa_key(isa),
       static_cast<std::int64_t>(r.x2d.dtype()), static_cast<std::int64_t>(out), -2},
      local, [&] {
        jit::impls::HostNormModDesc desc;
        desc.norm = a.kind;
        desc.affine = a.weight.has_value();
        desc.in_dtype = r.x2d.dtype();
        desc.out_dtype = out;
        desc.isa = isa;
        return ResolvedKernel{&KernelCache::global().get(driver, jit::impls::host_norm_mod_spec(desc, config),
                                                         jit::impls::kHostNormMod),
                              {config.rows, 0, 0}};
      });
  const Tensor shift = host_f32(a.shift), scale = host_f32(a.scale);
  // NOTE: a LayerNorm without affine reads no weight; shift stands in for it.
  const Tensor w = a.weight ? host_f32(*a.weight) : shift;
  jit::impls::NormModParams p;
  p.x = address_of(r.x2d);
  p.x_row_stride = r.row_stride;
  p.w = address_of(w);
  p.shift = address_of(shift);
  p.scale = address_of(scale);
  p.out = address_of(y);
  p.out_row_stride = r.d;
  p.eps = a.eps;
  p.m = static_cast<std::int32_t>(r.m);
  p.d = static_cast<std::int32_t>(r.d);
  p.rows_per_batch = static_cast<std::int32_t>(r.rows_per_batch);
  LaunchConfig launch;
  launch.grid.x = blocks(r.m, plan.launch[0]);
  plan.kernel->launch(launch, p);
  return y;
}

Tensor host_rope_3d(const Tensor& x_in, std::int64_t heads, const RopeGrid& g, DType out, double theta,
                    KernelMemo* memo) {
  const Tensor x = x_in.contiguous();
  Tensor y = Tensor::empty(x.shape(), out, Device::cpu());
  const std::int64_t rows = x.size(0) * x.size(1), half = x.size(2) / heads / 2;
  if (rows == 0) return y;
  const std::shared_ptr<HostDriver> driver = host_driver();
  const jit::impls::HostIsa isa = jit::impls::host_isa();
  const HostGlueConfig config;
  ResolvedKernel local;
  const ResolvedKernel& plan =
      resolve_plan(memo, *driver, {isa_key(isa), static_cast<std::int64_t>(x.dtype()), static_cast<std::int64_t>(out), -2},
                   local, [&] {
                     jit::impls::HostRopeDesc desc{x.dtype(), out, isa};
                     return ResolvedKernel{&KernelCache::global().get(driver, jit::impls::host_rope_spec(desc, config),
                                                                      jit::impls::kHostRope),
                                           {config.rows, 0, 0}};
                   });
  const ops::RopeTable t = ops::rope_table(2 * half, g, theta);
  std::vector<float> table(t.cos);
  table.insert(table.end(), t.sin.begin(), t.sin.end());
  jit::impls::RopeParams p;
  p.x = address_of(x);
  p.out = address_of(y);
  p.table = reinterpret_cast<std::uintptr_t>(table.data());
  p.sin_offset = t.size();
  p.off_h = t.off_h;
  p.off_w = t.off_w;
  p.pairs = rows * heads * half;
  p.seq = x.size(1);
  p.grid_tokens = g.frames * g.height * g.width;
  p.grid_h = static_cast<std::int32_t>(g.height);
  p.grid_w = static_cast<std::int32_t>(g.width);
  p.heads = static_cast<std::int32_t>(heads);
  p.half = static_cast<std::int32_t>(half);
  p.n_f = static_cast<std::int32_t>(t.n_f);
  p.n_h = static_cast<std::int32_t>(t.n_h);
  LaunchConfig launch;
  launch.grid.x = blocks(rows, plan.launch[0]);
  plan.kernel->launch(launch, p);
  return y;
}

}  // namespace qjit
