#include "runtime/host_driver.hpp"
#include "runtime/ops/gemm.hpp"

#include <algorithm>
#include <atomic>
#include <memory>

#include "common/error.hpp"
#include "runtime/kernel_operands.hpp"
#include "runtime/kernels.hpp"
#include "runtime/ops/gemm_reference.hpp"

namespace qjit {

namespace {

constexpr const char* kOp = "gemm";

std::string describe(const Tensor& t) { return t.defined() ? t.describe() : "an undefined tensor"; }

bool is_epilogue_float(DType t) { return t == DType::kF32 || t == DType::kF16 || t == DType::kBF16; }

DType out_dtype_of(const Tensor& x, const GemmOptions& o) { return o.out_dtype ? *o.out_dtype : x.dtype(); }

// Everything the cpu and the devices both need, before any work.
void check_inputs(const Tensor& x, const Tensor& w, const GemmOptions& o) {
  QJIT_CHECK_GEN(kOp, x.defined() && x.dim() == 2, "activations must be [M, K], got {}", describe(x));
  QJIT_CHECK_GEN(kOp, w.defined() && w.dim() == 2, "weights must be [N, K], got {}", describe(w));
  QJIT_CHECK_GEN(kOp, is_epilogue_float(x.dtype()), "activations must be bf16, f16 or f32, got {}", x.describe());
  QJIT_CHECK_GEN(kOp, w.dtype() == x.dtype(),
                 "weights must have the activations' dtype {} (unquantized GEMM; quantized weights go through "
                 "quant_ops), got {}",
                 dtype_name(x.dtype()), w.describe());
  QJIT_CHECK_GEN(kOp, x.size(1) == w.size(1), "K differs: activations {} and weights {}", x.describe(), w.describe());
  QJIT_CHECK_GEN(kOp, x.size(0) <= 2147483647ll && w.size(0) <= 2147483647ll && w.size(1) <= 2147483647ll,
                 "activations {} or weights {} are too large", x.describe(), w.describe());
  if (o.bias) {
    const Tensor& b = *o.bias;
    QJIT_CHECK_GEN(kOp, b.defined() && b.dim() == 1 && b.size(0) == w.size(0), "bias must be [N] = [{}], got {}",
                   w.size(0), describe(b));
    QJIT_CHECK_GEN(kOp, is_epilogue_float(b.dtype()), "bias must be f32, f16 or bf16, got {}", b.describe());
  }
  const DType out = out_dtype_of(x, o);
  QJIT_CHECK_GEN(kOp, is_epilogue_float(out), "output dtype {} is not f32, f16 or bf16", dtype_name(out));
}

Tensor run_kernel(const Tensor& x_in, const Tensor& w_in, const GemmOptions& o) {
  QJIT_CHECK_GEN(kOp, x_in.dtype() != DType::kF32,
                 "f32 activations and weights {} run on the cpu only (the reference); on {} use bf16 or f16",
                 x_in.describe(), x_in.device().str());
  const Device dev = x_in.device();
  // NOTE: the driver that owns the activations' memory runs the kernel (tests put several
  // sim devices, one per arch, side by side).
  const std::shared_ptr<Driver> driver = x_in.driver();
  const std::int64_t m = x_in.size(0), n = w_in.size(0), k = x_in.size(1);
  // The plan (kernel, tile, threads, shared memory): from the call site's memo by the M
  // bucket and the dtypes (its weights and bias are fixed), else made here.
  const DType out = out_dtype_of(x_in, o);
  auto make = [&] {
    const jit::Arch arch = target_arch(*driver);
    const jit::impls::WeightOnlyDesc desc = gemm_desc(x_in, w_in, o);
    jit::impls::check_weight_only_desc(desc, arch);  // N, K multiples of 16 and sm_80+, before any copy
    const jit::impls::WeightOnlyConfig config = o.config ? *o.config : jit::impls::qgemm_wo_heuristic(desc, arch);
    const Kernel& kernel = KernelCache::global().get(driver, jit::impls::qgemm_wo_spec(desc, config, arch),
                                                     jit::impls::kQGemmWoKernel);
    return GemmPlan{config, &kernel, static_cast<unsigned>(config.smem_bytes(jit::impls::qgemm_wo_weight_bytes(desc)))};
  };
  GemmPlan local;
  const GemmPlan& plan =
      resolve_plan(o.config ? nullptr : o.memo, *driver,
                   {jit::impls::gemm_m_bucket(m),
                    static_cast<std::int64_t>(x_in.dtype()) | static_cast<std::int64_t>(out) << 8 |
                        (o.bias ? static_cast<std::int64_t>(o.bias->dtype()) + 1 : 0) << 16 | std::int64_t{o.gelu_tanh} << 24,
                    n, k},
                   local, make);
  const auto grid = jit::impls::qgemm_wo_grid(plan.config, std::max<std::int64_t>(m, 1), n);
  const Tensor x = as_kernel_operand(x_in, kOp, "activations");
  const Tensor w = as_kernel_operand(on_driver(w_in, dev, driver), kOp, "weights");
  std::optional<Tensor> bias;
  if (o.bias) bias = on_driver(*o.bias, dev, driver).contiguous();
  Tensor y = Tensor::empty({m, n}, out_dtype_of(x_in, o), dev, driver);
  if (m == 0) return y;
  LaunchConfig lc;
  lc.grid = {grid.x, grid.y, 1};
  lc.block = {static_cast<unsigned>(plan.config.threads()), 1, 1};
  lc.dynamic_smem = plan.smem_bytes;
  jit::impls::QGemmWoParams args;  // NOTE: no weight scales: the kernel reads none for float weights
  args.x = x.device_ptr();
  args.x_ld = m > 1 ? x.stride(0) : k;
  args.w = w.device_ptr();
  args.w_ld = n > 1 ? w.stride(0) : k;
  args.bias = bias ? bias->device_ptr() : DevicePtr{0};
  args.y = y.device_ptr();
  args.y_ld = n;
  args.m = static_cast<int>(m);
  args.n = static_cast<int>(n);
  args.k = static_cast<int>(k);
  plan.kernel->launch(lc, args);
  return y;
}

// bf16 on the cpu device: its compiled kernel, on the call site's packed weights.
Tensor run_host(const Tensor& x, const Tensor& w, const GemmOptions& o) {
  // NOTE: atomic loads and stores: two threads may run one layer (each packs at worst).
  std::shared_ptr<const HostBf16Weight> packed = o.host_weight ? std::atomic_load(o.host_weight) : nullptr;
  if (!packed || packed->n != w.size(0) || packed->k != w.size(1)) {
    packed = std::make_shared<const HostBf16Weight>(pack_host_bf16_weight(w));
    if (o.host_weight) std::atomic_store(o.host_weight, packed);
  }
  thread_local std::vector<std::uint16_t> scratch;
  HostGemmBf16Call call;
  call.a = host_bf16_rows(x, scratch);
  if (o.bias) call.bias = o.bias->contiguous();
  call.activation = o.gelu_tanh ? Activation::kGeluTanh : Activation::kNone;
  call.out = out_dtype_of(x, o);
  return host_gemm_bf16(*packed, call);
}

// f16 / f32 on the cpu device: the f32-panel kernel, on the call site's packed weights.
Tensor run_host_f32(const Tensor& x, const Tensor& w, const GemmOptions& o) {
  std::shared_ptr<const HostF32Weight> packed = o.host_weight_f32 ? std::atomic_load(o.host_weight_f32) : nullptr;
  if (!packed || packed->n != w.size(0) || packed->k != w.size(1) || packed->dtype != w.dtype()) {
    packed = std::make_shared<const HostF32Weight>(pack_host_f32_weight(w));
    if (o.host_weight_f32) std::atomic_store(o.host_weight_f32, packed);
  }
  return host_gemm_f32(*packed, x, o.bias, o.gelu_tanh ? Activation::kGeluTanh : Activation::kNone,
                       out_dtype_of(x, o));
}

}  // namespace

jit::impls::WeightOnlyDesc gemm_desc(const Tensor& x, const Tensor& w, const GemmOptions& o) {
  jit::impls::WeightOnlyDesc d;
  d.m_bucket = jit::impls::gemm_m_bucket(x.size(0));
  d.n = w.size(0), d.k = w.size(1);
  d.x = x.dtype();
  d.qtype_w = QType::kNone;  // weights of x's dtype (check_inputs)
  if (o.bias) d.bias = o.bias->dtype();
  d.act = o.gelu_tanh ? Activation::kGeluTanh : Activation::kNone;
  d.out = out_dtype_of(x, o);
  return d;
}

Tensor gemm(const Tensor& x, const Tensor& w, const GemmOptions& o) {
  check_inputs(x, w, o);
  if (x.device().is_host()) {
    QJIT_CHECK_GEN(kOp, w.device().is_host(), "activations are on the cpu but weights {} are not", w.describe());
    QJIT_CHECK_GEN(kOp, !o.bias || o.bias->device().is_host(), "activations are on the cpu but the bias {} is not",
                   o.bias->describe());
    if (runs_compiled_host_kernels(x.device()) && x.dtype() == DType::kBF16) return run_host(x, w, o);
    if (runs_compiled_host_kernels(x.device())) return run_host_f32(x, w, o);  // f16 or f32 (check_inputs)
    return on_host_device(ops::gemm_reference(x, w, o.bias, o.gelu_tanh, out_dtype_of(x, o)), x.device());
  }
  return run_kernel(x, w, o);
}

}  // namespace qjit
