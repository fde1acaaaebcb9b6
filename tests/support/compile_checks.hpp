#pragma once
// What the compile tests assert of a kernel from an artifact's ptxas metadata.

#include <gtest/gtest.h>

#include "jit/artifact.hpp"

namespace qjit::test {

/// ptxas reported the kernel (registers > 0) within the register file, with no spills and no
/// stack; the log in `a` says why otherwise.
inline void expect_no_spills(const jit::Artifact& a, const jit::KernelInfo& k) {
  EXPECT_GT(k.registers, 0) << a.log;
  EXPECT_LE(k.registers, 255);
  EXPECT_EQ(k.spill_stores, 0) << a.log;
  EXPECT_EQ(k.spill_loads, 0) << a.log;
  EXPECT_EQ(k.stack_bytes, 0) << a.log;
}

}  // namespace qjit::test
