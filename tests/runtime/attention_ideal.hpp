#pragma once
// Shared by the attention tests (attention_test.cpp: the reference; attention_sim_test.cpp: the
// kernels): deterministic inputs and the float64 ideal of softmax(q k^T scale) v with the
// per-row magnitudes the derived NMSE bounds are made of.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "runtime/tensor.hpp"

namespace qjit::test {

// Values in about [-amp, amp], deterministic.
inline std::vector<float> attention_values(std::int64_t n, unsigned seed, float amp) {
  std::vector<float> x(static_cast<size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    x[i] = amp * std::sin(0.731f * static_cast<float>(i) * (1.0f + 0.01f * static_cast<float>(seed)) +
                          1.3f * static_cast<float>(seed));
  }
  return x;
}

// [b, s, w] of dtype t from attention_values.
inline Tensor attention_input(std::int64_t b, std::int64_t s, std::int64_t w, DType t, unsigned seed, float amp) {
  return Tensor::from_vector<float>({b, s, w}, attention_values(b * s * w, seed, amp)).to_dtype(t);
}

// The float64 ideal of softmax(q k^T scale) v, from the (already rounded) input values.
struct Ideal {
  std::vector<double> o, w;                // [B, Sq, W]: o and W_d = Σ_j P_j |v_jd| / Σ_j P_j
  std::vector<double> dot_abs, logit_abs;  // per (b, i, h): A = max_j Σ_d |q_d k_jd|, R = max_j |s_j|
};

inline Ideal ideal(const Tensor& q, const Tensor& k, const Tensor& v, std::int64_t heads, double scale) {
  const std::int64_t nb = q.size(0), sq = q.size(1), skv = k.size(1), width = q.size(2), dh = width / heads;
  const auto qf = q.to(Device::cpu()).to_f32_vector(), kf = k.to(Device::cpu()).to_f32_vector(),
             vf = v.to(Device::cpu()).to_f32_vector();
  Ideal r;
  r.o.resize(qf.size()), r.w.resize(qf.size());
  std::vector<double> s(static_cast<size_t>(skv));
  for (std::int64_t b = 0; b < nb; ++b) {
    for (std::int64_t i = 0; i < sq; ++i) {
      for (std::int64_t h = 0; h < heads; ++h) {
        const float* qi = qf.data() + (b * sq + i) * width + h * dh;
        double m = -INFINITY, amax = 0, rmax = 0;
        for (std::int64_t j = 0; j < skv; ++j) {
          const float* kj = kf.data() + (b * skv + j) * width + h * dh;
          double dot = 0, dabs = 0;
          for (std::int64_t d = 0; d < dh; ++d) {
            const double prod = static_cast<double>(qi[d]) * kj[d];
            dot += prod, dabs += std::fabs(prod);
          }
          s[j] = dot * scale;
          m = std::max(m, s[j]), amax = std::max(amax, dabs), rmax = std::max(rmax, std::fabs(s[j]));
        }
        double l = 0;
        for (double& x : s) l += (x = std::exp(x - m));
        for (std::int64_t d = 0; d < dh; ++d) {
          double acc = 0, wabs = 0;
          for (std::int64_t j = 0; j < skv; ++j) {
            const double vv = vf[(b * skv + j) * width + h * dh + d];
            acc += s[j] * vv, wabs += s[j] * std::fabs(vv);
          }
          r.o[(b * sq + i) * width + h * dh + d] = acc / l;
          r.w[(b * sq + i) * width + h * dh + d] = wabs / l;
        }
        r.dot_abs.push_back(amax), r.logit_abs.push_back(rmax);
      }
    }
  }
  return r;
}

// γ(n) = n u / (1 - n u), u = 2^-24.
inline double gamma(double n) {
  const double u = std::ldexp(1.0, -24);
  return n * u / (1 - n * u);
}

// The unit roundoff of a float dtype: 2^-24 (f32), 2^-11 (f16), 2^-8 (bf16).
inline double unit_roundoff(DType t) {
  return t == DType::kF32 ? std::ldexp(1.0, -24) : t == DType::kF16 ? std::ldexp(1.0, -11) : std::ldexp(1.0, -8);
}

// The shape of an attention problem as the bound needs it.
struct AttentionShape {
  std::int64_t skv, heads, dh;
  DType in, out;
};

// The worst-case NMSE bound of a tiled, online-softmax kernel against the ideal, derived in
// tests/runtime/attention_sim_test.cpp (key tiles of at least 16, exp within 2^-22 relative,
// fp32 sums; P rounded to the 16-bit input type for P·V counted whether or not it is).
inline double attention_device_bound(const Ideal& id, const AttentionShape& c, double scale) {
  const double u = std::ldexp(1.0, -24), ex2_err = std::ldexp(1.0, -22);
  const double u_in = c.in == DType::kF32 ? 0.0 : unit_roundoff(c.in);
  const double tiles = std::ceil(static_cast<double>(c.skv) / 16.0);
  const std::int64_t width = c.heads * c.dh;
  double num = 0, den = 0;
  for (size_t e = 0; e < id.o.size(); ++e) {
    const size_t row = e / static_cast<size_t>(width), h = (e % static_cast<size_t>(width)) / static_cast<size_t>(c.dh);
    const size_t r = row * static_cast<size_t>(c.heads) + h;
    const double big_r = id.logit_abs[r];
    const double delta = scale * 2 * gamma(static_cast<double>(c.dh + 16)) * id.dot_abs[r] + 3 * u * big_r;
    const double eta = 2 * delta + (tiles + 1) * (4 * u * big_r + ex2_err + u);
    const double o = std::fabs(id.o[e]);
    const double sums = 4 * gamma(static_cast<double>(c.skv) + 2 * tiles + 16);
    const double err = 1.01 * ((2 * eta + u_in + sums) * id.w[e] + u * o) + unit_roundoff(c.out) * o;
    num += err * err, den += o * o;
  }
  return num / den;
}

// Σ (got - want)² / Σ ideal², float64; a non-finite value gives +Inf.
inline double nmse(const std::vector<float>& got, const std::vector<float>& want, const std::vector<double>& ideal_o) {
  double num = 0, den = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!std::isfinite(got[i]) || !std::isfinite(want[i])) return INFINITY;
    const double d = static_cast<double>(got[i]) - want[i];
    num += d * d, den += ideal_o[i] * ideal_o[i];
  }
  return num / den;
}

}  // namespace qjit::test
