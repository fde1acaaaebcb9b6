// What an outside attack (issue 10) found in the command line, each case held closed: every
// flag and knob checked before work, an explicit flag winning over the environment, outputs
// that would destroy an input or a special file refused, hostile regexes and rule texts
// refused quickly, huge requests refused with what they need, a clear that cannot clear
// failing, and a umask that no longer makes the cache useless.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "../jit/test_util.hpp"
#include "runtime/safetensors.hpp"
#include "runtime/tensor.hpp"
#include "tests/tools/cli_run.hpp"

namespace qjit {
namespace {

namespace fs = std::filesystem;
using test::CliResult;

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

class AttackCli : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return (dir_.path() / name).string(); }
  std::string cache() const { return path("cache"); }
  CliResult qjit(const std::string& args, const std::string& env = "") const {
    return test::run_qjit(args, "QJIT_CACHE_DIR='" + cache() + "' " + env);
  }
  // Fails the test unless the command failed with `message` in its error output and did no
  // work: no kernel compiled or loaded, no step past reading the inputs.
  void expect_refused_before_work(const CliResult& r, const std::string& message) const {
    EXPECT_EQ(r.code, 1) << r.err;
    EXPECT_TRUE(has(r.err, message)) << r.err;
    EXPECT_FALSE(has(r.err, "] compiled ") || has(r.err, "] loaded ") || has(r.err, "[2/"))
        << "work started before the check:\n" << r.err;
    EXPECT_FALSE(has(r.err, "terminate called")) << r.err;
  }
  std::string inputs() const {
    std::vector<float> x(4 * 32), w(16 * 32);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = float(i % 7) - 3.0f;
    for (std::size_t i = 0; i < w.size(); ++i) w[i] = float(i % 5) * 0.01f;
    save_safetensors(path("x.safetensors"), {{"input", Tensor::from_vector<float>({4, 32}, x)}});
    save_safetensors(path("w.safetensors"), {{"weight", Tensor::from_vector<float>({16, 32}, w)}});
    return "linear --rule int8 --input " + path("x.safetensors") + " --weight " + path("w.safetensors");
  }

  test::TempDir dir_;
};

TEST_F(AttackCli, RunChecksEveryFlagBeforeCompiling) {
  const std::string run = "run --model wan2.1-tiny --preset int8 --arch sm_90";
  expect_refused_before_work(qjit(run + " --device bogus"), "--device bogus");
  expect_refused_before_work(qjit(run + " --device bogus --no-accuracy"), "--device bogus");
  expect_refused_before_work(qjit(run + " --timestep 1e30"), "--timestep 1e+30: must be a number in Wan's [0, 1000]");
  expect_refused_before_work(qjit(run + " --timestep nan"), "--timestep nan: must be a number");
  expect_refused_before_work(qjit(run + " --device sim:sm_75"), "--device sim:sm_75");
}

TEST_F(AttackCli, KnobsAreStrictAndNamed) {
  for (const auto& [env, message] : std::vector<std::pair<std::string, std::string>>{
           {"QJIT_CACHE_MAX_BYTES=-1", "QJIT_CACHE_MAX_BYTES='-1' is not a whole number"},
           {"QJIT_COMPILE_THREADS=4abc", "QJIT_COMPILE_THREADS='4abc' is not a whole number"},
           {"QJIT_SIM_THREADS=abc", "QJIT_SIM_THREADS='abc' is not a whole number"},
           {"QJIT_DUMP=maybe", "QJIT_DUMP='maybe' is not a flag"}}) {
    SCOPED_TRACE(env);
    expect_refused_before_work(qjit("run --model wan2.1-tiny --preset int8 --arch sm_90 --no-accuracy", env), message);
    expect_refused_before_work(qjit("cache stats", env), message);
  }
}

