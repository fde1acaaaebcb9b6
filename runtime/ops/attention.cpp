#include "runtime/host_driver.hpp"
#include "runtime/ops/attention.hpp"

#include <cmath>

#include "common/error.hpp"
#include "runtime/kernel_operands.hpp"
#include "runtime/kernels.hpp"
#include "runtime/ops/attention_reference.hpp"
#include "runtime/ops/host_attention.hpp"

namespace qjit {

namespace {

constexpr const char* kOp = "attention";
constexpr std::int64_t kGridYZ = 65535;  // CUDA's limit on grid.y (heads) and grid.z (batch)

std::string describe(const Tensor& t) { return t.defined() ? t.describe() : "an undefined tensor"; }

bool is_io_float(DType t) { return t == DType::kF32 || t == DType::kF16 || t == DType::kBF16; }

DType out_dtype_of(const Tensor& q, const AttentionOptions& o) { return o.out_dtype ? *o.out_dtype : q.dtype(); }

float scale_of(std::int64_t head_dim, const AttentionOptions& o) {
  return o.softmax_scale ? *o.softmax_scale : static_cast<float>(1.0 / std::sqrt(static_cast<double>(head_dim)));
}

// Everything the cpu and the devices both need, before any work.
void check_inputs(const Tensor& q, const Tensor& k, const Tensor& v, std::int64_t heads, const AttentionOptions& o) {
  QJIT_CHECK_GEN(kOp, q.defined() && q.dim() == 3, "q must be [B, Sq, H*Dh], got {}", describe(q));
  QJIT_CHECK_GEN(kOp, k.defined() && k.dim() == 3, "k must be [B, Skv, H*Dh], got {}", describe(k));
  QJIT_CHECK_GEN(kOp, v.defined() && v.dim() == 3, "v must be [B, Skv, H*Dh], got {}", describe(v));
  QJIT_CHECK_GEN(kOp, is_io_float(q.dtype()), "q must be f32, f16 or bf16, got {}", q.describe());
  QJIT_CHECK_GEN(kOp, k.dtype() == q.dtype() && v.dtype() == q.dtype(),
                 "q, k and v must share one dtype, got q {}, k {}, v {}", q.describe(), k.describe(), v.describe());
  QJIT_CHECK_GEN(kOp, k.size(0) == q.size(0) && v.size(0) == q.size(0), "batch differs: q {}, k {}, v {}",
                 q.describe(), k.describe(), v.describe());
  QJIT_CHECK_GEN(kOp, k.size(1) == v.size(1), "key count Skv differs: k {} and v {}", k.describe(), v.describe());
  QJIT_CHECK_GEN(kOp, k.size(2) == q.size(2) && v.size(2) == q.size(2), "width H*Dh differs: q {}, k {}, v {}",
                 q.describe(), k.describe(), v.describe());
  QJIT_CHECK_GEN(kOp, k.size(1) >= 1, "k and v have no keys (Skv = 0): softmax over no keys is undefined, got k {}",
                 k.describe());
  QJIT_CHECK_GEN(kOp, heads >= 1 && q.size(2) % heads == 0 && q.size(2) > 0,
                 "heads {} must be >= 1 and divide the width {} of q {}", heads, q.size(2), q.describe());
  QJIT_CHECK_GEN(kOp, q.size(1) <= 2147483647ll && k.size(1) <= 2147483647ll,
                 "sequence too long (at most 2^31 - 1 rows): q {}, k {}", q.describe(), k.describe());
  if (o.softmax_scale) {
    QJIT_CHECK_GEN(kOp, std::isfinite(*o.softmax_scale) && std::isfinite(*o.softmax_scale * 1.4426950408889634),
                   "softmax_scale {} must be finite", *o.softmax_scale);
  }
  const DType out = out_dtype_of(q, o);
  QJIT_CHECK_GEN(kOp, is_io_float(out), "output dtype {} is not f32, f16 or bf16", dtype_name(out));
}

// t as the kernel reads it: the last dimension contiguous (rows and batches at any stride);
// on tensor cores also every row 16-byte aligned (the K / V tiles are staged in 16-byte
// loads, Q fragments in 4-byte ones). Any other view is copied (a fresh allocation is
// 256-byte aligned and its rows, H*Dh elements with Dh % 16 == 0, are 16-byte multiples).
Tensor kernel_operand(const Tensor& t, bool tensor_cores) {
  const auto aligned = [&](std::int64_t dim) {
    return t.size(dim) <= 1 || (t.stride(dim) * static_cast<std::int64_t>(t.element_size())) % 16 == 0;
  };
  const bool in_place = (t.size(2) <= 1 || t.stride(2) == 1) &&
                        (!tensor_cores || (aligned(0) && aligned(1) && t.device_ptr() % 16 == 0));
  return in_place ? t : t.contiguous();
}

Tensor run_kernel(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in, std::int64_t heads,
                  const AttentionOptions& o) {
  const Device dev = q_in.device();
  const std::int64_t batch = q_in.size(0), sq = q_in.size(1), skv = k_in.size(1), width = q_in.size(2);
  const std::int64_t head_dim = width / heads;
  QJIT_CHECK_GEN(kOp, head_dim <= 256 && jit::impls::attention_head_dim_supported(static_cast<int>(head_dim)),
                 "head_dim {} (width {} / {} heads) is not supported on {}: the kernel takes a multiple of 8 in "
                 "[8, 256] (the cpu takes any)",
                 head_dim, width, heads, dev.str());
  QJIT_CHECK_GEN(kOp, heads <= kGridYZ && batch <= kGridYZ, "{} heads or batch {} exceed the kernel grid's {}",
                 heads, batch, kGridYZ);
  // NOTE: the driver that owns q's memory runs the kernel (tests put several sim devices,
  // one per arch, side by side).
  const std::shared_ptr<Driver> driver = q_in.driver();
  const jit::Arch arch = target_arch(*driver);
  QJIT_CHECK_GEN(kOp, arch.number >= 80, "the attention kernel needs sm_80 or newer; {} is {}", dev.str(), arch.str());
  // The plan: kernel, rows per block, warps, tensor cores; from the call site's memo.
  ResolvedKernel local;
  const ResolvedKernel& plan = resolve_plan(o.memo, *driver,
                                        {static_cast<std::int64_t>(q_in.dtype()),
                                         static_cast<std::int64_t>(out_dtype_of(q_in, o)), head_dim, 0},
                                        local, [&] {
                                          const jit::impls::AttentionDesc desc = attention_desc(q_in, heads, o);
                                          const jit::impls::AttentionConfig config = jit::impls::attention_heuristic(desc);
                                          const jit::KernelSpec spec = jit::impls::attention_spec(desc, config, arch);
                                          return ResolvedKernel{
                                              &KernelCache::global().get(driver, spec, jit::impls::attention_kernel(desc)),
                                              {jit::impls::attention_block_queries(desc, config), config.warps,
                                               jit::impls::attention_uses_tensor_cores(desc) ? 1 : 0}};
                                        });
  const bool tensor_cores = plan.launch[2] != 0;
  const Tensor q = kernel_operand(q_in, tensor_cores);
  const Tensor k = kernel_operand(on_driver(k_in, dev, driver), tensor_cores);
  const Tensor v = kernel_operand(on_driver(v_in, dev, driver), tensor_cores);
  Tensor out = Tensor::empty({batch, sq, width}, out_dtype_of(q_in, o), dev, driver);
  if (batch == 0 || sq == 0) return out;
  const std::int64_t rows = plan.launch[0];
  LaunchConfig lc;
  lc.grid = {static_cast<unsigned>((sq + rows - 1) / rows), static_cast<unsigned>(heads),
             static_cast<unsigned>(batch)};
  lc.block = {static_cast<unsigned>(plan.launch[1] * 32), 1, 1};
  const float scale_log2 = static_cast<float>(static_cast<double>(scale_of(head_dim, o)) * 1.4426950408889634);
  jit::impls::AttentionParams args;
  args.q = q.device_ptr(), args.q_batch_stride = q.stride(0), args.q_row_stride = q.stride(1);
  args.k = k.device_ptr(), args.k_batch_stride = k.stride(0), args.k_row_stride = k.stride(1);
  args.v = v.device_ptr(), args.v_batch_stride = v.stride(0), args.v_row_stride = v.stride(1);
  args.o = out.device_ptr(), args.o_batch_stride = sq * width, args.o_row_stride = width;
  args.sq = static_cast<int>(sq);
  args.skv = static_cast<int>(skv);
  args.scale_log2 = scale_log2;
  plan.kernel->launch(lc, args);
  return out;
}

}  // namespace

jit::impls::AttentionDesc attention_desc(const Tensor& q, std::int64_t heads, const AttentionOptions& o) {
  jit::impls::AttentionDesc d;
  d.in_dtype = q.dtype();
  d.out_dtype = out_dtype_of(q, o);
  d.head_dim = static_cast<int>(q.size(2) / heads);
  return d;
}

Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, std::int64_t heads, const AttentionOptions& o) {
  check_inputs(q, k, v, heads, o);
  const float scale = scale_of(q.size(2) / heads, o);
  if (q.device().is_host()) {
    QJIT_CHECK_GEN(kOp, k.device().is_host() && v.device().is_host(),
                   "q is on the cpu but k {} or v {} is not (move them together)", k.describe(), v.describe());
    if (runs_compiled_host_kernels(q.device()) && host_attention_supports(q, heads)) {
      return host_attention(q, k, v, heads, scale, out_dtype_of(q, o));
    }
    return on_host_device(ops::attention_reference(q, k, v, heads, scale, out_dtype_of(q, o)), q.device());
  }
  return run_kernel(q, k, v, heads, o);
}

}  // namespace qjit
