// The cpu device's programs through the JIT (jit/host_compiler.hpp): the host compiler plugin,
// the generated source (argument structs checked against the host's), the cache rules the
// GPU's entries follow (a hit, a corrupt entry rebuilt, an untrusted directory refused),
// and the key covering the target.

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "common/error.hpp"
#include "jit/compiler.hpp"
#include "jit/host_compiler.hpp"
#include "jit/impls/host_attention.hpp"
#include "jit/impls/host_gemm_bf16.hpp"
#include "jit/impls/host_glue.hpp"
#include "jit/impls/host_qgemm.hpp"
#include "jit/jit.hpp"
#include "jit/manifest.hpp"
#include "jit/source_gen.hpp"
#include "test_util.hpp"
#include "tests/support/checks.hpp"

namespace qjit::jit {
namespace {

using test::TempDir;
using test::error_of;

cache::Options options_in(const std::filesystem::path& dir) {
  cache::Options o;
  o.dir = dir;
  o.enabled = true;
  o.max_bytes = 1ull << 30;
  return o;
}

KernelSpec act_spec(impls::HostIsa isa = impls::HostIsa::kGeneric) {
  return impls::host_act_quant_spec({DType::kBF16, ActScale::kDynamicPerToken, QType::kInt8, isa}, {});
}

class HostCompile : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!host_compiler_available(&why)) GTEST_SKIP() << "no cpu compiler: " << why;
  }
};

TEST_F(HostCompile, ProgramsCompileToObjectCodeWithTheirEntries) {
  TempDir dir;
  Jit jit(options_in(dir.path()));
  const auto r = jit.get(act_spec(), CompileOutput::kHostObject);
  EXPECT_EQ(r.outcome, CacheOutcome::kCompiled);
  EXPECT_FALSE(r.artifact->object.empty());
  EXPECT_TRUE(r.artifact->ptx.empty());
  ASSERT_EQ(r.artifact->kernels.size(), 2u);
  EXPECT_EQ(r.artifact->kernel("qjit::host::act_quant_rows<QjitConfig>").lowered_name, "qjit_host_act_quant_rows");
  void* module = host_load(r.artifact->object, "test");
  EXPECT_NE(host_lookup(module, "qjit_host_act_quant_rows"), nullptr);
  EXPECT_NE(error_of([&] { host_lookup(module, "nope"); }).find("no entry nope"), std::string::npos);
  host_unload(module);
  EXPECT_EQ(Jit(options_in(dir.path())).get(act_spec(), CompileOutput::kHostObject).outcome, CacheOutcome::kDisk);
}

// The plugin starts AVX-512 programs that include <immintrin.h> from a PCH of it
// (hostcc/hostcc.cpp): the object code must be the one parsing the header gives; the portable
// path's programs, and programs that do not include it, never start from it.
TEST_F(HostCompile, TheIntrinsicsPreludeChangesNoObjectCode) {
  constexpr const char* kNote = "started from the <immintrin.h> prelude PCH";
  const bool avx512 = impls::host_isa() == impls::HostIsa::kAvx512Vnni || impls::host_isa() == impls::HostIsa::kAmx;
  for (const KernelSpec& spec :
       {act_spec(impls::host_isa()), impls::host_qgemm_spec({DType::kBF16, DType::kF32, Activation::kGeluTanh, impls::host_isa()},
                                                            impls::HostQGemmConfig{})}) {
    Program p = build_program(spec, CompileOutput::kHostObject);
    const Artifact with = compile(p);
    const Artifact again = compile(p);  // the prelude's second use
    EXPECT_EQ(with.log.find(kNote) != std::string::npos, avx512) << with.log;
    EXPECT_EQ(again.log.find(kNote) != std::string::npos, avx512) << again.log;
    p.options.push_back("-qjit-no-prelude");
    const Artifact without = compile(p);
    EXPECT_EQ(without.log.find(kNote), std::string::npos) << without.log;
    EXPECT_FALSE(with.object.empty()) << spec.summary();
    EXPECT_TRUE(with.object == without.object) << spec.summary();
    EXPECT_TRUE(again.object == without.object) << spec.summary();
  }
  // The portable path, and an AVX-512 program without intrinsics (the glue's).
  for (const KernelSpec& spec : {act_spec(impls::HostIsa::kGeneric),
                                 impls::host_rope_spec({DType::kBF16, DType::kBF16, impls::host_isa()}, {})}) {
    EXPECT_EQ(compile(build_program(spec, CompileOutput::kHostObject)).log.find(kNote), std::string::npos)
        << spec.summary();
  }
}

TEST_F(HostCompile, CorruptEntriesAreRebuiltAndUntrustedOnesRefused) {
  TempDir dir;
  const auto first = Jit(options_in(dir.path())).get(act_spec(), CompileOutput::kHostObject);
  const auto path = cache::DiskCache(options_in(dir.path())).entry_path(first.artifact->key);
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  bytes[bytes.size() / 2] ^= 0x10;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  const auto again = Jit(options_in(dir.path())).get(act_spec(), CompileOutput::kHostObject);
  EXPECT_EQ(again.outcome, CacheOutcome::kRebuilt);
  EXPECT_EQ(again.artifact->object, first.artifact->object);
  // Object code runs in the process: a directory others can write is never read from.
  ASSERT_EQ(::chmod(path.parent_path().c_str(), 0777), 0);
  EXPECT_NE(Jit(options_in(dir.path())).get(act_spec(), CompileOutput::kHostObject).outcome, CacheOutcome::kDisk);
  ::chmod(path.parent_path().c_str(), 0700);
}