TEST_F(AttackCli, ExplicitArchAndDeviceWinOverTheEnvironment) {
  const CliResult r = qjit("run --json --model wan2.1-tiny --preset int8 --arch sm_80 --no-accuracy", "QJIT_ARCH=sm_90a");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("archs"), "sm_80");
  for (const auto& k : j.at("kernels")) EXPECT_EQ(k.at("arch"), "sm_80") << k.dump();
  // QJIT_DEVICE is the default of --device; the flag wins over it.
  const std::string lin = inputs() + " --json --out " + path("y.safetensors");
  const CliResult env_sim = qjit(lin, "QJIT_DEVICE=sim");
  ASSERT_EQ(env_sim.code, 0) << env_sim.err;
  EXPECT_EQ(nlohmann::json::parse(env_sim.out).at("device"), "sim");
  const CliResult flag_cpu = qjit(lin + " --device cpu", "QJIT_DEVICE=sim");
  ASSERT_EQ(flag_cpu.code, 0) << flag_cpu.err;
  EXPECT_EQ(nlohmann::json::parse(flag_cpu.out).at("device"), "cpu");
  expect_refused_before_work(qjit(lin, "QJIT_DEVICE=tpu"), "QJIT_DEVICE=tpu");
}

TEST_F(AttackCli, OutputsThatWouldDestroySomethingAreRefused) {
  const std::string lin = inputs();
  const std::string x_before = [&] {
    std::ifstream in(path("x.safetensors"), std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }();
  expect_refused_before_work(qjit(lin + " --out " + path("o.safetensors") + " --dump-quantized " + path("o.safetensors")),
                             "are the same file");
  expect_refused_before_work(qjit(lin + " --out " + path("x.safetensors")), "is the input --input");
  fs::create_symlink(path("w.safetensors"), path("link.safetensors"));
  expect_refused_before_work(qjit(lin + " --dump-quantized " + path("link.safetensors") + " --out " + path("o.safetensors")),
                             "is the input --weight");
  ASSERT_EQ(::mkfifo(path("fifo").c_str(), 0600), 0);
  expect_refused_before_work(qjit(lin + " --out " + path("fifo")), "is a FIFO");
  EXPECT_TRUE(fs::is_fifo(path("fifo")));
  if (::mknod(path("null").c_str(), S_IFCHR | 0600, makedev(1, 3)) == 0) {
    expect_refused_before_work(qjit(lin + " --out " + path("null")), "is a character device");
    EXPECT_TRUE(fs::is_character_file(path("null")));
  }
  expect_refused_before_work(qjit(lin + " --out " + dir_.path().string()), "is a directory");
  std::ifstream in(path("x.safetensors"), std::ios::binary);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), x_before) << "the input is intact";
  expect_refused_before_work(qjit("calibrate --model wan2.1-tiny --out " + path("fifo")), "--out " + path("fifo") + ": is a FIFO");
}

TEST_F(AttackCli, HostileRegexesFailFastWithAMessage) {
  const std::string deep = std::string(30'000, '(') + "a" + std::string(30'000, ')');
  for (const std::string& cmd :
       {"rules explain --model wan2.1-1.3b --rule 'module_path=" + deep + ",weight=int8'",
        "run --model wan2.1-tiny --arch sm_90 --no-accuracy --rule 'module_path=" + deep + ",weight=int8'",
        "calibrate --model wan2.1-tiny --out " + path("c.json") + " --layers '" + deep + "'"}) {
    SCOPED_TRACE(cmd.substr(0, 40));
    const CliResult r = qjit(cmd);
    EXPECT_EQ(r.code, 1) << r.err.substr(0, 500);
    EXPECT_TRUE(has(r.err, "longer than the 4096 allowed")) << r.err.substr(0, 500);
  }
  // (.*)*x over every layer of the 14B model: linear time, so it just matches nothing.
  const auto start = std::chrono::steady_clock::now();
  const CliResult r = qjit("rules explain --json --model wan2.1-14b --rule 'module_path=(.*)*x,weight=int8'");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(60));
}

