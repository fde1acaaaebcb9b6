#include "quant_ops/host_linear.hpp"

#include <fmt/format.h>

#include "common/error.hpp"
#include "quant_ops/act_quant.hpp"
#include "runtime/host_driver.hpp"
#include "runtime/kernels.hpp"

namespace qjit {

namespace {

using jit::impls::kHostPanel;

constexpr const char* kSub = "linear";

ActScale act_mode(const ResolvedRule& rule) {
  if (rule.act_static_scale) return ActScale::kStaticPerTensor;
  return rule.act_granularity == Granularity::kPerTensor ? ActScale::kDynamicPerTensor : ActScale::kDynamicPerToken;
}

const char* act_mode_name(ActScale mode) {
  switch (mode) {
    case ActScale::kDynamicPerToken: return "per_token";
    case ActScale::kDynamicPerTensor: return "per_tensor";
    case ActScale::kStaticPerTensor: return "static_per_tensor";
    case ActScale::kDynamicGroup128: return "group128";
  }
  return "?";
}

jit::DeviceAddress address_of(const void* p) { return reinterpret_cast<std::uintptr_t>(p); }

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

// The activation codes of one call, reused by the calling thread's next call (a warm forward
// allocates nothing for them).
struct Workspace {
  std::vector<std::int8_t> codes;
  std::vector<float> scales, row_amax;
  std::vector<std::int32_t> row_sums;
};

Workspace& workspace() {
  thread_local Workspace w;
  return w;
}

}  // namespace

bool host_kernels_support(const ResolvedRule& rule) {
  return rule.weight == QType::kInt8 && rule.act == QType::kInt8 &&
         (rule.weight_granularity == Granularity::kPerChannel || rule.weight_granularity == Granularity::kPerTensor) &&
         (rule.act_static_scale || rule.act_granularity == Granularity::kPerToken ||
          rule.act_granularity == Granularity::kPerTensor);
}

std::shared_ptr<const HostPackedWeight> pack_for_host(const QuantizedWeight& w) {
  QJIT_CHECK_GEN(kSub, w.qtype == QType::kInt8 &&
                           (w.granularity == Granularity::kPerChannel || w.granularity == Granularity::kPerTensor),
                 "the cpu device's GEMM packs int8 per-channel or per-tensor weights, got {} {}", qtype_name(w.qtype),
                 granularity_name(w.granularity));
  const Tensor q = w.q.to(Device::cpu()).contiguous();
  auto p = std::make_shared<HostPackedWeight>();
  p->n = q.size(0);
  p->k = q.size(1);
  p->k_padded = jit::impls::host_k_padded(p->k);
  p->per_channel = w.granularity == Granularity::kPerChannel;
  p->scales = w.scales.to_f32_vector();
  const std::int64_t panels = ceil_div(p->n, kHostPanel);
  const std::int64_t panel_bytes = p->k_padded * kHostPanel;
  p->panels.assign(static_cast<std::size_t>(panels * panel_bytes), 128);
  const auto* codes = static_cast<const std::int8_t*>(q.raw_data_ptr());
  for (std::int64_t n = 0; n < p->n; ++n) {
    std::uint8_t* panel = p->panels.data() + (n / kHostPanel) * panel_bytes + (n % kHostPanel) * 4;
    const std::int8_t* row = codes + n * p->k;
    for (std::int64_t k = 0; k < p->k; ++k) {
      panel[(k / 4) * 64 + (k % 4)] = static_cast<std::uint8_t>(static_cast<int>(row[k]) + 128);
    }
  }
  return p;
}

Tensor host_linear_forward(const Tensor& x2d_in, const QuantizedWeight& w, const ResolvedRule& rule,
                           const LinearOptions& o, DType out_dtype, LinearTrace* trace) {
  QJIT_CHECK_GEN(kSub, host_kernels_support(rule), "rule '{}' has no cpu kernels", rule.label);
  std::shared_ptr<const HostPackedWeight> packed = w.host_packed ? w.host_packed : pack_for_host(w);
  const Tensor x = x2d_in.to(Device::cpu()).contiguous();
  const std::int64_t m = x.size(0), k = x.size(1), n = packed->n, kp = packed->k_padded;
  QJIT_CHECK_GEN(kSub, k == packed->k, "the input has K = {}, the packed weights K = {}", k, packed->k);
  Tensor y = Tensor::empty({m, n}, out_dtype, Device::cpu());
  if (m == 0) return y;
  const auto driver = host_driver();
  const jit::impls::HostIsa isa = jit::impls::host_isa();
  const ActScale mode = act_mode(rule);

  Workspace& ws = workspace();
  ws.codes.resize(static_cast<std::size_t>(m * kp));
  ws.row_sums.resize(static_cast<std::size_t>(m));
  ws.scales.resize(mode == ActScale::kDynamicPerToken ? static_cast<std::size_t>(m) : 1);
  if (mode == ActScale::kDynamicPerTensor) ws.row_amax.resize(static_cast<std::size_t>(m));
  if (mode == ActScale::kStaticPerTensor) {
    ws.scales[0] = check_static_scale(*o.act_scale, kSub, /*need_value=*/true);
  }

  const jit::impls::HostActQuantConfig qc;
  const jit::KernelSpec qspec = jit::impls::host_act_quant_spec({x.dtype(), mode, isa}, qc);
  jit::impls::HostActQuantParams qp;
  qp.x = address_of(x.raw_data_ptr());
  qp.x_row_stride = k;
  qp.q = address_of(ws.codes.data());
  qp.q_row_stride = kp;
  qp.scales = address_of(ws.scales.data());
  qp.row_sums = address_of(ws.row_sums.data());
  qp.row_amax = address_of(ws.row_amax.data());
  qp.m = static_cast<std::int32_t>(m);
  qp.k = static_cast<std::int32_t>(k);
  qp.k_padded = static_cast<std::int32_t>(kp);
  qp.rows_per_block = qc.rows_per_block;
  LaunchConfig qlaunch;
  qlaunch.grid.x = static_cast<unsigned>(ceil_div(m, qc.rows_per_block));
  KernelCache& cache = KernelCache::global();
  if (mode == ActScale::kDynamicPerTensor) {
    cache.get(driver, qspec, jit::impls::kHostActAmaxRows).launch(qlaunch, qp);
  }
  cache.get(driver, qspec, jit::impls::kHostActQuantRows).launch(qlaunch, qp);

  std::optional<Tensor> bias;
  if (o.bias) bias = o.bias->to(Device::cpu()).contiguous();
  const jit::impls::HostQGemmDesc gd{out_dtype, bias ? std::optional<DType>(bias->dtype()) : std::nullopt,
                                     o.activation, isa};
  const jit::impls::HostQGemmConfig gc = jit::impls::host_qgemm_heuristic(gd, m, n, k);
  jit::impls::HostQGemmParams gp;
  gp.a = address_of(ws.codes.data());
  gp.lda = kp;
  gp.a_row_sums = address_of(ws.row_sums.data());
  gp.a_scales = address_of(ws.scales.data());
  gp.a_scale_stride = mode == ActScale::kDynamicPerToken ? 1 : 0;
  gp.w_packed = address_of(packed->panels.data());
  gp.w_scales = address_of(packed->scales.data());
  gp.w_scale_stride = packed->per_channel ? 1 : 0;
  gp.bias = bias ? address_of(bias->raw_data_ptr()) : jit::DeviceAddress(0);
  gp.out = address_of(y.raw_data_ptr());
  gp.ldo = n;
  gp.m = static_cast<std::int32_t>(m);
  gp.n = static_cast<std::int32_t>(n);
  gp.k_padded = static_cast<std::int32_t>(kp);
  LaunchConfig glaunch;
  glaunch.grid.x = static_cast<unsigned>(ceil_div(n, gc.nc));
  glaunch.grid.y = static_cast<unsigned>(ceil_div(m, gc.mc));
  cache.get(driver, jit::impls::host_qgemm_spec(gd, gc), jit::impls::kHostQGemmInt8).launch(glaunch, gp);
  if (trace) {
    const char* isa_name = jit::impls::host_isa_name(isa);
    trace->steps.push_back(fmt::format("host act_quant {} int8 ({})", act_mode_name(mode), isa_name));
    trace->steps.push_back(fmt::format("host qgemm_int8 {}x{} tile, {}x{} block, kc {} ({}, {} threads)", gc.mr,
                                       gc.nb * kHostPanel, gc.mc, gc.nc, gc.kc, isa_name, driver->threads()));
  }
  return y;
}

}  // namespace qjit
