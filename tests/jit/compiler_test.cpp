// NVRTC compiles of the shipped act_quant configs, and compile errors.

#include "jit/compiler.hpp"

#include <gtest/gtest.h>

#include "common/error.hpp"
#include "jit/impls/act_quant.hpp"
#include "jit/manifest.hpp"
#include "jit/source_gen.hpp"

namespace qjit::jit {
namespace {

using impls::ActQuantDesc;

TEST(SourceGen, WritesNamedConfigStructAndIncludesTheFamily) {
  const auto spec = impls::act_quant_spec({DType::kBF16, QType::kInt8, ActScale::kDynamicPerToken, 1536}, {256}, Arch::parse("sm_90"));
  const Program p = build_program(spec);
  EXPECT_NE(p.source.find("#include \"impls/act_quant.cuh\""), std::string::npos);
  EXPECT_NE(p.source.find("struct QjitConfig {"), std::string::npos);
  EXPECT_NE(p.source.find("static constexpr qjit::dev::DType kIn = qjit::dev::DType::kBF16;"), std::string::npos);
  EXPECT_NE(p.source.find("static constexpr long long kThreads = 256;"), std::string::npos);
  // The include closure holds exactly the embedded files the family reaches.
  std::vector<std::string> names;
  for (const auto& h : p.headers) names.push_back(h.name);
  EXPECT_NE(std::find(names.begin(), names.end(), "impls/act_quant.cuh"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "ptx/cvt.cuh"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "qjit/types.cuh"), names.end());
  EXPECT_EQ(p.name_expressions.size(), impls::act_quant_family().kernels.size());
}

TEST(SourceGen, UnknownIncludeIsAnError) {
  EXPECT_THROW(include_closure("#include \"impls/nope.cuh\"\n", "x.cu"), Error);
  EXPECT_THROW(build_program(KernelSpec("no_such_family", Arch{})), Error);
  EXPECT_THROW(build_program(KernelSpec("act_quant", Arch{})), Error);  // lacks kIn, kOut, kThreads
}

TEST(Manifest, ChangesWhenAnyInputChanges) {
  const auto spec = impls::act_quant_spec({DType::kF16, QType::kE4M3, ActScale::kDynamicPerToken, 64}, {128}, Arch::parse("sm_89"));
  const Program p = build_program(spec);
  const std::string id = R"({"version":"13.0","nvrtc":"aa"})";
  const std::string base = make_manifest(p, id);
  EXPECT_EQ(base, make_manifest(p, id));
  Program q = p;
  q.source += "\n// edited\n";
  EXPECT_NE(make_manifest(q, id), base);
  q = p;
  q.headers[0].content += " ";
  EXPECT_NE(make_manifest(q, id), base);
  q = p;
  q.options.push_back("-lineinfo");
  EXPECT_NE(make_manifest(q, id), base);
  q = build_program(impls::act_quant_spec({DType::kF16, QType::kE4M3, ActScale::kDynamicPerToken, 64}, {128}, Arch::parse("sm_90")));
  EXPECT_NE(make_manifest(q, id), base);
  EXPECT_NE(make_manifest(p, R"({"version":"13.0","nvrtc":"bb"})"), base);
  EXPECT_NE(make_manifest(p, R"({"version":"13.1","nvrtc":"aa"})"), base);
}

TEST(Manifest, NvrtcIdentityHashesTheLibrary) {
  const auto id = nlohmann::json::parse(nvrtc_identity());
  EXPECT_EQ(id.at("version").get<std::string>().substr(0, 2), "13");
  ASSERT_TRUE(id.contains("nvrtc"));
  EXPECT_EQ(id.at("nvrtc").get<std::string>().size(), 64u);
}

// Every shipped act_quant config compiles for sm_80, sm_89 and sm_90 with zero spills. Each
// program holds every kernel of the family; the modes' heuristics give kVec 1 (per-token)
// and 4 or 8 (per-tensor, group128), so every arch and input dtype sees both widths.
TEST(Compiler, ActQuantCompilesWithoutSpillsForShippedArchs) {
  const ActScale modes[] = {ActScale::kDynamicPerToken, ActScale::kDynamicGroup128,
                                ActScale::kDynamicPerTensor};
  for (const char* arch : {"sm_80", "sm_89", "sm_90"}) {
    for (const DType in : {DType::kF32, DType::kBF16}) {
      int i = 0;
      for (const QType out : {QType::kInt8, QType::kE4M3, QType::kE5M2}) {
        const ActQuantDesc desc{in, out, modes[i++], 1536};
        const auto spec = impls::act_quant_spec(desc, impls::act_quant_heuristic(desc), Arch::parse(arch));
        const Artifact a = compile(build_program(spec));
        EXPECT_FALSE(a.ptx.empty());
        EXPECT_FALSE(a.cubin.empty());
        ASSERT_EQ(a.kernels.size(), impls::act_quant_family().kernels.size());
        for (const auto& k : a.kernels) {
          EXPECT_FALSE(k.lowered_name.empty());
          EXPECT_NE(a.ptx.find(k.lowered_name), std::string::npos);
          EXPECT_GT(k.registers, 0) << spec.summary() << "\n" << a.log;
          EXPECT_EQ(k.spill_stores, 0) << spec.summary();
          EXPECT_EQ(k.spill_loads, 0) << spec.summary();
          EXPECT_EQ(k.stack_bytes, 0) << spec.summary();
        }
        EXPECT_GT(a.compile_ms, 0);
      }
    }
  }
}

// A program holds every entry of the family, but only its mode's read memory: the others
// compile to an empty body (what keeps one act_quant compile at the cost of one mode).
TEST(Compiler, ActQuantProgramsHaveBodiesOnlyForTheirMode) {
  for (ActScale mode : {ActScale::kDynamicPerToken, ActScale::kStaticPerTensor,
                            ActScale::kDynamicPerTensor, ActScale::kDynamicGroup128}) {
    const ActQuantDesc desc{DType::kBF16, QType::kInt8, mode, 1536};
    const auto spec = impls::act_quant_spec(desc, impls::act_quant_heuristic(desc), Arch::parse("sm_90"));
    const Artifact a = compile(build_program(spec, CompileOutput::kPtxOnly));
    const auto live = impls::act_quant_mode_kernels(mode);
    ASSERT_EQ(a.kernels.size(), impls::act_quant_family().kernels.size());
    for (const auto& k : a.kernels) {
      const size_t begin = a.ptx.find(".entry " + k.lowered_name);
      ASSERT_NE(begin, std::string::npos) << k.name_expression;
      const std::string body = a.ptx.substr(begin, a.ptx.find("\n}", begin) - begin);
      const bool has_body = std::find_if(live.begin(), live.end(), [&](const std::string& t) {
                              return name_expression(t) == k.name_expression;
                            }) != live.end();
      EXPECT_EQ(body.find("ld.global") != std::string::npos, has_body) << spec.summary() << " " << k.name_expression;
    }
  }
}

// The group128 pass that feeds the block-fp8 GEMM writes K-major scales (kScalesKMajor); the
// field is group128's only, false in every other spec, and a K-major program compiles
// without spills.
TEST(Compiler, ActQuantKMajorScalesAreGroup128s) {
  ActQuantDesc desc{DType::kBF16, QType::kE4M3, ActScale::kDynamicGroup128, 1536};
  desc.scales_k_major = true;
  const auto spec = impls::act_quant_spec(desc, impls::act_quant_heuristic(desc), Arch::parse("sm_90"));
  EXPECT_TRUE(std::get<bool>(spec.param("kScalesKMajor")));
  const Artifact a = compile(build_program(spec));
  for (const auto& k : a.kernels) EXPECT_EQ(k.spill_stores + k.spill_loads + k.stack_bytes, 0) << k.name_expression;
  desc.scales_k_major = false;
  EXPECT_FALSE(std::get<bool>(impls::act_quant_spec(desc, {}, Arch::parse("sm_90")).param("kScalesKMajor")));
  ActQuantDesc per_token{DType::kBF16, QType::kInt8, ActScale::kDynamicPerToken, 1536};
  per_token.scales_k_major = true;
  try {
    impls::act_quant_spec(per_token, {}, Arch::parse("sm_90"));
    ADD_FAILURE() << "K-major per-token scales were accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("K-major scales are group128's"), std::string::npos) << e.what();
  }
}

TEST(Compiler, PtxOnlyOutputSkipsPtxas) {
  const auto spec = impls::act_quant_spec({DType::kF16, QType::kInt8, ActScale::kStaticPerTensor, 64}, {128}, Arch::parse("sm_89"));
  const Artifact a = compile(build_program(spec, CompileOutput::kPtxOnly));
  EXPECT_NE(a.ptx.find(".target sm_89"), std::string::npos);
  EXPECT_TRUE(a.cubin.empty());
  EXPECT_EQ(a.kernels.at(0).registers, -1);
}

TEST(Compiler, ErrorsCarryNumberedSourceLines) {
  const auto spec = impls::act_quant_spec({DType::kF16, QType::kInt8, ActScale::kDynamicPerToken, 64}, {128}, Arch::parse("sm_80"));
  Program p = build_program(spec);
  p.source += "static_assert(QjitConfig::kThreads == 1, \"qjit test: deliberate failure\");\n";
  p.source += "int broken = undefined_identifier_xyz;\n";
  try {
    compile(p);
    FAIL() << "expected a compile error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_EQ(e.subsystem(), "nvrtc");
    EXPECT_NE(what.find("undefined_identifier_xyz"), std::string::npos) << what;
    EXPECT_NE(what.find("options: -arch=sm_80"), std::string::npos) << what;
    // The failing line, numbered and marked, with its neighbours.
    const int line = static_cast<int>(std::count(p.source.begin(), p.source.end(), '\n'));
    EXPECT_NE(what.find(fmt::format(">  {:>4} | int broken = undefined_identifier_xyz;", line)), std::string::npos) << what;
    EXPECT_NE(what.find("deliberate failure"), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace qjit::jit