TEST_F(AttackCli, OversizedRuleTextsAreRefusedBeforeTheyCostMemory) {
  // A name of 200 KB in a rules file (what cost 12.5 GB on wan2.1-14b at 5 MB), and a rules
  // file over its 1 MiB bound.
  std::ofstream(path("named.json")) << R"({"rules": [{"weight": "int8", "name": ")" << std::string(200'000, 'n')
                                    << R"("}]})";
  const CliResult named = qjit("rules explain --model wan2.1-14b --rule " + path("named.json"));
  EXPECT_EQ(named.code, 1);
  EXPECT_TRUE(has(named.err, "field name: 200000 bytes is longer than the 256 allowed")) << named.err.substr(0, 400);
  EXPECT_LT(named.err.size(), 4000u) << "messages quote a clipped text";
  std::ofstream(path("big.json")) << R"({"rules": ["int8"], "pad": ")" << std::string(2 << 20, ' ') << R"("})";
  const CliResult big = qjit("rules explain --model wan2.1-1.3b --rule " + path("big.json"));
  EXPECT_EQ(big.code, 1);
  EXPECT_TRUE(has(big.err, "is larger than the 1.00 MiB allowed")) << big.err.substr(0, 400);
  ASSERT_EQ(::mkfifo(path("rules.json").c_str(), 0600), 0);
  const CliResult fifo = qjit("rules explain --model wan2.1-1.3b --rule " + path("rules.json"));
  EXPECT_EQ(fifo.code, 1);
  EXPECT_TRUE(has(fifo.err, "not a regular file")) << fifo.err;
}

TEST_F(AttackCli, HugeRequestsSayWhatTheyNeed) {
  const CliResult run = qjit("run --preset int8 --frames 1000 --height 1000 --width 1000");
  expect_refused_before_work(run, "needs 8.15 TiB, more than this machine's");
  // An input of 2^36 rows, 2 TiB of bf16 (a sparse file: the header is honest, the data is
  // holes): more than any machine this runs on, so refused whatever the machine.
  const std::string header = R"({"input":{"dtype":"BF16","shape":[68719476736,16],"data_offsets":[0,2199023255552]}})";
  {
    const std::uint64_t n = header.size();
    std::ofstream out(path("huge.safetensors"), std::ios::binary);
    for (int i = 0; i < 8; ++i) out.put(static_cast<char>((n >> (8 * i)) & 0xff));
    out << header;
  }
  fs::resize_file(path("huge.safetensors"), 8 + header.size() + 2199023255552ull);
  save_safetensors(path("w.safetensors"), {{"weight", Tensor::zeros({16, 16}, DType::kF32)}});
  const CliResult lin = qjit("linear --rule int8 --input " + path("huge.safetensors") + " --weight " +
                             path("w.safetensors") + " --out " + path("y.safetensors"));
  EXPECT_EQ(lin.code, 1) << lin.err;
  EXPECT_TRUE(has(lin.err, "more than this machine's")) << lin.err;
  EXPECT_FALSE(has(lin.err, "bad_alloc")) << lin.err;
}

TEST_F(AttackCli, ClearOfAReadOnlyCacheFails) {
  ASSERT_EQ(qjit("run --model wan2.1-tiny --preset int8 --arch sm_90 --no-accuracy").code, 0);
  const fs::path ro = dir_.path() / "ro";
  fs::create_directories(ro);
  if (::mount(cache().c_str(), ro.c_str(), nullptr, MS_BIND, nullptr) != 0) GTEST_SKIP() << "mount needs root";
  const bool read_only = ::mount(nullptr, ro.c_str(), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr) == 0;
  const CliResult r = test::run_qjit("cache clear", "QJIT_CACHE_DIR='" + ro.string() + "'");
  ::umount2(ro.c_str(), MNT_DETACH);
  if (!read_only) GTEST_SKIP() << "cannot remount read-only";
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_TRUE(has(r.err, "Read-only file system")) << r.err;
  EXPECT_TRUE(has(r.out, "removed 0 entries")) << r.out;
  const CliResult stats = qjit("cache stats --json");
  EXPECT_GT(nlohmann::json::parse(stats.out).at("entries").get<int>(), 0) << "nothing was lost";
}

TEST_F(AttackCli, AGroupWritableUmaskStillCaches) {
  const std::string run = "umask 002; QJIT_CACHE_DIR='" + cache() + "' " QJIT_CLI_PATH
                          " run --json --model wan2.1-tiny --preset int8 --arch sm_90 --no-accuracy";
  auto hits = [&] {
    const std::string out = path("out.json");
    EXPECT_EQ(std::system(("(" + run + ") >'" + out + "' 2>/dev/null").c_str()), 0);
    std::ifstream in(out);
    return nlohmann::json::parse(in).at("cache_hits").get<int>();
  };
  EXPECT_EQ(hits(), 0);
  EXPECT_GT(hits(), 0) << "the second run hits the cache the first filled";
  struct stat st {};
  ASSERT_EQ(::stat(cache().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

}  // namespace
}  // namespace qjit
