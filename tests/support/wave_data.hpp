#pragma once
// Deterministic test values of either sign: amp * sin(freq * i + seed), times (1 + i % 5)
// with `ramp` for a few magnitudes; what the glue ops' tests (RoPE, elementwise) feed.

#include <cmath>
#include <cstdint>
#include <vector>

namespace qjit::test {

inline std::vector<float> wave(std::int64_t n, unsigned seed, float freq, float amp, bool ramp = false) {
  std::vector<float> v(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    const float s = std::sin(freq * static_cast<float>(i) + static_cast<float>(seed));
    v[static_cast<std::size_t>(i)] = ramp ? s * static_cast<float>(1 + i % 5) : amp * s;
  }
  return v;
}

}  // namespace qjit::test
