#pragma once
// Whether the cuda device's tests may skip. Without a GPU they skip, saying why; where the
// stand-in driver (tests/cuda_standin/) or a GPU is expected — QJIT_TEST_REQUIRE_CUDA=1, as
// the CudaStandin.* tests set — a missing device is a failure, so they can never silently
// stop running.

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "runtime/driver/cuda_driver.hpp"

namespace qjit::test {

inline bool cuda_required() {
  const char* v = std::getenv("QJIT_TEST_REQUIRE_CUDA");
  return v != nullptr && *v != '\0' && std::string(v) != "0";
}

}  // namespace qjit::test

// Skips the test (or fails it, when cuda is required) unless a cuda device answers.
#define QJIT_SKIP_WITHOUT_CUDA()                                                                  \
  do {                                                                                            \
    if (!::qjit::cuda_available()) {                                                              \
      if (::qjit::test::cuda_required()) FAIL() << "cuda required but unavailable: "              \
                                                << ::qjit::cuda_unavailable_reason();             \
      GTEST_SKIP() << "no GPU: " << ::qjit::cuda_unavailable_reason();                            \
    }                                                                                             \
  } while (0)
