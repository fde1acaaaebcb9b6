// The qgemm family on the host side: generated source, desc and config validation, the
// heuristic, and NVRTC compiles of every shipped config for sm_80 (int8), sm_89 and sm_90
// (int8 and fp8) with zero spills, asserted from the artifact's ptxas metadata.

#include <gtest/gtest.h>

#include "common/error.hpp"
#include "jit/compiler.hpp"
#include "jit/impls/qgemm.hpp"
#include "jit/source_gen.hpp"
#include "tests/support/checks.hpp"
#include "tests/support/compile_checks.hpp"

namespace qjit::jit {
namespace {

using impls::GemmConfig;
using impls::GemmDesc;

GemmDesc desc_of(const char* qa, const char* qw, long long m = 256, long long n = 1536, long long k = 1536) {
  GemmDesc d;
  d.m_bucket = impls::gemm_m_bucket(m);
  d.n = n, d.k = k, d.qtype_a = parse_qtype(qa), d.qtype_w = parse_qtype(qw);
  return d;
}

impls::ActSource source_of(std::string_view s) {
  return s == "static" ? impls::ActSource::kStatic : s == "dynamic" ? impls::ActSource::kDynamic
                                                                     : impls::ActSource::kQuantized;
}

using test::error_of;

TEST(QGemmSpec, WritesTheNamedConfigStruct) {
  GemmDesc d = desc_of("fp8_e4m3", "fp8_e5m2");
  d.bias = parse_dtype("bf16"), d.act = parse_activation("gelu_tanh"), d.out = parse_dtype("f16"), d.scale_a = parse_granularity("per_tensor");
  const Program p = build_program(impls::qgemm_spec(d, {128, 128, 64, 2, 4, 4}, Arch::parse("sm_89")));
  EXPECT_NE(p.source.find("#include \"impls/qgemm.cuh\""), std::string::npos);
  for (const char* line : {"static constexpr qjit::dev::DType kQA = qjit::dev::DType::kE4M3;",
                           "static constexpr qjit::dev::DType kQW = qjit::dev::DType::kE5M2;",
                           "static constexpr bool kScaleAPerToken = false;", "static constexpr bool kGelu = true;",
                           "static constexpr qjit::dev::DType kBias = qjit::dev::DType::kBF16;",
                           "static constexpr long long kTileN = 128;", "static constexpr long long kStages = 4;"}) {
    EXPECT_NE(p.source.find(line), std::string::npos) << line << "\n" << p.source;
  }
  // The GEMM, then block-fp8's transpose of logical group128 scales (empty in this spec).
  ASSERT_EQ(p.name_expressions.size(), 2u);
  EXPECT_EQ(p.name_expressions[0], "qjit::kernels::qgemm<QjitConfig>");
  EXPECT_EQ(p.name_expressions[1], "qjit::kernels::qgemm_block_scales_k_major<QjitConfig>");
  // Float activations: the source and x dtype; the separate strategy's GEMM reads codes.
  GemmDesc f = desc_of("int8", "int8");
  f.a_source = source_of("dynamic"), f.x_dtype = parse_dtype("f16");
  const std::string fused = build_program(impls::qgemm_spec(f, {}, Arch::parse("sm_89"))).source;
  EXPECT_NE(fused.find("kASource = qjit::kernels::QGemmASource::kDynamicFused;"), std::string::npos) << fused;
  EXPECT_NE(fused.find("kX = qjit::dev::DType::kF16;"), std::string::npos) << fused;
  GemmConfig sep;
  sep.fusion = impls::GemmFusion::kSeparate;
  const std::string separate = build_program(impls::qgemm_spec(f, sep, Arch::parse("sm_89"))).source;
  EXPECT_NE(separate.find("kASource = qjit::kernels::QGemmASource::kQuantized;"), std::string::npos) << separate;
  EXPECT_EQ(impls::qgemm_smem_bytes(f, {}), GemmConfig{}.smem_bytes() + 4 * GemmConfig{}.tile_m);
  EXPECT_EQ(impls::qgemm_smem_bytes(f, sep), GemmConfig{}.smem_bytes());
  EXPECT_EQ(sep.str(), "64x128x64 w2x2 s4 separate");
}

TEST(QGemmSpec, ValidationNamesTheProblem) {
  const Arch sm80 = Arch::parse("sm_80"), sm89 = Arch::parse("sm_89");
  const GemmConfig c{};
  auto err = [&](GemmDesc d, Arch a, GemmConfig cfg = {}) { return error_of([&] { impls::qgemm_spec(d, cfg, a); }); };
  EXPECT_NE(err(desc_of("fp8_e4m3", "fp8_e4m3"), sm80).find("needs sm_89"), std::string::npos);
  EXPECT_EQ(err(desc_of("fp8_e4m3", "fp8_e4m3"), sm89), "");
  EXPECT_NE(err(desc_of("int8", "fp8_e4m3"), sm89).find("int8 x fp8_e4m3"), std::string::npos);
  EXPECT_NE(err(desc_of("int8", "int8", 16, 40, 64), sm89).find("N = 40"), std::string::npos);
  EXPECT_NE(err(desc_of("int8", "int8", 16, 64, 72), sm89).find("K = 72"), std::string::npos);
  EXPECT_NE(err(desc_of("int8", "int8", 16, 64, 133152), sm89).find("overflow"), std::string::npos);
  EXPECT_EQ(err(desc_of("int8", "int8", 16, 64, 133136), sm89), "");  // 127^2 * 133136 < 2^31
  EXPECT_EQ(err(desc_of("fp8_e5m2", "fp8_e5m2", 16, 64, 133152), sm89), "");  // fp32 accumulates any K
  GemmDesc bad = desc_of("int8", "int8");
  bad.scale_w = parse_granularity("block128");
  EXPECT_NE(err(bad, sm89).find("block128"), std::string::npos);
  // Block-fp8: group128 only with block128, fp8 only, sm_89+, warp tiles within a 128 block.
  GemmDesc block = desc_of("fp8_e4m3", "fp8_e4m3");
  block.scale_a = parse_granularity("group128"), block.scale_w = parse_granularity("block128");
  EXPECT_EQ(err(block, sm89), "");
  EXPECT_NE(err(block, sm80).find("needs sm_89"), std::string::npos);
  GemmDesc mix = block;
  mix.scale_w = parse_granularity("per_channel");
  EXPECT_NE(err(mix, sm89).find("group128 activations go only with block128 weights"), std::string::npos);
  mix = block, mix.scale_a = parse_granularity("per_token");
  EXPECT_NE(err(mix, sm89).find("block128 weights only with group128 activations"), std::string::npos);
  mix = block, mix.qtype_a = mix.qtype_w = QType::kInt8;
  EXPECT_NE(err(mix, sm89).find("block-fp8 family: operands must be fp8"), std::string::npos);
  EXPECT_NE(err(block, sm89, {64, 96, 64, 1, 1, 4}).find("divides 128"), std::string::npos);
  // Float activations: a static scale is per_tensor; only per_token dynamic scales fuse.
  GemmDesc fl = desc_of("int8", "int8");
  fl.a_source = source_of("static");
  EXPECT_NE(err(fl, sm89).find("static activation scale is per_tensor"), std::string::npos);
  fl.scale_a = parse_granularity("per_tensor");
  EXPECT_EQ(err(fl, sm89), "");
  fl.x_dtype = parse_dtype("int8");
  EXPECT_NE(err(fl, sm89).find("float activations of dtype 'int8'"), std::string::npos);
  fl.x_dtype = parse_dtype("f16"), fl.a_source = source_of("dynamic");
  EXPECT_NE(err(fl, sm89).find("cannot be fused"), std::string::npos);
  GemmConfig separate;
  separate.fusion = impls::GemmFusion::kSeparate;
  EXPECT_EQ(err(fl, sm89, separate), "");
  // Configs: the kernel's static_asserts, the arch's shared memory, fp8's two accumulator sets.
  EXPECT_NE(err(desc_of("int8", "int8"), sm89, {64, 128, 48, 2, 2, 4}).find("tile_k"), std::string::npos);
  EXPECT_NE(err(desc_of("int8", "int8"), sm89, {64, 128, 64, 2, 2, 6}).find("stages"), std::string::npos);
  EXPECT_NE(err(desc_of("int8", "int8"), sm89, {40, 128, 64, 2, 2, 4}).find("multiple of 16"), std::string::npos);
  EXPECT_NE(err(desc_of("int8", "int8"), sm89, {128, 256, 128, 2, 4, 4}).find("shared memory"), std::string::npos);
  EXPECT_EQ(err(desc_of("int8", "int8"), Arch::parse("sm_90"), {128, 256, 128, 2, 4, 4}), "");
  EXPECT_NE(err(desc_of("fp8_e4m3", "fp8_e4m3"), sm89, {128, 256, 64, 2, 4, 3}).find("accumulator"),
            std::string::npos);
  // sm_90 has no native fp8 mma.sync: fp8 warp tiles there are at most 32x32.
  EXPECT_NE(err(desc_of("fp8_e4m3", "fp8_e4m3"), Arch::parse("sm_90"), {64, 128, 64, 2, 2, 4}).find("accumulator"),
            std::string::npos);
  EXPECT_EQ(err(desc_of("fp8_e4m3", "fp8_e4m3"), Arch::parse("sm_90"), {64, 128, 64, 2, 4, 4}), "");
  EXPECT_EQ(c.smem_bytes(), 4 * (64 + 128) * 64);
}

TEST(QGemmHeuristic, PicksAValidConfigForAnyDesc) {
  for (const char* arch : {"sm_80", "sm_89", "sm_90"}) {
    for (const char* q : {"int8", "fp8_e4m3", "block"}) {
      const bool block = std::string(q) == "block";
      if (block) q = "fp8_e5m2";
      if (Arch::parse(arch).number < 89 && std::string(q) != "int8") continue;
      for (long long m : {1, 7, 16, 17, 64, 129, 300, 1024, 4096, 100000}) {
        for (long long n : {16, 48, 1536, 8960, 13824}) {
          GemmDesc d = desc_of(q, q, m, n, 1536);
          if (block) d.scale_a = parse_granularity("group128"), d.scale_w = parse_granularity("block128");
          const GemmConfig c = impls::qgemm_heuristic(d, Arch::parse(arch));
          EXPECT_NO_THROW(impls::check_gemm_config(d, c, Arch::parse(arch))) << c.str();
          if (m <= 16) {
            EXPECT_EQ(c.tile_m, 16) << m;
          }
        }
      }
    }
  }
  // Big problems get big tiles; int8 may take the 128x256 tile, fp8 not (two accumulator sets).
  EXPECT_EQ(impls::qgemm_heuristic(desc_of("int8", "int8", 4096, 8960), Arch::parse("sm_89")).tile_n, 256);
  EXPECT_EQ(impls::qgemm_heuristic(desc_of("fp8_e4m3", "fp8_e4m3", 4096, 8960), Arch::parse("sm_89")).tile_n, 128);
  EXPECT_EQ(impls::gemm_m_bucket(1), 16);
  // Float activations: static always fused; dynamic per_token fused for small M or few column
  // tiles, separate otherwise; dynamic per_tensor and group128 always separate. Valid configs.
  for (const char* arch : {"sm_80", "sm_89", "sm_90"}) {
    for (long long m : {1, 64, 300, 32760}) {
      for (long long n : {48, 512, 1536, 13824}) {
        for (const char* mode : {"static", "dynamic", "dynamic per_tensor", "dynamic group128"}) {
          const std::string md = mode;
          const bool block = md == "dynamic group128";
          if (block && Arch::parse(arch).number < 89) continue;
          GemmDesc d = desc_of(block ? "fp8_e4m3" : "int8", block ? "fp8_e4m3" : "int8", m, n, 1536);
          d.a_source = source_of(md == "static" ? "static" : "dynamic");
          d.scale_a = parse_granularity(md == "static" || md == "dynamic per_tensor" ? "per_tensor"
                                        : block                                     ? "group128"
                                                                                    : "per_token");
          if (block) d.scale_w = parse_granularity("block128");
          const GemmConfig c = impls::qgemm_heuristic(d, Arch::parse(arch));
          EXPECT_NO_THROW(impls::check_gemm_config(d, c, Arch::parse(arch))) << c.str() << " " << md;
          const bool fused = c.fusion == impls::GemmFusion::kFused;
          if (md == "static") {
            EXPECT_TRUE(fused);
          }
          if (md == "dynamic per_tensor" || block) {
            EXPECT_FALSE(fused) << md;
          }
          if (md == "dynamic") {
            EXPECT_EQ(fused, m <= 64 || (n + c.tile_n - 1) / c.tile_n <= 4) << m << " " << n;
          }
        }
      }
    }
  }
  EXPECT_EQ(impls::gemm_m_bucket(129), 256);
}

// Every shipped config compiles for every arch it runs on, with no spills and no stack. The
// heaviest epilogue (bias, GELU, f32 output) is compiled: it keeps the most registers live.
TEST(QGemmCompile, ShippedConfigsCompileWithoutSpills) {
  struct Case {
    const char* arch;
    const char* qa;
    const char* qw;
    bool block = false;  // group128 x block128 scales (block-fp8)
    const char* source = "quantized";  // or float x quantized by the GEMM: static / dynamic (fused)
    const char* x = "bf16";
  };
  for (const Case cs : {Case{"sm_80", "int8", "int8"}, Case{"sm_89", "int8", "int8"},
                        Case{"sm_89", "fp8_e4m3", "fp8_e5m2"}, Case{"sm_90", "int8", "int8"},
                        Case{"sm_90", "fp8_e4m3", "fp8_e4m3"}, Case{"sm_89", "fp8_e4m3", "fp8_e4m3", true},
                        Case{"sm_90", "fp8_e5m2", "fp8_e4m3", true},
                        // Float activations: static (bf16) and fused dynamic (f32: the most
                        // staged registers) everywhere, the other dtype where registers are tightest.
                        Case{"sm_80", "int8", "int8", false, "static", "bf16"},
                        Case{"sm_80", "int8", "int8", false, "dynamic", "f32"},
                        Case{"sm_89", "int8", "int8", false, "static", "f16"},
                        Case{"sm_89", "int8", "int8", false, "dynamic", "bf16"},
                        Case{"sm_89", "fp8_e4m3", "fp8_e4m3", false, "static", "bf16"},
                        Case{"sm_89", "fp8_e5m2", "fp8_e4m3", false, "dynamic", "f32"},
                        Case{"sm_90", "int8", "int8", false, "static", "f32"},
                        Case{"sm_90", "int8", "int8", false, "dynamic", "bf16"},
                        Case{"sm_90", "fp8_e4m3", "fp8_e4m3", false, "static", "f32"},
                        Case{"sm_90", "fp8_e4m3", "fp8_e4m3", false, "dynamic", "bf16"},
                        Case{"sm_90", "fp8_e4m3", "fp8_e4m3", false, "dynamic", "f32"}}) {
    for (const GemmConfig& c : impls::qgemm_shipped_configs()) {
      GemmDesc d = desc_of(cs.qa, cs.qw);
      d.bias = parse_dtype("bf16"), d.act = parse_activation("gelu_tanh"), d.out = parse_dtype("f32");
      if (cs.block) d.scale_a = parse_granularity("group128"), d.scale_w = parse_granularity("block128");
      d.a_source = source_of(cs.source), d.x_dtype = parse_dtype(cs.x);
      if (d.a_source == impls::ActSource::kStatic) d.scale_a = Granularity::kPerTensor;
      const Arch arch = Arch::parse(cs.arch);
      if (!error_of([&] { impls::check_gemm_config(d, c, arch); }).empty()) continue;  // int8-only config
      const KernelSpec spec = impls::qgemm_spec(d, c, arch);
      SCOPED_TRACE(spec.summary());
      const Artifact a = compile(build_program(spec));
      // The GEMM and block-fp8's transpose of logical group128 scales (an empty body in the
      // other specs).
      ASSERT_EQ(a.kernels.size(), 2u);
      const bool gemm_first = a.kernels[0].name_expression.find("qgemm_block_scales") == std::string::npos;
      const KernelInfo& k = a.kernels[gemm_first ? 0 : 1];
      const KernelInfo& t = a.kernels[gemm_first ? 1 : 0];
      EXPECT_NE(t.name_expression.find("qgemm_block_scales_k_major"), std::string::npos) << t.name_expression;
      test::expect_no_spills(a, k);
      EXPECT_EQ(k.shared_bytes, 0);  // all of it is dynamic
      EXPECT_EQ(t.spill_stores + t.spill_loads + t.stack_bytes, 0) << a.log;
      // The transpose's 32 x 33 floats of static shared memory exist in block-fp8 specs only.
      EXPECT_EQ(t.shared_bytes, cs.block ? 32 * 33 * 4 : 0);
      std::printf("%s %s x %s%s %s %s: %d registers, %.0f ms\n", cs.arch, cs.qa, cs.qw, cs.block ? " block" : "",
                  cs.source, c.str().c_str(), k.registers, a.compile_ms);
    }
  }
}

}  // namespace
}  // namespace qjit::jit
