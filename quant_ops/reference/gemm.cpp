#include "quant_ops/reference/gemm.hpp"

#include <cfenv>

#include "common/error.hpp"
#include "quant_ops/reference/gemm_accumulate.hpp"
#include "runtime/float_convert.hpp"

namespace qjit::reference {

namespace {

bool is_fp8(QType q) { return q == QType::kE4M3 || q == QType::kE5M2; }

std::int64_t checked_mul(std::int64_t a, std::int64_t b, const char* what) {
  std::int64_t r = 0;
  QJIT_CHECK_GEN("quant_ops", !__builtin_mul_overflow(a, b, &r), "GEMM {} [{}, {}] is too large", what, a, b);
  return r;
}

void check_operand(const QuantOperand& o, const char* what, std::int64_t rows, std::int64_t k,
                   std::int64_t want_scales) {
  const std::int64_t want_q = checked_mul(rows, k, what);
  QJIT_CHECK_GEN("quant_ops", static_cast<std::int64_t>(o.q.size()) == want_q,
                 "GEMM {} hold {} quantized values, shape [{}, {}] needs {}", what, o.q.size(), rows, k, want_q);
  QJIT_CHECK_GEN("quant_ops", static_cast<std::int64_t>(o.scales.size()) == want_scales,
                 "GEMM {} ({} [{}, {}]) hold {} scales, the logical layout has {}", what,
                 granularity_name(o.granularity), rows, k, o.scales.size(), want_scales);
  QJIT_CHECK_GEN("quant_ops", want_q == 0 || o.q.data() != nullptr, "GEMM {} have no data", what);
}

void check_act_float(const GemmProblem& p) {
  const ActView& x = p.act_float;
  QJIT_CHECK_GEN("quant_ops", x.dtype == DType::kF16 || x.dtype == DType::kBF16,
                 "weight-only GEMM activations must be f16 or bf16, got {}", dtype_name(x.dtype));
  QJIT_CHECK_GEN("quant_ops", x.rows == p.m && x.cols == p.k,
                 "weight-only GEMM activations are [{}, {}], the problem needs [{}, {}]", x.rows, x.cols, p.m, p.k);
  if (p.m == 0 || p.k == 0) return;
  QJIT_CHECK_GEN("quant_ops", x.row_stride >= x.cols, "weight-only GEMM activations: row stride {} < K = {}",
                 x.row_stride, x.cols);
  checked_mul(x.rows, x.row_stride, "activations");
  QJIT_CHECK_GEN("quant_ops", x.data != nullptr, "weight-only GEMM activations have no data");
}

void check_problem(const GemmProblem& p, GemmFamily family) {
  QJIT_CHECK_GEN("quant_ops", p.m >= 0 && p.n >= 0 && p.k >= 0, "bad GEMM shape M={} N={} K={}", p.m, p.n, p.k);
  if (family == GemmFamily::kInt8) {
    // NOTE: checked before anything else looks at the data: an exact int32 accumulation is
    // what makes int8 bit-identical across devices.
    QJIT_CHECK_GEN("quant_ops", p.k <= kMaxInt8K,
                   "int8 GEMM with K = {} could overflow its int32 accumulator (127 * 127 * K > 2^31 - 1); "
                   "K must be <= {}",
                   p.k, kMaxInt8K);
  }
  if (family == GemmFamily::kWeightOnly) {
    check_act_float(p);
  } else {
    check_operand(p.act, "activations", p.m, p.k, act_scale_count(p.m, p.k, p.act.granularity));
  }
  check_operand(p.weight, "weights", p.n, p.k, weight_scale_count(p.n, p.k, p.weight.granularity));
  checked_mul(p.m, p.n, "output");
  check_epilogue(p.epilogue);
}

std::int64_t k_blocks(std::int64_t k) { return (k + kKBlock - 1) / kKBlock; }

}  // namespace

QuantOperand QuantOperand::of(const QuantizedActs& a) { return {a.qtype, a.granularity, a.q, a.scales}; }
QuantOperand QuantOperand::of(const QuantizedWeights& w) { return {w.qtype, w.granularity, w.q, w.scales}; }

GemmProblem make_gemm_problem(const QuantizedActs& a, const QuantizedWeights& w, const GemmEpilogue& e) {
  QJIT_CHECK_GEN("quant_ops", a.cols == w.cols, "GEMM activations [{}, {}] and weights [{}, {}] differ in K", a.rows,
                 a.cols, w.rows, w.cols);
  GemmProblem p;
  p.m = a.rows;
  p.n = w.rows;
  p.k = a.cols;
  p.act = QuantOperand::of(a);
  p.weight = QuantOperand::of(w);
  p.epilogue = e;
  return p;
}

GemmProblem make_gemm_problem(const ActView& x, const QuantizedWeights& w, const GemmEpilogue& e) {
  QJIT_CHECK_GEN("quant_ops", x.cols == w.cols, "GEMM activations [{}, {}] and weights [{}, {}] differ in K", x.rows,
                 x.cols, w.rows, w.cols);
  GemmProblem p;
  p.m = x.rows;
  p.n = w.rows;
  p.k = x.cols;
  p.act_float = x;
  p.weight = QuantOperand::of(w);
  p.epilogue = e;
  return p;
}

std::string_view gemm_family_name(GemmFamily f) {
  switch (f) {
    case GemmFamily::kInt8: return "int8";
    case GemmFamily::kFp8: return "fp8";
    case GemmFamily::kBlockFp8: return "block_fp8";
    case GemmFamily::kWeightOnly: return "weight_only";
  }
  return "?";
}

GemmFamily gemm_family(const GemmProblem& p) {
  const QType qa = p.act.qtype;
  const QType qw = p.weight.qtype;
  const Granularity ga = p.act.granularity;
  const Granularity gw = p.weight.granularity;
  QJIT_CHECK_GEN("quant_ops", qw != QType::kNone, "GEMM weights must be quantized (int8, fp8_e4m3 or fp8_e5m2)");
  QJIT_CHECK_GEN("quant_ops",
                 gw == Granularity::kPerChannel || gw == Granularity::kPerTensor || gw == Granularity::kBlock128,
                 "GEMM weights take per_channel, per_tensor or block128 scales, got {}", granularity_name(gw));
  if (qa == QType::kNone) return GemmFamily::kWeightOnly;
  QJIT_CHECK_GEN("quant_ops",
                 ga == Granularity::kPerToken || ga == Granularity::kPerTensor || ga == Granularity::kGroup128,
                 "GEMM activations take per_token, per_tensor or group128 scales, got {}", granularity_name(ga));
  const bool block = ga == Granularity::kGroup128 || gw == Granularity::kBlock128;
  if (qa == QType::kInt8 && qw == QType::kInt8) {
    QJIT_CHECK_GEN("quant_ops", !block,
                   "int8 GEMM takes per_token/per_tensor x per_channel/per_tensor scales, got {} x {} "
                   "(block scales are fp8 only)",
                   granularity_name(ga), granularity_name(gw));
    return GemmFamily::kInt8;
  }
  QJIT_CHECK_GEN("quant_ops", is_fp8(qa) && is_fp8(qw),
                 "no GEMM family for {} activations x {} weights (W8A8 needs int8 x int8 or fp8 x fp8)",
                 qtype_name(qa), qtype_name(qw));
  if (!block) return GemmFamily::kFp8;
  QJIT_CHECK_GEN("quant_ops", ga == Granularity::kGroup128 && gw == Granularity::kBlock128,
                 "block-fp8 GEMM needs group128 activations and block128 weights, got {} x {}",
                 granularity_name(ga), granularity_name(gw));
  return GemmFamily::kBlockFp8;
}

GemmOutput reference_gemm(const GemmProblem& p) {
  const GemmFamily family = gemm_family(p);
  check_problem(p, family);
  // NOTE: every formula of section 5 assumes round to nearest even.
  QJIT_CHECK_GEN("quant_ops", std::fegetround() == FE_TONEAREST,
                 "the reference numerics need the default rounding mode (FE_TONEAREST)");

  std::vector<float> acc;
  switch (family) {
    case GemmFamily::kInt8: acc = detail::int8_accumulate(p); break;
    case GemmFamily::kFp8: acc = detail::fp8_accumulate(p); break;
    case GemmFamily::kBlockFp8: acc = detail::block_fp8_accumulate(p); break;
    case GemmFamily::kWeightOnly: acc = detail::weight_only_accumulate(p); break;
  }
  // Block-fp8 applied its scales per K block and weight-only in the dequantized weight.
  const bool scaled_in_epilogue = family == GemmFamily::kInt8 || family == GemmFamily::kFp8;

  const GemmEpilogue& e = p.epilogue;
  GemmOutput out;
  out.dtype = e.out_dtype;
  out.rows = p.m;
  out.cols = p.n;
  out.values.resize(static_cast<std::size_t>(p.m * p.n));
  if (e.out_dtype != DType::kF32) out.bits.resize(out.values.size());
  for (std::int64_t m = 0; m < p.m; ++m) {
    for (std::int64_t n = 0; n < p.n; ++n) {
      const std::size_t i = static_cast<std::size_t>(m * p.n + n);
      const float s = scaled_in_epilogue ? detail::operand_scale(p.act, p.k, m, 0) *
                                               detail::operand_scale(p.weight, p.k, n, 0)
                                         : 1.0f;
      const float y = epilogue_value(acc[i], s, bias_value(e, n), e.activation);
      switch (e.out_dtype) {
        case DType::kF16: out.bits[i] = f32_to_f16(y); out.values[i] = f16_to_f32(out.bits[i]); break;
        case DType::kBF16: out.bits[i] = f32_to_bf16(y); out.values[i] = bf16_to_f32(out.bits[i]); break;
        default: out.values[i] = y; break;
      }
    }
  }
  return out;
}

namespace detail {

float operand_scale(const QuantOperand& o, std::int64_t cols, std::int64_t row, std::int64_t col) {
  switch (o.granularity) {
    case Granularity::kPerTensor: return o.scales[0];
    case Granularity::kPerToken:
    case Granularity::kPerChannel: return o.scales[static_cast<std::size_t>(row)];
    case Granularity::kGroup128: return o.scales[static_cast<std::size_t>(row * k_blocks(cols) + col / kKBlock)];
    case Granularity::kBlock128:
      return o.scales[static_cast<std::size_t>((row / kKBlock) * k_blocks(cols) + col / kKBlock)];
  }
  QJIT_THROW("quant_ops", "bad granularity");
}

}  // namespace detail

}  // namespace qjit::reference
