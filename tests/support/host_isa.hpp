#pragma once
// The cpu device's compiled-kernel tests on each ISA: QJIT_CPU_ISA set for a scope, and a
// fixture parameterized by the ISA name ("amx", "avx512_vnni", "avx2", "generic") that skips,
// saying why, where this machine lacks the compiler plugin or the ISA.

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "jit/host_compiler.hpp"
#include "jit/impls/host_qgemm.hpp"

namespace qjit::test {

class IsaScope {
 public:
  explicit IsaScope(const char* isa) { setenv("QJIT_CPU_ISA", isa, 1); }
  ~IsaScope() { unsetenv("QJIT_CPU_ISA"); }
  IsaScope(const IsaScope&) = delete;
  IsaScope& operator=(const IsaScope&) = delete;
};

class HostIsaTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    std::string why;
    if (!jit::host_compiler_available(&why)) GTEST_SKIP() << "no cpu compiler: " << why;
    const std::string isa = GetParam();
    const jit::impls::HostIsa best = jit::impls::host_isa();
    if (isa == "avx512_vnni" && (best == jit::impls::HostIsa::kGeneric || best == jit::impls::HostIsa::kAvx2)) {
      GTEST_SKIP() << "this host has no AVX-512 VNNI";
    }
    if (isa == "avx2" && best == jit::impls::HostIsa::kGeneric) GTEST_SKIP() << "this host has no AVX2 and FMA";
    if (isa == "amx" && best != jit::impls::HostIsa::kAmx) {
      GTEST_SKIP() << "this host has no AMX-INT8 (or its kernel did not grant the tile state)";
    }
  }
};

inline std::string isa_test_name(const ::testing::TestParamInfo<const char*>& info) { return info.param; }

}  // namespace qjit::test