TEST_F(HostCompile, TheKeyCoversTheTargetAndTheCompiler) {
  const Program generic = build_program(act_spec(impls::HostIsa::kGeneric), CompileOutput::kHostObject);
  const Program vnni = build_program(act_spec(impls::HostIsa::kAvx512Vnni), CompileOutput::kHostObject);
  const std::string m = make_manifest(generic);
  EXPECT_NE(m, make_manifest(vnni));
  EXPECT_NE(m.find("-qjit-cpu=x86-64"), std::string::npos);
  EXPECT_NE(m.find(host_compiler_identity()), std::string::npos);
  EXPECT_NE(make_manifest(vnni).find("-qjit-cpu=" + host_native_target().cpu), std::string::npos);
  // AVX2: the portable code for the x86-64-v3 level, the same options on any such host.
  const std::string avx2 = make_manifest(build_program(act_spec(impls::HostIsa::kAvx2), CompileOutput::kHostObject));
  EXPECT_NE(avx2, m);
  EXPECT_NE(avx2.find("-qjit-cpu=x86-64-v3"), std::string::npos);
  EXPECT_NE(error_of([] { build_program(act_spec(), CompileOutput::kPtxOnly); }).find("host family"),
            std::string::npos);
}

TEST_F(HostCompile, ArgumentStructsAreCheckedAgainstTheHost) {
  Program p = build_program(act_spec(), CompileOutput::kHostObject);
  // The template's struct with a field moved: the generated checks refuse it, naming it.
  for (auto& h : p.headers) {
    if (h.name != "host/act_quant.h") continue;
    const std::string from = "  i64 x_row_stride;\n  void* q;";
    const auto at = h.content.find(from);
    ASSERT_NE(at, std::string::npos);
    h.content.replace(at, from.size(), "  void* q;\n  i64 x_row_stride;");
  }
  const std::string e = error_of([&] { compile_host(p); });
  EXPECT_NE(e.find("field x_row_stride of qjit::host::act_amax_rows's arguments must be"), std::string::npos) << e;
  EXPECT_NE(e.find("HostActQuantParams::x_row_stride"), std::string::npos) << e;
}

TEST_F(HostCompile, ConfigsThatCannotRunAreRefused) {
  constexpr auto V = impls::HostIsa::kAvx512Vnni, A = impls::HostIsa::kAmx;
  impls::HostQGemmConfig c;
  c.mr = 8, c.nb = 4;  // 36 vector registers
  EXPECT_NE(error_of([&] { impls::check_host_qgemm_config(c, V); }).find("32 there are"), std::string::npos);
  c = {};
  c.mc = 50;
  EXPECT_NE(error_of([&] { impls::check_host_qgemm_config(c, V); }).find("multiple of mr"), std::string::npos);
  c = {};
  c.kc = 6;
  EXPECT_NE(error_of([&] { impls::check_host_qgemm_config(c, V); }).find("multiple of 4"), std::string::npos);
  // AMX: 8 tiles, K steps of whole 64-byte tile rows.
  c = {.mr = 32, .nb = 4, .mc = 64, .nc = 256, .kc = 2048};
  EXPECT_NE(error_of([&] { impls::check_host_qgemm_config(c, A); }).find("mr 16 or 32 rows by nb 1 or 2"),
            std::string::npos);
  c.nb = 2, c.kc = 1000;
  EXPECT_NE(error_of([&] { impls::check_host_qgemm_config(c, A); }).find("multiple of 64"), std::string::npos);
  c.kc = 2048, c.mc = 48;
  EXPECT_NE(error_of([&] { impls::check_host_qgemm_config(c, A); }).find("multiple of mr 32"), std::string::npos);
  c.mc = 64;
  EXPECT_NO_THROW(impls::check_host_qgemm_config(c, A));
  EXPECT_NE(error_of([&] { impls::check_host_qgemm_config(c, V); }).find("not in [1, 16]"), std::string::npos);
  // The float GEMM: the same blocking rules, K steps of whole 128-K fp8 blocks.
  impls::HostGemmBf16Config f;
  f.nc = 4096, f.mc = 300;  // 4.7 MiB of running sums on the stack
  EXPECT_NE(error_of([&] { impls::check_host_gemm_bf16_config(f, V); }).find("host_gemm_bf16: a 300x4096 block"),
            std::string::npos);
  f = {};
  f.kc = 192;
  EXPECT_NE(error_of([&] { impls::check_host_gemm_bf16_config(f, V); }).find("multiple of 128"), std::string::npos);
  f = {.mr = 32, .nb = 2, .mc = 64, .nc = 256, .kc = 8192};  // 16 x 8192 bf16 of tail copy
  EXPECT_NE(error_of([&] { impls::check_host_gemm_bf16_config(f, A); }).find("in [128, 4096]"), std::string::npos);
  f.kc = 2048, f.nb = 3;
  EXPECT_NE(error_of([&] { impls::check_host_gemm_bf16_config(f, A); }).find("host_gemm_bf16 (amx)"),
            std::string::npos);
  // Attention: head dims the kernel cannot take and bad tiles.
  EXPECT_NE(error_of([] { impls::host_attention_spec({.head_dim = 40}, {}); }).find("head dim 40"), std::string::npos);
  EXPECT_NE(error_of([] { impls::host_attention_spec({}, {.mq = 6}); }).find("mq 6"), std::string::npos);
  EXPECT_NE(error_of([] { impls::host_attention_spec({}, {.kt = 96}); }).find("kt 96"), std::string::npos);
}

}  // namespace
}  // namespace qjit::jit
