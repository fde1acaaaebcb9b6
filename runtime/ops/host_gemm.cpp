#include "runtime/ops/host_gemm.hpp"

#include <fmt/format.h>

#include <cstring>

#include "common/error.hpp"
#include "runtime/host_driver.hpp"
#include "runtime/kernels.hpp"

namespace qjit {

namespace {

constexpr const char* kOp = "gemm";
using jit::impls::kHostPanel;

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

jit::DeviceAddress address_of(const void* p) { return reinterpret_cast<std::uintptr_t>(p); }

}  // namespace

HostBf16Weight pack_host_bf16_weight(std::int64_t n, std::int64_t k,
                                     const std::function<void(std::int64_t, std::uint16_t*)>& row) {
  HostBf16Weight p;
  p.n = n;
  p.k = k;
  p.k_pairs = jit::impls::host_k_pairs(k);
  const std::int64_t panel_elems = p.k_pairs * 2 * kHostPanel;
  p.panels.assign(static_cast<std::size_t>(ceil_div(n, kHostPanel) * panel_elems), 0);
  std::vector<std::uint16_t> values(static_cast<std::size_t>(k));
  for (std::int64_t c = 0; c < n; ++c) {
    row(c, values.data());
    std::uint16_t* panel = p.panels.data() + (c / kHostPanel) * panel_elems + (c % kHostPanel) * 2;
    for (std::int64_t i = 0; i < k; ++i) panel[(i / 2) * 2 * kHostPanel + (i % 2)] = values[static_cast<std::size_t>(i)];
  }
  return p;
}

HostBf16Weight pack_host_bf16_weight(const Tensor& w) {
  QJIT_CHECK_GEN(kOp, w.device().is_host() && w.dim() == 2 && w.dtype() == DType::kBF16,
                 "the cpu kernels pack bf16 weights [N, K] on the cpu, got {}", w.describe());
  const Tensor c = w.contiguous();
  const auto* bits = static_cast<const std::uint16_t*>(c.raw_data_ptr());
  const std::int64_t k = c.size(1);
  return pack_host_bf16_weight(c.size(0), k, [&](std::int64_t row, std::uint16_t* dst) {
    // NOTE: K = 0 has no data (null pointers), and memcpy may not be given one.
    if (k > 0) std::memcpy(dst, bits + row * k, static_cast<std::size_t>(k) * sizeof(std::uint16_t));
  });
}

HostBf16Rows host_bf16_rows(const Tensor& x, std::vector<std::uint16_t>& scratch) {
  QJIT_CHECK_GEN(kOp, x.device().is_host() && x.dim() == 2 && x.dtype() == DType::kBF16,
                 "the cpu kernels take bf16 rows [M, K] on the cpu, got {}", x.describe());
  const std::int64_t m = x.size(0), k = x.size(1);
  if (k % 32 == 0 && (k == 0 || x.stride(1) == 1) && (m <= 1 || x.stride(0) >= k)) {
    return {static_cast<const std::uint16_t*>(x.raw_data_ptr()), m, m > 1 ? x.stride(0) : k};
  }
  const Tensor c = x.contiguous();
  const std::int64_t lda = 2 * jit::impls::host_k_pairs(k);
  scratch.assign(static_cast<std::size_t>(m * lda), 0);
  const auto* bits = static_cast<const std::uint16_t*>(c.raw_data_ptr());
  for (std::int64_t r = 0; r < m; ++r) {
    std::memcpy(scratch.data() + r * lda, bits + r * k, static_cast<std::size_t>(k) * sizeof(std::uint16_t));
  }
  return {scratch.data(), m, lda};
}

jit::impls::HostGemmBf16Desc host_gemm_bf16_desc(const HostGemmBf16Call& c) {
  jit::impls::HostGemmBf16Desc d;
  d.accum = c.accum;
  d.out_dtype = c.out;
  if (c.bias) d.bias = c.bias->dtype();
  d.activation = c.activation;
  d.isa = jit::impls::host_isa();
  return d;
}

Tensor host_gemm_bf16(const HostBf16Weight& w, const HostGemmBf16Call& c) {
  const std::int64_t m = c.a.m, n = w.n;
  QJIT_CHECK_GEN(kOp, m <= 2147483647ll && n <= 2147483647ll && w.k_pairs <= 1073741823ll,
                 "a GEMM of {} x {} x {} is too large for the cpu kernels", m, n, w.k);
  Tensor y = Tensor::empty({m, n}, c.out, Device::cpu());
  if (m == 0 || n == 0) return y;
  const auto driver = host_driver();
  const jit::impls::HostGemmBf16Desc d = host_gemm_bf16_desc(c);
  const jit::impls::HostGemmBf16Config config = c.config ? *c.config : jit::impls::host_gemm_bf16_heuristic(d, m, n, w.k);
  jit::impls::HostGemmBf16Params p;
  p.a = address_of(c.a.data);
  p.lda = c.a.lda;
  p.a_scales = address_of(c.a_scales);
  p.a_scale_stride = c.a_scale_stride;
  p.w_packed = address_of(w.panels.data());
  p.w_scales = address_of(c.w_scales);
  p.w_scale_stride = c.w_scale_stride;
  p.bias = c.bias ? address_of(c.bias->raw_data_ptr()) : jit::DeviceAddress(0);
  p.out = address_of(y.raw_data_ptr());
  p.ldo = n;
  p.m = static_cast<std::int32_t>(m);
  p.n = static_cast<std::int32_t>(n);
  p.k_pairs = static_cast<std::int32_t>(w.k_pairs);
  LaunchConfig launch;
  launch.grid.x = static_cast<unsigned>(ceil_div(n, config.nc));
  launch.grid.y = static_cast<unsigned>(ceil_div(m, config.mc));
  launch.max_threads = static_cast<unsigned>(config.threads);
  KernelCache::global().get(driver, jit::impls::host_gemm_bf16_spec(d, config), jit::impls::kHostGemmBf16).launch(launch, p);
  if (c.trace) {
    *c.trace = fmt::format("host gemm_bf16 {} {}x{} tile, {}x{} block, kc {} ({}, {} threads)",
                           jit::impls::host_accum_name(c.accum), config.mr, config.nb * kHostPanel, config.mc,
                           config.nc, config.kc, jit::impls::host_isa_name(d.isa), driver->launch_threads(launch));
  }
  return y;
}

}  // namespace qjit
