#include "runtime/ops/elementwise.hpp"

#include <algorithm>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "jit/impls/elementwise.hpp"
#include "runtime/kernel_operands.hpp"
#include "runtime/kernels.hpp"
#include "runtime/ops/elementwise_reference.hpp"
#include "runtime/host_driver.hpp"
#include "runtime/ops/host_glue.hpp"

namespace qjit {

namespace {

using jit::impls::ElementwiseOp;

bool float_dtype(DType t) { return t == DType::kF32 || t == DType::kF16 || t == DType::kBF16; }

void check_input(const char* op, const char* name, const Tensor& t) {
  QJIT_CHECK_GEN(op, t.defined(), "{} is an undefined tensor", name);
  QJIT_CHECK_GEN(op, float_dtype(t.dtype()), "{} must be f32, f16 or bf16, got {}", name, t.describe());
}

void check_out(const char* op, DType out) {
  QJIT_CHECK_GEN(op, float_dtype(out), "the output dtype must be f32, f16 or bf16, got {}", dtype_name(out));
}

// `t` must live on the first input's device (a tensor of another driver of that device kind
// is copied over by on_driver later).
void check_device(const char* op, const char* name, const Tensor& t, const char* first, const Tensor& x) {
  QJIT_CHECK_GEN(op, t.device() == x.device(), "{} {} is not on the device of {} {}", name, t.describe(), first,
                 x.describe());
}

// Launches the family's kernel: out (contiguous, a's shape) from a, b, c (any may be unused:
// pass a) on a's driver.
void run_kernel(ElementwiseOp op, const Tensor& a_in, const Tensor& b_in, const Tensor& c_in, const Tensor& out,
                const ops::Broadcast& bc, KernelMemo* memo) {
  const std::int64_t n = a_in.numel();
  if (n == 0) return;
  const Device dev = a_in.device();
  const std::shared_ptr<Driver> driver = a_in.driver();
  const Tensor a = a_in.contiguous();
  const Tensor b = on_driver(b_in, dev, driver).contiguous();
  const Tensor c = on_driver(c_in, dev, driver).contiguous();
  const auto dtypes = [](const Tensor& t) { return static_cast<std::int64_t>(t.dtype()); };
  ResolvedKernel local;
  const ResolvedKernel& plan = resolve_plan(
      memo, *driver, {static_cast<std::int64_t>(op), dtypes(a) | dtypes(b) << 8 | dtypes(c) << 16, dtypes(out), 0}, local,
      [&] {
        jit::impls::ElementwiseDesc desc;
        desc.op = op;
        desc.a = a.dtype(), desc.b = b.dtype(), desc.c = c.dtype(), desc.out = out.dtype();
        const auto config = jit::impls::elementwise_heuristic(desc);
        return ResolvedKernel{&KernelCache::global().get(driver, jit::impls::elementwise_spec(desc, config, jit::Arch{}),
                                                     jit::impls::elementwise_kernel()),
                          {config.threads, 0, 0}};
      });
  const std::int64_t threads = plan.launch[0];
  LaunchConfig lc;
  lc.block.x = static_cast<unsigned>(threads);
  // NOTE: grid-strided; 4096 blocks of 256 threads fill any current GPU.
  lc.grid.x = static_cast<unsigned>(std::min<std::int64_t>((n + threads - 1) / threads, 4096));
  jit::impls::ElementwiseParams args;
  args.a = a.device_ptr();
  args.b = b.device_ptr();
  args.c = c.device_ptr();
  args.out = out.device_ptr();
  args.n = n;
  args.inner = bc.inner;
  args.block = bc.block;
  args.block_stride = bc.block_stride;
  plan.kernel->launch(lc, args);
}

Tensor empty_like(const Tensor& x, DType out) {
  return Tensor::empty(x.shape(), out, x.device(), x.driver());
}

// b's shape without leading 1s.
std::vector<std::int64_t> squeezed(const Tensor& b) {
  std::vector<std::int64_t> s = b.shape();
  while (!s.empty() && s.front() == 1) s.erase(s.begin());
  return s;
}

}  // namespace

Tensor silu(const Tensor& x, std::optional<DType> out, KernelMemo* memo) {
  constexpr const char* kOp = "silu";
  check_input(kOp, "x", x);
  const DType o = out ? *out : x.dtype();
  check_out(kOp, o);
  if (x.device().is_host()) {
    if (runs_compiled_host_kernels(x.device())) return host_elementwise(ElementwiseOp::kSilu, x, x, x, ops::Broadcast{}, o, memo);
    return on_host_device(ops::silu_reference(x, o), x.device());
  }
  Tensor y = empty_like(x, o);
  run_kernel(ElementwiseOp::kSilu, x, x, x, y, ops::Broadcast{}, memo);
  return y;
}

Tensor gated_residual(const Tensor& x, const Tensor& y, const Tensor& gate, std::optional<DType> out,
                      KernelMemo* memo) {
  constexpr const char* kOp = "gated_residual";
  check_input(kOp, "x", x);
  check_input(kOp, "y", y);
  check_input(kOp, "gate", gate);
  QJIT_CHECK_GEN(kOp, x.dim() == 3, "x must be [B, S, D], got {}", x.describe());
  QJIT_CHECK_GEN(kOp, y.shape() == x.shape(), "y {} must have x's shape [B, S, D] (x {})", y.describe(),
                 x.describe());
  const std::int64_t b = x.size(0), d = x.size(2);
  const bool per_batch = (gate.dim() == 2 && gate.size(0) == b && gate.size(1) == d) ||
                         (gate.dim() == 3 && gate.size(0) == b && gate.size(1) == 1 && gate.size(2) == d);
  const bool shared = gate.dim() == 1 && gate.size(0) == d;
  QJIT_CHECK_GEN(kOp, per_batch || shared, "gate must be [B, D] = [{}, {}], [B, 1, D] or [D] = [{}] for x {}, got {}",
                 b, d, d, x.describe(), gate.describe());
  const DType o = out ? *out : x.dtype();
  check_out(kOp, o);
  check_device(kOp, "y", y, "x", x);
  check_device(kOp, "gate", gate, "x", x);
  if (x.device().is_host()) {
    if (runs_compiled_host_kernels(x.device())) {
      return host_elementwise(ElementwiseOp::kGatedResidual, x, y, gate, ops::gate_broadcast(x, gate), o, memo);
    }
    return on_host_device(ops::gated_residual_reference(x, y, gate, o), x.device());
  }
  Tensor r = empty_like(x, o);
  run_kernel(ElementwiseOp::kGatedResidual, x, y, gate, r, ops::gate_broadcast(x, gate), memo);
  return r;
}

Tensor add(const Tensor& a, const Tensor& b, std::optional<DType> out, KernelMemo* memo) {
  constexpr const char* kOp = "add";
  check_input(kOp, "a", a);
  check_input(kOp, "b", b);
  const std::vector<std::int64_t> bs = squeezed(b);
  const auto& as = a.shape();
  const bool suffix = bs.size() <= as.size() && std::equal(bs.begin(), bs.end(), as.end() - bs.size());
  QJIT_CHECK_GEN(kOp, suffix,
                 "b {} must have a's shape or a suffix of it (broadcast along a's leading dimensions), a {}",
                 b.describe(), a.describe());
  const DType o = out ? *out : a.dtype();
  check_out(kOp, o);
  check_device(kOp, "b", b, "a", a);
  if (a.device().is_host()) {
    if (runs_compiled_host_kernels(a.device())) return host_elementwise(ElementwiseOp::kAdd, a, b, a, ops::suffix_broadcast(b), o, memo);
    return on_host_device(ops::add_reference(a, b, o), a.device());
  }
  Tensor r = empty_like(a, o);
  run_kernel(ElementwiseOp::kAdd, a, b, a, r, ops::suffix_broadcast(b), memo);
  return r;
}

}  // namespace qjit
