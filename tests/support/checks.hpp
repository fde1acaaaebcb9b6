#pragma once
// Assertion helpers the test binaries share: the message of the qjit::Error a call throws,
// and tensors compared bit for bit.

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "runtime/tensor.hpp"

namespace qjit::test {

/// The what() of the qjit::Error f throws; "" when it throws none.
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

/// Expects f to throw a qjit::Error whose what() holds `what`.
inline void expect_error_mentions(const std::function<void()>& f, const std::string& what) {
  const std::string e = error_of(f);
  EXPECT_NE(e.find(what), std::string::npos) << "want '" << what << "' in: " << e;
}

/// Runs fn, expecting a qjit::Error whose message holds every one of `parts`.
inline void expect_error(const std::function<void()>& fn, const std::vector<std::string>& parts) {
  try {
    fn();
    ADD_FAILURE() << "no error; expected one mentioning " << parts.front();
  } catch (const Error& e) {
    for (const auto& p : parts) EXPECT_NE(e.message().find(p), std::string::npos) << e.message() << "\nwants: " << p;
  }
}

/// Same bits, NaN matching any NaN (its payload is not specified); names the first few
/// elements that differ.
inline void expect_same_bits(const std::vector<float>& got, const std::vector<float>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  size_t bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const bool same = std::memcmp(&got[i], &want[i], 4) == 0 || (std::isnan(got[i]) && std::isnan(want[i]));
    if (!same && ++bad <= 5) ADD_FAILURE() << what << ": element " << i << " is " << got[i] << ", want " << want[i];
  }
  EXPECT_EQ(bad, 0u) << what;
}

/// Same shape, dtype and bytes (each copied to the cpu, contiguous).
inline bool same_bits(const Tensor& a, const Tensor& b) {
  const Tensor ha = a.to(Device::cpu()).contiguous(), hb = b.to(Device::cpu()).contiguous();
  return ha.shape() == hb.shape() && ha.dtype() == hb.dtype() &&
         std::memcmp(ha.raw_data_ptr(), hb.raw_data_ptr(), ha.nbytes()) == 0;
}

/// ||got - want||^2 / ||want||^2 in float64, of two tensors of equal size on any device.
inline double nmse(const Tensor& got, const Tensor& want) {
  const auto g = got.to(Device::cpu()).to_f32_vector(), w = want.to(Device::cpu()).to_f32_vector();
  EXPECT_EQ(g.size(), w.size());
  double err = 0.0, ref = 0.0;
  for (std::size_t i = 0; i < g.size() && i < w.size(); ++i) {
    err += (static_cast<double>(g[i]) - w[i]) * (static_cast<double>(g[i]) - w[i]);
    ref += static_cast<double>(w[i]) * w[i];
  }
  return err / ref;
}

}  // namespace qjit::test
