// Synthetic Wan weights and inputs (see wan_synthetic.hpp for what and why): a counter-based
// splitmix64 generator, Box-Muller with log/sin/cos spelled out in IEEE double arithmetic,
// and per-parameter init rules keyed on native names.

#include "runtime/models/wan_synthetic.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <thread>

#include "common/error.hpp"
#include "common/memory.hpp"
#include "runtime/float_convert.hpp"
#include "runtime/models/wan_params.hpp"

namespace qjit {

namespace {

constexpr std::uint64_t kGolden = 0x9E3779B97F4A7C15ull;  // splitmix64's increment
constexpr double kLn2 = 0x1.62e42fefa39efp-1;
constexpr double kHalfPi = 0x1.921fb54442d18p+0;
constexpr double kTwoPow53 = 0x1p-53;

std::uint64_t mix(std::uint64_t z) {  // splitmix64's output function
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// NOTE: the series below use only + - * / on doubles; with -ffp-contract=off (the project's
// flags) and SSE2/IEEE doubles every platform computes the same bits, which libm's log/sin/cos
// do not promise.
struct Series {
  std::array<double, 12> log_odd;  // 1 / (2k + 1)
  std::array<double, 12> sin;      // (-1)^k / (2k + 1)!
  std::array<double, 12> cos;      // (-1)^k / (2k)!
  Series() {
    double fact = 1.0;  // (n)!
    for (int k = 0; k < 12; ++k) {
      log_odd[k] = 1.0 / static_cast<double>(2 * k + 1);
      if (k > 0) fact *= static_cast<double>(2 * k - 1) * static_cast<double>(2 * k);
      cos[k] = (k % 2 ? -1.0 : 1.0) / fact;
      sin[k] = (k % 2 ? -1.0 : 1.0) / (fact * static_cast<double>(2 * k + 1));
    }
  }
};
const Series& series() {
  static const Series s;
  return s;
}

// log(x) for x in (0, 1]: x = m 2^e with m in [sqrt(1/2), sqrt(2)), log m = 2 atanh(s),
// s = (m - 1) / (m + 1), |s| <= 0.1716: 12 terms of the odd series leave < 1e-17.
double log_unit(double x) {
  int e = 0;
  double m = std::frexp(x, &e);  // exact
  if (m < 0x1.6a09e667f3bcdp-1) {
    m *= 2.0;
    e -= 1;
  }
  const double s = (m - 1.0) / (m + 1.0);
  const double s2 = s * s;
  const auto& c = series().log_odd;
  double p = c[11];
  for (int k = 10; k >= 0; --k) p = p * s2 + c[k];
  return static_cast<double>(e) * kLn2 + 2.0 * s * p;
}

// cos and sin of 2 pi u for u in [0, 1): quadrant q = floor(4u) (exact), theta = (4u - q)
// pi / 2 in [0, pi / 2), Taylor to degree 23 / 22 (error < 1e-17 there).
void cos_sin_turn(double u, double& c, double& s) {
  const double four_u = 4.0 * u;  // exact
  const double q = std::floor(four_u);
  const double theta = (four_u - q) * kHalfPi;
  const double t2 = theta * theta;
  const auto& S = series();
  double ps = S.sin[11], pc = S.cos[11];
  for (int k = 10; k >= 0; --k) {
    ps = ps * t2 + S.sin[k];
    pc = pc * t2 + S.cos[k];
  }
  const double st = theta * ps, ct = pc;
  switch (static_cast<int>(q)) {
    case 0: c = ct, s = st; break;
    case 1: c = -st, s = ct; break;
    case 2: c = -ct, s = -st; break;
    default: c = st, s = -ct; break;
  }
}

// A fill rule: writes the values of elements [begin, begin + count) as f32 (each computed
// in double and rounded once). One call per block, so the per-element work inlines.
using Rule = std::function<void(std::uint64_t begin, std::size_t count, float* out)>;

template <typename F>
Rule per_element(F f) {  // f: element index -> double
  return [f](std::uint64_t begin, std::size_t count, float* out) {
    for (std::size_t k = 0; k < count; ++k) out[k] = static_cast<float>(f(begin + k));
  };
}

// Fills a contiguous cpu tensor of f32/f16/bf16 by the rule, in blocks, on several threads
// for large tensors: every element depends on its index only, so the bytes do not depend on
// the split.
void fill(Tensor& t, const Rule& rule) {
  const auto n = static_cast<std::uint64_t>(t.numel());
  const DType dtype = t.dtype();
  void* base = t.raw_data_ptr();
  const auto run = [&](std::uint64_t begin, std::uint64_t end) {
    constexpr std::uint64_t kBlock = 4096;
    std::vector<float> buf(kBlock);
    for (std::uint64_t b = begin; b < end; b += kBlock) {
      const auto count = static_cast<std::size_t>(std::min(kBlock, end - b));
      float* out = dtype == DType::kF32 ? static_cast<float*>(base) + b : buf.data();
      rule(b, count, out);
      if (dtype == DType::kF16) {
        for (std::size_t k = 0; k < count; ++k) static_cast<std::uint16_t*>(base)[b + k] = f32_to_f16(buf[k]);
      } else if (dtype == DType::kBF16) {
        for (std::size_t k = 0; k < count; ++k) static_cast<std::uint16_t*>(base)[b + k] = f32_to_bf16(buf[k]);
      }
    }
  };
  constexpr std::uint64_t kPerThread = 1u << 20;
  const std::uint64_t threads =
      std::min<std::uint64_t>({n / kPerThread, std::max(1u, std::thread::hardware_concurrency()), 16});
  if (threads <= 1) {
    run(0, n);
    return;
  }
  std::vector<std::thread> pool;
  const std::uint64_t chunk = (n + threads - 1) / threads;
  for (std::uint64_t k = 0; k < threads; ++k) {
    pool.emplace_back(run, std::min(n, k * chunk), std::min(n, (k + 1) * chunk));
  }
  for (std::thread& th : pool) th.join();
}

Tensor make(std::vector<std::int64_t> shape, DType dtype, const Rule& rule) {
  Tensor t = Tensor::empty(std::move(shape), dtype);
  fill(t, rule);
  return t;
}

// `count` distinct values of [0, n), ascending: a partial Fisher-Yates shuffle driven by
// the stream (Lemire's multiply-shift for the bounded draws).
std::vector<std::int64_t> choose_channels(std::int64_t n, std::int64_t count, std::uint64_t stream) {
  std::vector<std::int64_t> v(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = i;
  for (std::int64_t i = 0; i < count; ++i) {
    const auto range = static_cast<std::uint64_t>(n - i);
    const auto j = i + static_cast<std::int64_t>(
                           (static_cast<unsigned __int128>(synthetic_bits(stream, static_cast<std::uint64_t>(i))) * range) >> 64);
    std::swap(v[static_cast<std::size_t>(i)], v[static_cast<std::size_t>(j)]);
  }
  v.resize(static_cast<std::size_t>(count));
  std::sort(v.begin(), v.end());
  return v;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}
bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// The init rule of one parameter (see the header's table); `fan_in` of a bias is its
// weight's.
Rule rule_for(const ParamShape& p, std::uint64_t stream, std::int64_t fan_in, std::int64_t fan_out,
              const WanConfig& c, const std::vector<std::int64_t>& outlier_rank, std::uint64_t outlier_stream) {
  const std::string_view name = p.name;
  const auto normal = [stream](double mean, double std) -> Rule {
    return per_element([=](std::uint64_t i) { return mean + std * synthetic_normal(stream, i); });
  };
  const auto uniform = [stream](double bound) -> Rule {
    return per_element([=](std::uint64_t i) { return (2.0 * synthetic_uniform(stream, i) - 1.0) * bound; });
  };
  const double inv_sqrt_dim = 1.0 / std::sqrt(static_cast<double>(c.dim));
  if (name == "head.modulation") return normal(0.0, inv_sqrt_dim);
  if (ends_with(name, ".modulation")) {
    const auto dim = static_cast<std::uint64_t>(c.dim);
    return per_element([=, &outlier_rank](std::uint64_t i) {
      const std::uint64_t chunk = i / dim, channel = i % dim;
      const std::int64_t rank = outlier_rank[channel];
      if ((chunk == 1 || chunk == 4) && rank >= 0) {
        const std::uint64_t k = 2 * static_cast<std::uint64_t>(rank) + (chunk == 4 ? 1 : 0);
        return static_cast<double>(kOutlierScaleMin) +
               static_cast<double>(kOutlierScaleMax - kOutlierScaleMin) * synthetic_uniform(outlier_stream, k);
      }
      return inv_sqrt_dim * synthetic_normal(stream, i);
    });
  }
  if (ends_with(name, "norm_q.weight") || ends_with(name, "norm_k.weight") || ends_with(name, "norm3.weight")) {
    return normal(1.0, 0.05);
  }
  if (ends_with(name, "norm3.bias")) return normal(0.0, 0.02);
  if (ends_with(name, ".bias")) return uniform(1.0 / std::sqrt(static_cast<double>(fan_in)));
  if (starts_with(name, "text_embedding.") || starts_with(name, "time_embedding.")) return normal(0.0, 0.02);
  // Xavier uniform: Linear weights, and patch_embedding over weight.flatten(1).
  return uniform(std::sqrt(6.0 / static_cast<double>(fan_in + fan_out)));
}

}  // namespace

std::uint64_t synthetic_bits(std::uint64_t stream, std::uint64_t counter) { return mix(stream + (counter + 1) * kGolden); }

std::uint64_t synthetic_stream(std::uint64_t seed, std::string_view name) {
  std::uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a 64
  for (const char ch : name) {
    h ^= static_cast<unsigned char>(ch);
    h *= 0x100000001b3ull;
  }
  return mix(h ^ mix(seed + kGolden));
}

double synthetic_uniform(std::uint64_t stream, std::uint64_t index) {
  return static_cast<double>(synthetic_bits(stream, index) >> 11) * kTwoPow53;
}

double synthetic_normal(std::uint64_t stream, std::uint64_t index) {
  const std::uint64_t pair = index / 2;
  // u1 in (0, 1] so the log is finite; u2 in [0, 1).
  const double u1 = static_cast<double>((synthetic_bits(stream, 2 * pair) >> 11) + 1) * kTwoPow53;
  const double u2 = synthetic_uniform(stream, 2 * pair + 1);
  const double radius = std::sqrt(-2.0 * log_unit(u1));  // sqrt is correctly rounded (IEEE)
  double c = 0.0, s = 0.0;
  cos_sin_turn(u2, c, s);
  return radius * (index % 2 == 0 ? c : s);
}

std::vector<std::int64_t> wan_synthetic_outlier_channels(const WanConfig& config, std::uint64_t seed) {
  config.validate();
  return choose_channels(config.dim, std::max<std::int64_t>(1, config.dim / 256),
                         synthetic_stream(seed, "outlier_channels"));
}

std::map<std::string, Tensor> wan_synthetic_weights(const WanConfig& config, std::uint64_t seed, DType dtype) {
  QJIT_CHECK_GEN("model", dtype == DType::kF32 || dtype == DType::kF16 || dtype == DType::kBF16,
                 "wan_synthetic_weights: dtype {} is not f32, f16 or bf16", dtype_name(dtype));
  const std::vector<ParamShape> params = wan_parameters(config);  // validates the config
  std::vector<std::int64_t> outlier_rank(static_cast<std::size_t>(config.dim), -1);
  const std::vector<std::int64_t> outliers = wan_synthetic_outlier_channels(config, seed);
  for (std::size_t k = 0; k < outliers.size(); ++k) outlier_rank[static_cast<std::size_t>(outliers[k])] = static_cast<std::int64_t>(k);

  std::map<std::string, Tensor> out;
  std::int64_t fan_in = 0, fan_out = 0;  // of the last weight: a bias follows its weight
  for (const ParamShape& p : params) {
    if (ends_with(p.name, ".weight") && p.shape.size() >= 2) {
      fan_out = p.shape[0];
      fan_in = shape_numel(p.shape) / p.shape[0];  // Conv3d: in_dim * patch volume
    }
    const std::uint64_t stream = synthetic_stream(seed, p.name);
    // Per-block outlier values, so that blocks differ but share the channels.
    const std::uint64_t outlier_stream = synthetic_stream(seed, p.name + "#outliers");
    out.emplace(p.name, make(p.shape, dtype, rule_for(p, stream, fan_in, fan_out, config, outlier_rank, outlier_stream)));
  }
  return out;
}

std::vector<std::int64_t> wan_synthetic_context_outlier_channels(const WanConfig& config, std::uint64_t seed) {
  config.validate();
  return choose_channels(config.text_dim, std::max<std::int64_t>(1, config.text_dim / 256),
                         synthetic_stream(seed, "inputs.context_outlier_channels"));
}

void check_wan_synthetic_inputs(const WanConfig& config, std::int64_t batch, std::int64_t frames,
                                std::int64_t height, std::int64_t width, std::int64_t text_tokens) {
  config.validate();
  QJIT_CHECK_GEN("model", batch >= 1, "wan_synthetic_inputs: batch {} must be at least 1", batch);
  QJIT_CHECK_GEN("model", frames >= 1, "wan_synthetic_inputs: frames {} must be at least 1", frames);
  const auto [pt, ph, pw] = WanConfig::patch();
  QJIT_CHECK_GEN("model", height >= ph && height % ph == 0 && width >= pw && width % pw == 0,
                 "wan_synthetic_inputs: height x width {} x {} must be positive multiples of the patch {} x {}", height,
                 width, ph, pw);
  QJIT_CHECK_GEN("model", text_tokens >= 1 && text_tokens <= config.text_len,
                 "wan_synthetic_inputs: text_tokens {} must be in 1..{} (config {}'s text_len)", text_tokens,
                 config.text_len, config.name);
  // The forward's largest activation, the FFN's hidden [B, L, ffn_dim] in f32, must fit: a
  // grid a flag asked for by mistake is refused here, with what it needs, before any work.
  const double tokens = double(batch) * double(frames / pt) * double(height / ph) * double(width / pw);
  const double need = tokens * double(config.ffn_dim) * 4.0;
  check_host_memory(need >= 1.8e19 ? UINT64_MAX : static_cast<std::uint64_t>(need),
                    fmt::format("a forward of {} over {:.0f} video tokens ({} x {} x {} latent, batch {}) at its FFN "
                                "activation alone",
                                config.name, tokens, frames, height, width, batch),
                    "model");
}

WanInputs wan_synthetic_inputs(const WanConfig& config, std::int64_t batch, std::int64_t frames, std::int64_t height,
                               std::int64_t width, std::int64_t text_tokens, std::uint64_t seed) {
  check_wan_synthetic_inputs(config, batch, frames, height, width, text_tokens);

  WanInputs in;
  const std::uint64_t latent_stream = synthetic_stream(seed, "inputs.latents");
  in.latents = make({batch, config.in_dim, frames, height, width}, DType::kF32,
                    per_element([=](std::uint64_t i) { return synthetic_normal(latent_stream, i); }));

  const std::uint64_t time_stream = synthetic_stream(seed, "inputs.timesteps");
  // NOTE: u < 1 - 2^-53, and 1000 u rounds to at most 999.99994f, so every timestep is < 1000.
  in.timesteps =
      make({batch}, DType::kF32, per_element([=](std::uint64_t i) { return 1000.0 * synthetic_uniform(time_stream, i); }));

  std::vector<char> is_outlier(static_cast<std::size_t>(config.text_dim), 0);
  for (const std::int64_t ch : wan_synthetic_context_outlier_channels(config, seed)) is_outlier[static_cast<std::size_t>(ch)] = 1;
  const std::uint64_t context_stream = synthetic_stream(seed, "inputs.context");
  const auto text_dim = static_cast<std::uint64_t>(config.text_dim);
  in.context = make({batch, text_tokens, config.text_dim}, DType::kF32, per_element([=, &is_outlier](std::uint64_t i) {
    const double v = synthetic_normal(context_stream, i);
    return is_outlier[i % text_dim] ? static_cast<double>(kContextOutlierFactor) * v : v;
  }));
  return in;
}

}  // namespace qjit
