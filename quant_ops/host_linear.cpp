#include "quant_ops/host_linear.hpp"

#include <fmt/format.h>

#include <array>
#include <atomic>
#include <memory>

#include "common/error.hpp"
#include "quant_ops/act_quant.hpp"
#include "quant_ops/reference/quantize_value.hpp"
#include "quant_ops/tuning.hpp"
#include "runtime/float_convert.hpp"
#include "runtime/host_driver.hpp"
#include "runtime/kernels.hpp"

namespace qjit {

namespace {

using jit::impls::HostAccum;
using jit::impls::kHostPanel;

constexpr const char* kSub = "linear";
constexpr std::int64_t kBlock = 128;  // the fp8 K block, group128 and block128

enum class HostPath { kInt8, kFp8, kBlockFp8, kWeightOnly };

bool is_fp8(QType q) { return q == QType::kE4M3 || q == QType::kE5M2; }

bool per_channel_or_tensor(Granularity g) { return g == Granularity::kPerChannel || g == Granularity::kPerTensor; }

bool token_tensor_or_static(const ResolvedRule& rule) {
  return rule.act_static_scale || rule.act_granularity == Granularity::kPerToken ||
         rule.act_granularity == Granularity::kPerTensor;
}

// What the float GEMM sums for a path other than kInt8 (jit/impls/host_gemm_bf16.hpp).
HostAccum float_accum(HostPath path) {
  return path == HostPath::kFp8        ? HostAccum::kBlock128
         : path == HostPath::kBlockFp8 ? HostAccum::kBlock128Scaled
                                       : HostAccum::kSequential;
}

std::optional<HostPath> host_path(const ResolvedRule& rule) {
  if (rule.act == QType::kNone) return rule.weight != QType::kNone ? std::optional(HostPath::kWeightOnly) : std::nullopt;
  if (rule.weight == QType::kInt8 && rule.act == QType::kInt8) {
    if (per_channel_or_tensor(rule.weight_granularity) && token_tensor_or_static(rule)) return HostPath::kInt8;
    return std::nullopt;
  }
  if (!is_fp8(rule.weight) || !is_fp8(rule.act)) return std::nullopt;
  if (per_channel_or_tensor(rule.weight_granularity) && token_tensor_or_static(rule)) return HostPath::kFp8;
  if (rule.weight_granularity == Granularity::kBlock128 && !rule.act_static_scale &&
      rule.act_granularity == Granularity::kGroup128) {
    return HostPath::kBlockFp8;
  }
  return std::nullopt;
}

ActScale act_mode(const ResolvedRule& rule) {
  if (rule.act_static_scale) return ActScale::kStaticPerTensor;
  switch (rule.act_granularity) {
    case Granularity::kPerTensor: return ActScale::kDynamicPerTensor;
    case Granularity::kGroup128: return ActScale::kDynamicGroup128;
    default: return ActScale::kDynamicPerToken;
  }
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

// The activations of one call, reused by the calling thread's next call (a warm forward
// allocates nothing for them).
struct Workspace {
  std::vector<std::int8_t> codes;     // int8
  std::vector<std::uint16_t> values;  // fp8 values as bf16; weight-only's padded copy
  std::vector<float> scales, row_amax;
  std::vector<std::int32_t> row_sums;
};

Workspace& workspace() {
  thread_local Workspace w;
  return w;
}

// x [m, k] quantized by the host act_quant family into ws: int8 codes [m, kp] with row sums,
// or fp8 values [m, kp] as bf16; scales as the mode lays them out.
void quantize_rows(const Tensor& x, const ResolvedRule& rule, const LinearOptions& o, std::int64_t kp,
                   Workspace& ws, jit::impls::HostIsa isa) {
  const std::int64_t m = x.size(0), k = x.size(1);
  const ActScale mode = act_mode(rule);
  const bool int8 = rule.act == QType::kInt8;
  void* q = nullptr;
  if (int8) {
    ws.codes.resize(static_cast<std::size_t>(m * kp));
    ws.row_sums.resize(static_cast<std::size_t>(m));
    q = ws.codes.data();
  } else {
    ws.values.resize(static_cast<std::size_t>(m * kp));
    q = ws.values.data();
  }
  std::size_t scales = 1;
  if (mode == ActScale::kDynamicPerToken) scales = static_cast<std::size_t>(m);
  if (mode == ActScale::kDynamicGroup128) scales = static_cast<std::size_t>(m * ceil_div(k, kBlock));
  ws.scales.resize(scales);
  if (mode == ActScale::kDynamicPerTensor) ws.row_amax.resize(static_cast<std::size_t>(m));
  if (mode == ActScale::kStaticPerTensor) ws.scales[0] = check_static_scale(*o.act_scale, kSub, /*need_value=*/true);

  const jit::impls::HostActQuantConfig qc;
  const jit::KernelSpec spec = jit::impls::host_act_quant_spec({x.dtype(), mode, rule.act, isa}, qc);
  jit::impls::HostActQuantParams p;
  p.x = address_of(x.raw_data_ptr());
  p.x_row_stride = k;
  p.q = address_of(q);
  p.q_row_stride = kp * (int8 ? 1 : 2);
  p.scales = address_of(ws.scales.data());
  p.row_sums = address_of(ws.row_sums.data());
  p.row_amax = address_of(ws.row_amax.data());
  p.m = static_cast<std::int32_t>(m);
  p.k = static_cast<std::int32_t>(k);
  p.k_padded = static_cast<std::int32_t>(kp);
  p.rows_per_block = qc.rows_per_block;
  LaunchConfig launch;
  launch.grid.x = static_cast<unsigned>(ceil_div(m, qc.rows_per_block));
  const auto driver = host_driver();
  KernelCache& cache = KernelCache::global();
  if (mode == ActScale::kDynamicPerTensor) cache.get(driver, spec, jit::impls::kHostActAmaxRows).launch(launch, p);
  cache.get(driver, spec, jit::impls::kHostActQuantRows).launch(launch, p);
}

Tensor run_int8(const Tensor& x, const HostPackedWeight& w, const ResolvedRule& rule, const LinearOptions& o,
                const std::optional<Tensor>& bias, DType out_dtype, jit::impls::HostIsa isa, LinearTrace* trace) {
  const std::int64_t m = x.size(0), n = w.n, kp = w.k_padded;
  Tensor y = Tensor::empty({m, n}, out_dtype, Device::cpu());
  Workspace& ws = workspace();
  quantize_rows(x, rule, o, kp, ws, isa);
  const jit::impls::HostQGemmDesc gd{out_dtype, bias ? std::optional<DType>(bias->dtype()) : std::nullopt,
                                     o.activation, isa};
  const jit::impls::HostQGemmConfig gc = o.host_int8_config ? *o.host_int8_config : host_qgemm_config(gd, m, n, w.k);
  jit::impls::HostQGemmParams gp;
  gp.a = address_of(ws.codes.data());
  gp.lda = kp;
  gp.a_row_sums = address_of(ws.row_sums.data());
  gp.a_scales = address_of(ws.scales.data());
  gp.a_scale_stride = act_mode(rule) == ActScale::kDynamicPerToken ? 1 : 0;
  gp.w_packed = address_of(w.panels.data());
  gp.w_scales = address_of(w.scales.data());
  gp.w_scale_stride = w.per_channel ? 1 : 0;
  gp.bias = bias ? address_of(bias->raw_data_ptr()) : jit::DeviceAddress(0);
  gp.out = address_of(y.raw_data_ptr());
  gp.ldo = n;
  gp.m = static_cast<std::int32_t>(m);
  gp.n = static_cast<std::int32_t>(n);
  gp.k_padded = static_cast<std::int32_t>(kp);
  LaunchConfig launch;
  launch.grid.x = static_cast<unsigned>(ceil_div(n, gc.nc));
  launch.grid.y = static_cast<unsigned>(ceil_div(m, gc.mc));
  launch.max_threads = static_cast<unsigned>(gc.threads);
  const auto driver = host_driver();
  KernelCache::global().get(driver, jit::impls::host_qgemm_spec(gd, gc), jit::impls::kHostQGemmInt8).launch(launch, gp);
  if (trace) {
    trace->steps.push_back(fmt::format("host qgemm_int8 {}x{} tile, {}x{} block, kc {} ({}, {} threads)", gc.mr,
                                       gc.nb * kHostPanel, gc.mc, gc.nc, gc.kc, jit::impls::host_isa_name(isa),
                                       driver->launch_threads(launch)));
  }
  return y;
}

// channel c's K values through `value(byte, k)`, rounded to bf16.
HostBf16Weight pack_values(const Tensor& q,
                           const std::function<float(std::uint8_t, std::int64_t, std::int64_t)>& value) {
  const auto* codes = static_cast<const std::uint8_t*>(q.raw_data_ptr());
  const std::int64_t k = q.size(1);
  return pack_host_bf16_weight(q.size(0), k, [&](std::int64_t c, std::uint16_t* dst) {
    for (std::int64_t i = 0; i < k; ++i) dst[i] = f32_to_bf16(value(codes[c * k + i], c, i));
  });
}

}  // namespace

bool host_kernels_support(const ResolvedRule& rule, std::optional<DType> x) {
  const std::optional<HostPath> path = host_path(rule);
  if (!path) return false;
  return *path != HostPath::kWeightOnly || !x || *x == DType::kBF16 || *x == DType::kF16;
}

jit::impls::HostGemmBf16Desc host_float_gemm_desc(const ResolvedRule& rule, DType out_dtype) {
  const std::optional<HostPath> path = host_path(rule);
  QJIT_CHECK_GEN(kSub, path && *path != HostPath::kInt8, "rule '{}' does not run the cpu device's float GEMM", rule.label);
  HostGemmBf16Call call;
  call.out = out_dtype;
  call.accum = float_accum(*path);
  return host_gemm_bf16_desc(call);
}

std::shared_ptr<const HostPackedWeight> pack_for_host(const QuantizedWeight& w, const ResolvedRule& rule) {
  const std::optional<HostPath> path = host_path(rule);
  QJIT_CHECK_GEN(kSub, path.has_value(), "rule '{}' has no cpu kernels to pack its weights for", rule.label);
  QJIT_CHECK_GEN(kSub, w.qtype == rule.weight && w.granularity == rule.weight_granularity,
                 "the weights were quantized {} {}, rule '{}' wants {} {}", qtype_name(w.qtype),
                 granularity_name(w.granularity), rule.label, qtype_name(rule.weight),
                 granularity_name(rule.weight_granularity));
  const Tensor q = w.q.to(Device::cpu()).contiguous();
  auto p = std::make_shared<HostPackedWeight>();
  p->n = q.size(0);
  p->k = q.size(1);
  p->per_channel = w.granularity == Granularity::kPerChannel;
  const std::vector<float> scales = w.scales.to_f32_vector();
  std::array<float, 256> decoded{};
  for (int b = 0; b < 256; ++b) decoded[b] = reference::decode_value(w.qtype, static_cast<std::uint8_t>(b));
  switch (*path) {
    case HostPath::kInt8: {
      p->scales = scales;
      p->k_padded = jit::impls::host_k_padded(p->k);
      const std::int64_t panel_bytes = p->k_padded * kHostPanel;
      p->panels.assign(static_cast<std::size_t>(ceil_div(p->n, kHostPanel) * panel_bytes), 128);
      const auto* codes = static_cast<const std::int8_t*>(q.raw_data_ptr());
      for (std::int64_t n = 0; n < p->n; ++n) {
        std::uint8_t* panel = p->panels.data() + (n / kHostPanel) * panel_bytes + (n % kHostPanel) * 4;
        const std::int8_t* row = codes + n * p->k;
        for (std::int64_t k = 0; k < p->k; ++k) {
          panel[(k / 4) * 64 + (k % 4)] = static_cast<std::uint8_t>(static_cast<int>(row[k]) + 128);
        }
      }
      break;
    }
    case HostPath::kFp8:
    case HostPath::kBlockFp8:
      // NOTE: an fp8 value has at most 4 significant bits: exact in bf16.
      p->scales = scales;
      p->bf16 = pack_values(q, [&](std::uint8_t b, std::int64_t, std::int64_t) { return decoded[b]; });
      break;
    case HostPath::kWeightOnly: {
      // The reference's weight-only operand: decode(q) * scale in f32, rounded to bf16
      // (weight-only weights are per-channel or per-tensor: rule.cpp).
      const bool per_channel = p->per_channel;
      p->bf16 = pack_values(q, [&](std::uint8_t b, std::int64_t c, std::int64_t) {
        return decoded[b] * scales[per_channel ? static_cast<std::size_t>(c) : 0];
      });
      break;
    }
  }
  return p;
}

namespace {

// Weight-only on f16 activations: the f16 / f32 GEMM kernel on the reference's operand,
// decode(q) * scale rounded to f16 (quant_ops/reference/gemm.hpp), packed on the first call;
// the products are exact and K is summed in the reference's order: the reference's bits.
Tensor run_weight_only_f16(const Tensor& x, const QuantizedWeight& w, const HostPackedWeight& packed,
                           const LinearOptions& o, const std::optional<Tensor>& bias, DType out_dtype,
                           LinearTrace* trace) {
  std::shared_ptr<const HostF32Weight> f16 = std::atomic_load(&packed.f16);
  if (!f16) {
    const Tensor q = w.q.to(Device::cpu()).contiguous();
    const std::vector<float> scales = w.scales.to_f32_vector();
    std::array<float, 256> decoded{};
    for (int b = 0; b < 256; ++b) decoded[b] = reference::decode_value(w.qtype, static_cast<std::uint8_t>(b));
    const auto* codes = static_cast<const std::uint8_t*>(q.raw_data_ptr());
    std::vector<float> values(static_cast<std::size_t>(packed.n * packed.k));
    for (std::int64_t c = 0; c < packed.n; ++c) {
      const float s = scales[packed.per_channel ? static_cast<std::size_t>(c) : 0];
      for (std::int64_t i = 0; i < packed.k; ++i) values[c * packed.k + i] = decoded[codes[c * packed.k + i]] * s;
    }
    f16 = std::make_shared<const HostF32Weight>(
        pack_host_f32_weight(Tensor::from_vector<float>({packed.n, packed.k}, values, DType::kF16)));
    std::atomic_store(&packed.f16, f16);
  }
  const jit::impls::HostGemmF32Desc desc = host_gemm_f32_desc(*f16, bias, o.activation, out_dtype);
  const jit::impls::HostGemmF32Config config =
      o.host_f32_config ? *o.host_f32_config : host_gemm_f32_config(desc, x.size(0), f16->n, f16->k);
  if (trace) {
    trace->steps.push_back(fmt::format("host gemm_f32 f16 {}x{} tile, {}x{} block, kc {} ({}, {} threads)", config.mr,
                                       config.nb * kHostPanel, config.mc, config.nc, config.kc,
                                       jit::impls::host_isa_name(jit::impls::host_gemm_f32_isa(desc.isa)),
                                       host_driver()->launch_threads(host_gemm_f32_launch(x.size(0), f16->n, config))));
  }
  return host_gemm_f32(*f16, x, bias, o.activation, out_dtype, config);
}

}  // namespace

Tensor host_linear_forward(const Tensor& x2d_in, const QuantizedWeight& w, const ResolvedRule& rule,
                           const LinearOptions& o, DType out_dtype, LinearTrace* trace) {
  QJIT_CHECK_GEN(kSub, host_kernels_support(rule, x2d_in.dtype()), "rule '{}' on {} activations has no cpu kernels",
                 rule.label, dtype_name(x2d_in.dtype()));
  const HostPath path = *host_path(rule);
  std::shared_ptr<const HostPackedWeight> packed = w.host_packed ? w.host_packed : pack_for_host(w, rule);
  const Tensor x = x2d_in.to(Device::cpu()).contiguous();
  const std::int64_t m = x.size(0), k = x.size(1), n = packed->n;
  QJIT_CHECK_GEN(kSub, k == packed->k, "the input has K = {}, the packed weights K = {}", k, packed->k);
  QJIT_CHECK_GEN(kSub, m <= 2147483647ll && k <= 1073741823ll, "the input [{}, {}] is too large for the cpu kernels",
                 m, k);
  if (m == 0) return Tensor::empty({m, n}, out_dtype, Device::cpu());
  const jit::impls::HostIsa isa = jit::impls::host_isa();
  std::optional<Tensor> bias;
  if (o.bias) bias = o.bias->to(Device::cpu()).contiguous();
  if (trace && path != HostPath::kWeightOnly) {
    trace->steps.push_back(fmt::format("host act_quant {} {} ({})", act_mode_name(act_mode(rule)),
                                       qtype_name(rule.act), jit::impls::host_isa_name(isa)));
  }
  if (path == HostPath::kInt8) return run_int8(x, *packed, rule, o, bias, out_dtype, isa, trace);
  if (path == HostPath::kWeightOnly && x.dtype() == DType::kF16) {
    return run_weight_only_f16(x, w, *packed, o, bias, out_dtype, trace);
  }

  Workspace& ws = workspace();
  HostGemmBf16Call call;
  call.bias = bias;
  call.activation = o.activation;
  call.out = out_dtype;
  std::string step;
  if (trace) call.trace = &step;
  if (path == HostPath::kWeightOnly) {
    call.a = host_bf16_rows(x, ws.values);
  } else {
    const std::int64_t kp = 2 * packed->bf16.k_pairs;
    quantize_rows(x, rule, o, kp, ws, isa);
    call.a = {ws.values.data(), m, kp};
    call.a_scales = ws.scales.data();
    call.w_scales = packed->scales.data();
    if (path == HostPath::kFp8) {
      call.a_scale_stride = act_mode(rule) == ActScale::kDynamicPerToken ? 1 : 0;
      call.w_scale_stride = packed->per_channel ? 1 : 0;
    } else {
      call.a_scale_stride = call.w_scale_stride = ceil_div(k, kBlock);
    }
  }
  call.accum = float_accum(path);
  call.config = o.host_bf16_config ? *o.host_bf16_config : host_gemm_bf16_config(host_gemm_bf16_desc(call), m, n, k);
  Tensor y = host_gemm_bf16(packed->bf16, call);
  if (trace) trace->steps.push_back(step);
  return y;
}

}  // namespace qjit
