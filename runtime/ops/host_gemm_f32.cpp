#include "runtime/ops/host_gemm_f32.hpp"

#include <cstring>

#include "common/error.hpp"
#include "jit/impls/host_gemm_f32.hpp"
#include "runtime/host_driver.hpp"
#include "runtime/kernels.hpp"

namespace qjit {

namespace {

constexpr const char* kOp = "gemm";
constexpr std::int64_t kPanel = 16;

jit::DeviceAddress address_of(const void* p) { return reinterpret_cast<std::uintptr_t>(p); }

// t as a contiguous f32 cpu tensor (f16 widened exactly).
Tensor f32_of(const Tensor& t) {
  const Tensor c = t.contiguous();
  return c.dtype() == DType::kF32 ? c : c.to_dtype(DType::kF32);
}

}  // namespace

HostF32Weight pack_host_f32_weight(const Tensor& w) {
  QJIT_CHECK_GEN(kOp, w.device().is_host() && w.dim() == 2 && (w.dtype() == DType::kF16 || w.dtype() == DType::kF32),
                 "the cpu kernels pack f16 or f32 weights [N, K] on the cpu, got {}", w.describe());
  HostF32Weight p;
  p.n = w.size(0), p.k = w.size(1), p.dtype = w.dtype();
  const Tensor f = f32_of(w);
  const auto* src = static_cast<const float*>(f.raw_data_ptr());
  const std::int64_t panels = (p.n + kPanel - 1) / kPanel;
  p.panels.assign(static_cast<std::size_t>(panels * p.k * kPanel), 0.0f);
  for (std::int64_t c = 0; c < p.n; ++c) {
    float* dst = p.panels.data() + (c / kPanel) * p.k * kPanel + c % kPanel;
    for (std::int64_t k = 0; k < p.k; ++k) dst[k * kPanel] = src[c * p.k + k];
  }
  return p;
}

jit::impls::HostGemmF32Desc host_gemm_f32_desc(const HostF32Weight& w, const std::optional<Tensor>& bias,
                                               Activation act, DType out) {
  jit::impls::HostGemmF32Desc d;
  d.in = w.dtype;
  d.out_dtype = out;
  if (bias) d.bias = bias->dtype();
  d.activation = act;
  d.isa = jit::impls::host_isa();
  return d;
}

LaunchConfig host_gemm_f32_launch(std::int64_t m, std::int64_t n, const jit::impls::HostGemmF32Config& c) {
  LaunchConfig launch;
  launch.grid.x = static_cast<unsigned>((n + c.nc - 1) / c.nc);
  launch.grid.y = static_cast<unsigned>((m + c.mc - 1) / c.mc);
  launch.max_threads = static_cast<unsigned>(c.threads);
  return launch;
}

Tensor host_gemm_f32(const HostF32Weight& w, const Tensor& x, const std::optional<Tensor>& bias, Activation act,
                     DType out, const std::optional<jit::impls::HostGemmF32Config>& config) {
  QJIT_CHECK_GEN(kOp, x.device().is_host() && x.dim() == 2 && x.dtype() == w.dtype && x.size(1) == w.k,
                 "the cpu kernel takes {} rows [M, {}] on the cpu, got {}", dtype_name(w.dtype), w.k, x.describe());
  const std::int64_t m = x.size(0), n = w.n;
  QJIT_CHECK_GEN(kOp, m <= 2147483647ll && n <= 2147483647ll && w.k <= 2147483647ll,
                 "a GEMM of {} x {} x {} is too large for the cpu kernels", m, n, w.k);
  Tensor y = Tensor::empty({m, n}, out, Device::cpu());
  if (m == 0 || n == 0) return y;
  const Tensor a = f32_of(x);
  const std::optional<Tensor> b = bias ? std::optional<Tensor>(bias->contiguous()) : std::nullopt;
  const auto driver = host_driver();
  const jit::impls::HostGemmF32Desc d = host_gemm_f32_desc(w, b, act, out);
  const jit::impls::HostGemmF32Config c = config ? *config : jit::impls::host_gemm_f32_heuristic(d, m, n, w.k);
  jit::impls::HostGemmF32Params p;
  p.a = address_of(a.raw_data_ptr());
  p.lda = w.k;
  p.w_packed = address_of(w.panels.data());
  p.bias = b ? address_of(b->raw_data_ptr()) : jit::DeviceAddress(0);
  p.out = address_of(y.raw_data_ptr());
  p.ldo = n;
  p.m = static_cast<std::int32_t>(m);
  p.n = static_cast<std::int32_t>(n);
  p.k = static_cast<std::int32_t>(w.k);
  KernelCache::global()
      .get(driver, jit::impls::host_gemm_f32_spec(d, c), jit::impls::kHostGemmF32)
      .launch(host_gemm_f32_launch(m, n, c), p);
  return y;
}

}  // namespace qjit
