// The weight-only GEMM family on the host side: generated source, desc and config
// validation, the heuristic, and NVRTC compiles of every shipped config for sm_80, sm_89 and
// sm_90 with zero spills, asserted from the artifact's ptxas metadata; for int8/fp8 codes and
// for unquantized bf16/f16 weights (the float GEMM).

#include <gtest/gtest.h>

#include "common/error.hpp"
#include "jit/compiler.hpp"
#include "jit/family.hpp"
#include "jit/impls/qgemm_wo.hpp"
#include "jit/source_gen.hpp"
#include "tests/support/checks.hpp"
#include "tests/support/compile_checks.hpp"

namespace qjit::jit {
namespace {

using impls::WeightOnlyConfig;
using impls::WeightOnlyDesc;

WeightOnlyDesc desc_of(const char* qw, const char* scale = "per_channel", long long m = 256, long long n = 1536,
                       long long k = 1536) {
  WeightOnlyDesc d;
  d.m_bucket = impls::gemm_m_bucket(m);
  d.n = n, d.k = k, d.qtype_w = parse_qtype(qw), d.scale_w = parse_granularity(scale);
  return d;
}

using test::error_of;

TEST(QGemmWoSpec, WritesTheNamedConfigStruct) {
  WeightOnlyDesc d = desc_of("fp8_e5m2", "block128");
  d.x = DType::kF16, d.bias = DType::kBF16, d.act = Activation::kGeluTanh, d.out = DType::kF32;
  const Program p = build_program(impls::qgemm_wo_spec(d, {128, 128, 64, 2, 4, 3}, Arch::parse("sm_80")));
  EXPECT_NE(p.source.find("#include \"impls/qgemm_wo.cuh\""), std::string::npos);
  for (const char* line : {"static constexpr qjit::dev::DType kAct = qjit::dev::DType::kF16;",
                           "static constexpr qjit::dev::DType kQW = qjit::dev::DType::kE5M2;",
                           "static constexpr long long kScaleW = 2;", "static constexpr bool kGelu = true;",
                           "static constexpr qjit::dev::DType kBias = qjit::dev::DType::kBF16;",
                           "static constexpr qjit::dev::DType kOut = qjit::dev::DType::kF32;",
                           "static constexpr long long kTileN = 128;", "static constexpr long long kStages = 3;"}) {
    EXPECT_NE(p.source.find(line), std::string::npos) << line << "\n" << p.source;
  }
  ASSERT_EQ(p.name_expressions.size(), 1u);
  EXPECT_EQ(p.name_expressions[0], "qjit::kernels::qgemm_wo<QjitConfig>");
  EXPECT_EQ(find_family("qgemm_wo").template_path, "impls/qgemm_wo.cuh");
}

TEST(QGemmWoSpec, ValidationNamesTheProblem) {
  const Arch sm80 = Arch::parse("sm_80");
  auto err = [&](WeightOnlyDesc d, Arch a, WeightOnlyConfig cfg = {}) {
    return error_of([&] { impls::qgemm_wo_spec(d, cfg, a); });
  };
  // Every weight qtype runs on sm_80 (fp8 is decoded in software there).
  for (const char* q : {"int8", "fp8_e4m3", "fp8_e5m2"}) {
    for (const char* g : {"per_channel", "per_tensor", "block128"}) EXPECT_EQ(err(desc_of(q, g), sm80), "") << q << g;
  }
  EXPECT_NE(err(desc_of("int8"), Arch::parse("sm_75")).find("needs sm_80"), std::string::npos);
  EXPECT_NE(err(desc_of("int8", "per_token"), sm80).find("per_token"), std::string::npos);
  EXPECT_NE(err(desc_of("int8", "per_channel", 16, 40, 64), sm80).find("N = 40"), std::string::npos);
  EXPECT_NE(err(desc_of("int8", "per_channel", 16, 64, 72), sm80).find("K = 72"), std::string::npos);
  WeightOnlyDesc f32x = desc_of("int8");
  f32x.x = DType::kF32;
  EXPECT_NE(err(f32x, sm80).find("activation dtype 'f32'"), std::string::npos);
  WeightOnlyDesc bad_out = desc_of("int8");
  bad_out.out = DType::kI8;
  EXPECT_NE(err(bad_out, sm80).find("output dtype"), std::string::npos);
  // Configs: the kernel's static_asserts and the arch's shared memory.
  EXPECT_NE(err(desc_of("int8"), sm80, {64, 128, 48, 2, 2, 4}).find("tile_k"), std::string::npos);
  EXPECT_NE(err(desc_of("int8"), sm80, {64, 128, 64, 2, 2, 6}).find("stages"), std::string::npos);
  EXPECT_NE(err(desc_of("int8"), sm80, {40, 128, 64, 2, 2, 4}).find("multiple of 16"), std::string::npos);
  EXPECT_NE(err(desc_of("int8"), sm80, {64, 64, 64, 2, 4, 4}).find("multiple of 32"), std::string::npos);
  EXPECT_NE(err(desc_of("int8"), sm80, {16, 64, 128, 1, 2, 4}).find("tile_k / 8"), std::string::npos);
  EXPECT_NE(err(desc_of("int8"), Arch::parse("sm_89"), {128, 256, 128, 2, 4, 3}).find("shared memory"),
            std::string::npos);
  EXPECT_EQ(err(desc_of("int8"), Arch::parse("sm_90"), {128, 256, 128, 2, 4, 3}), "");
  EXPECT_EQ((WeightOnlyConfig{}.smem_bytes()), 4 * (2 * 64 + 128) * 64);
}

TEST(QGemmWoHeuristic, PicksAValidConfigForAnyDesc) {
  for (const char* arch : {"sm_80", "sm_89", "sm_90"}) {
    for (long long m : {1, 7, 16, 17, 64, 129, 300, 1024, 4096, 100000}) {
      for (long long n : {16, 48, 1536, 8960, 13824}) {
        const WeightOnlyDesc d = desc_of("fp8_e4m3", "block128", m, n, 1536);
        const WeightOnlyConfig c = impls::qgemm_wo_heuristic(d, Arch::parse(arch));
        EXPECT_NO_THROW(impls::check_weight_only_config(d, c, Arch::parse(arch))) << c.str();
        if (m <= 16) {
          EXPECT_EQ(c.tile_m, 16) << m;
        }
      }
    }
  }
  EXPECT_EQ(impls::qgemm_wo_heuristic(desc_of("int8", "per_channel", 4096, 8960), Arch::parse("sm_89")).tile_n, 256);
  EXPECT_EQ(impls::qgemm_wo_heuristic(desc_of("int8", "per_channel", 64, 8960), Arch::parse("sm_89")).tile_m, 64);
}

// Every shipped config compiles for sm_80, sm_89 and sm_90 with no spills and no stack, for
// each weight decode path (int8; e4m3: software on sm_80, cvt on sm_89+; e5m2) and each
// scale layout. The heaviest epilogue (bias, GELU, f32 output) keeps the most registers live.
TEST(QGemmWoCompile, ShippedConfigsCompileWithoutSpills) {
  struct Case {
    const char* arch;
    const char* qw;
    const char* scale;
  };
  for (const Case cs : {Case{"sm_80", "int8", "block128"}, Case{"sm_80", "fp8_e4m3", "per_channel"},
                        Case{"sm_89", "fp8_e4m3", "block128"}, Case{"sm_89", "fp8_e5m2", "per_tensor"},
                        Case{"sm_90", "int8", "per_channel"}, Case{"sm_90", "fp8_e4m3", "block128"}}) {
    for (const WeightOnlyConfig& c : impls::qgemm_wo_shipped_configs()) {
      WeightOnlyDesc d = desc_of(cs.qw, cs.scale);
      d.bias = DType::kBF16, d.act = Activation::kGeluTanh, d.out = DType::kF32;
      const Arch arch = Arch::parse(cs.arch);
      const KernelSpec spec = impls::qgemm_wo_spec(d, c, arch);
      SCOPED_TRACE(spec.summary());
      const Artifact a = compile(build_program(spec));
      ASSERT_EQ(a.kernels.size(), 1u);
      const KernelInfo& k = a.kernels[0];
      test::expect_no_spills(a, k);
      EXPECT_EQ(k.shared_bytes, 0);  // all of it is dynamic
      std::printf("%s %s %s %s: %d registers, %.0f ms\n", cs.arch, cs.qw, cs.scale, c.str().c_str(), k.registers,
                  a.compile_ms);
    }
  }
}

// ---- unquantized weights (qtype_w none: x's dtype; the float GEMM of runtime/ops/gemm.hpp) --

WeightOnlyDesc float_desc(const char* dtype, long long m = 256, long long n = 1536, long long k = 1536) {
  WeightOnlyDesc d = desc_of("int8", "per_channel", m, n, k);
  d.x = parse_dtype(dtype);
  d.qtype_w = QType::kNone;
  return d;
}

TEST(QGemmWoFloatSpec, WritesUnquantizedWeightsAndValidates) {
  const Arch sm80 = Arch::parse("sm_80");
  WeightOnlyDesc d = float_desc("f16");
  const Program p = build_program(impls::qgemm_wo_spec(d, {}, sm80));
  for (const char* line : {"static constexpr qjit::dev::DType kAct = qjit::dev::DType::kF16;",
                           "static constexpr qjit::dev::DType kQW = qjit::dev::DType::kF16;",
                           "static constexpr long long kScaleW = 3;"}) {
    EXPECT_NE(p.source.find(line), std::string::npos) << line << "\n" << p.source;
  }
  EXPECT_TRUE(impls::qgemm_wo_is_float(d));
  EXPECT_EQ(impls::qgemm_wo_weight_bytes(d), 2);
  EXPECT_EQ(impls::qgemm_wo_weight_bytes(desc_of("int8")), 1);
  EXPECT_EQ((WeightOnlyConfig{}.smem_bytes(2)), 4 * (2 * 64 + 2 * 128) * 64);
  auto err = [&](WeightOnlyDesc dd, WeightOnlyConfig cfg = {}, const char* arch = "sm_80") {
    return error_of([&] { impls::qgemm_wo_spec(dd, cfg, Arch::parse(arch)); });
  };
  // NOTE: unquantized weights of another dtype than x, or with scales, cannot be described
  // (the vocabulary's types): scale_w is ignored without a qtype.
  WeightOnlyDesc scaled = float_desc("bf16");
  scaled.scale_w = Granularity::kPerToken;
  EXPECT_EQ(impls::qgemm_wo_spec(scaled, {}, sm80), impls::qgemm_wo_spec(float_desc("bf16"), {}, sm80));
  WeightOnlyDesc f32 = float_desc("f32");
  EXPECT_NE(err(f32).find("activation dtype 'f32'"), std::string::npos);
  EXPECT_NE(err(float_desc("bf16"), {}, "sm_75").find("needs sm_80"), std::string::npos);
  // Two-byte weights double the weight tile: 128x256x64 s4 takes 4 (256 + 256) 64 = 128 KiB
  // with codes, 4 (256 + 512) 64 = 192 KiB with bf16 weights, over sm_80's 163 KiB.
  EXPECT_EQ(err(desc_of("int8"), {128, 256, 64, 1, 8, 4}, "sm_80"), "");
  EXPECT_NE(err(float_desc("bf16"), {128, 256, 64, 1, 8, 4}, "sm_80").find("shared memory"), std::string::npos);
  // Every shipped config fits every arch with two-byte weights, and the heuristic picks one.
  for (const char* arch : {"sm_80", "sm_89", "sm_90"}) {
    for (const WeightOnlyConfig& c : impls::qgemm_wo_shipped_configs()) EXPECT_EQ(err(float_desc("bf16"), c, arch), "");
    for (long long m : {1, 64, 4096}) {
      const WeightOnlyDesc fd = float_desc("bf16", m, 8960, 1536);
      EXPECT_NO_THROW(impls::check_weight_only_config(fd, impls::qgemm_wo_heuristic(fd, Arch::parse(arch)),
                                                      Arch::parse(arch)));
    }
  }
}

// Every shipped config with unquantized weights compiles for sm_80, sm_89 and sm_90 with no
// spills and no stack (bf16 on sm_80 and sm_90, f16 on sm_89), with the heaviest epilogue.
TEST(QGemmWoCompile, ShippedConfigsWithFloatWeightsCompileWithoutSpills) {
  for (const auto& [arch_name, dtype] : {std::pair{"sm_80", "bf16"}, {"sm_89", "f16"}, {"sm_90", "bf16"}}) {
    for (const WeightOnlyConfig& c : impls::qgemm_wo_shipped_configs()) {
      WeightOnlyDesc d = float_desc(dtype);
      d.bias = DType::kF32, d.act = Activation::kGeluTanh, d.out = DType::kF32;
      const KernelSpec spec = impls::qgemm_wo_spec(d, c, Arch::parse(arch_name));
      SCOPED_TRACE(spec.summary());
      const Artifact a = compile(build_program(spec));
      ASSERT_EQ(a.kernels.size(), 1u);
      const KernelInfo& k = a.kernels[0];
      test::expect_no_spills(a, k);
      std::printf("%s %s %s: %d registers, %.0f ms\n", arch_name, dtype, c.str().c_str(), k.registers, a.compile_ms);
    }
  }
}

}  // namespace
}  // namespace qjit::jit
