#pragma once
// Assertion helpers the test binaries share: the message of the qjit::Error a call throws,
// and tensors compared bit for bit.

#include <gtest/gtest.h>

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

/// Runs fn, expecting a qjit::Error whose message holds every one of `parts`.
inline void expect_error(const std::function<void()>& fn, const std::vector<std::string>& parts) {
  try {
    fn();
    ADD_FAILURE() << "no error; expected one mentioning " << parts.front();
  } catch (const Error& e) {
    for (const auto& p : parts) EXPECT_NE(e.message().find(p), std::string::npos) << e.message() << "\nwants: " << p;
  }
}

/// Same shape, dtype and bytes (each copied to the cpu, contiguous).
inline bool same_bits(const Tensor& a, const Tensor& b) {
  const Tensor ha = a.to(Device::cpu()).contiguous(), hb = b.to(Device::cpu()).contiguous();
  return ha.shape() == hb.shape() && ha.dtype() == hb.dtype() &&
         std::memcmp(ha.raw_data_ptr(), hb.raw_data_ptr(), ha.nbytes()) == 0;
}

}  // namespace qjit::test
