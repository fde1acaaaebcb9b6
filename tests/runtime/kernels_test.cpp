// What sits above the Driver interface for kernels: module loading once per artifact,
// function lookup by lowered name, argument packing and launch validation. A recording
// fake driver stands in for the device.

#include "runtime/kernels.hpp"

#include <gtest/gtest.h>

#include "common/error.hpp"
#include "fake_driver.hpp"
#include "jit/impls/act_quant.hpp"
#include "jit/impls/rope.hpp"
#include "runtime/plan_driver.hpp"
#include "runtime/tensor.hpp"
#include "tests/support/kernel_args.hpp"

namespace qjit {
namespace {

class RecordingDriver : public test_support::FakeDriver {
 public:
  RecordingDriver() : FakeDriver(Device::sim()) {
    props_.arch = 89;
    props_.smem_per_block = 48 * 1024;
    props_.smem_per_block_optin = 99 * 1024;
  }
  const DeviceProps& props() const override { return props_; }
  ModuleHandle load_module(const ModuleImage& image) override {
    ++loads;
    last_ptx = image.ptx;
    return reinterpret_cast<ModuleHandle>(0x1000 + loads);
  }
  void unload_module(ModuleHandle) override { ++unloads; }
  FunctionHandle get_function(ModuleHandle, const std::string& name) override {
    EXPECT_NE(last_ptx.find(".entry " + name), std::string::npos) << name;
    functions.push_back(name);
    return reinterpret_cast<FunctionHandle>(0x2000 + functions.size());
  }
  void set_attribute(FunctionHandle, FuncAttr attr, int value) override {
    if (attr == FuncAttr::kMaxDynamicSharedBytes) opted_in = value;
  }
  void launch(FunctionHandle, const LaunchConfig& c, void** args) override {
    ++launches;
    last_config = c;
    first_arg = *static_cast<std::uint64_t*>(args[0]);
    second_arg = *static_cast<std::int64_t*>(args[1]);
  }

  DeviceProps props_;
  int loads = 0, unloads = 0, launches = 0, opted_in = 0;
  std::string last_ptx;
  std::vector<std::string> functions;
  LaunchConfig last_config;
  std::uint64_t first_arg = 0;
  std::int64_t second_arg = 0;
};

struct KernelCacheTest : ::testing::Test {
  void SetUp() override {
    cache::Options o;
    o.enabled = false;
    jit = std::make_unique<jit::Jit>(o);
    kernels = std::make_unique<KernelCache>(*jit);
    driver = std::make_shared<RecordingDriver>();
  }
  jit::KernelSpec spec(const char* out) {
    return jit::impls::act_quant_spec({DType::kBF16, parse_qtype(out), ActScale::kDynamicPerToken, 64}, {128}, jit::Arch{});
  }
  std::unique_ptr<jit::Jit> jit;
  std::unique_ptr<KernelCache> kernels;
  std::shared_ptr<RecordingDriver> driver;
};

TEST_F(KernelCacheTest, ModulesLoadOncePerArtifactAndDriver) {
  const Kernel& a = kernels->get(driver, spec("int8"), "qjit::kernels::act_quant_per_token");
  const Kernel& b = kernels->get(driver, spec("int8"), "qjit::kernels::act_quant_static");
  const Kernel& a2 = kernels->get(driver, spec("int8"), "qjit::kernels::act_quant_per_token");
  EXPECT_EQ(&a, &a2);
  EXPECT_NE(&a, &b);
  EXPECT_EQ(driver->loads, 1);                // one program holds both entries
  EXPECT_EQ(driver->functions.size(), 2u);
  EXPECT_EQ(a.artifact().spec.arch().str(), "sm_89");  // the driver's arch, not the spec's
  EXPECT_TRUE(a.artifact().cubin.empty());    // the sim gets PTX only
  kernels->get(driver, spec("fp8_e4m3"), "qjit::kernels::act_quant_per_token");
  EXPECT_EQ(driver->loads, 2);
}

TEST_F(KernelCacheTest, FindUsesAPrecomputedKey) {
  const auto k = KernelCache::key(*driver, spec("int8"), "qjit::kernels::act_quant_per_token");
  EXPECT_EQ(kernels->find(k), nullptr);
  const Kernel& a = kernels->get(driver, spec("int8"), "qjit::kernels::act_quant_per_token");
  EXPECT_EQ(kernels->find(k), &a);
}

TEST_F(KernelCacheTest, LaunchPacksArgumentsAndValidatesLikeADevice) {
  const Kernel& k = kernels->get(driver, spec("int8"), "qjit::kernels::act_quant_per_token");
  jit::impls::ActQuantParams args;
  args.x = 0xabc0;
  args.x_row_stride = -7;
  args.m = 3;
  LaunchConfig c;
  c.grid.x = 4;
  c.block.x = 128;
  k.launch(c, args);
  EXPECT_EQ(driver->launches, 1);
  EXPECT_EQ(driver->first_arg, 0xabc0u);
  EXPECT_EQ(driver->second_arg, -7);
  EXPECT_EQ(driver->opted_in, 0);

  c.dynamic_smem = 64 * 1024;  // above 48 KB: the launch opts in first
  k.launch(c, args);
  EXPECT_EQ(driver->opted_in, 64 * 1024);

  c.dynamic_smem = 100 * 1024;  // above the opt-in maximum
  EXPECT_THROW(k.launch(c, args), Error);
  c.dynamic_smem = 0;
  c.block.x = 2048;
  EXPECT_THROW(k.launch(c, args), Error);
  EXPECT_EQ(driver->launches, 2);
}

TEST_F(KernelCacheTest, LaunchRefusesAnotherFamilysStruct) {
  const Kernel& k = kernels->get(driver, spec("int8"), "qjit::kernels::act_quant_per_token");
  LaunchConfig c;
  c.block.x = 128;
  const jit::impls::RopeParams wrong;
  try {
    k.launch(c, wrong);
    ADD_FAILURE() << "launched with another family's struct";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("takes jit::impls::ActQuantParams, not jit::impls::RopeParams"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(driver->launches, 0);
}

// The plan device is an ordinary Driver to the KernelCache: its kernel code is none, so
// nothing compiles; loading a kernel records it (spec with the device's arch, entry), and
// launches count, with the launch checked as on any device.
TEST_F(KernelCacheTest, APlanDeviceRecordsKernelsAndCompilesNothing) {
  auto plan = std::make_shared<PlanDriver>("sm_90");
  EXPECT_FALSE(Tensor::empty({4}, DType::kF32, Device::sim(), plan).holds_values());
  const Kernel& k = kernels->get(plan, spec("int8"), "qjit::kernels::act_quant_per_token");
  kernels->get(plan, spec("int8"), "qjit::kernels::act_quant_static");
  jit::impls::ActQuantParams args;
  LaunchConfig c;
  c.block.x = 128;
  k.launch(c, args);
  k.launch(c, args);
  c.block.x = 4096;
  EXPECT_THROW(k.launch(c, args), Error);
  EXPECT_EQ(jit->stats().compiles, 0u);
  const auto planned = plan->planned();
  ASSERT_EQ(planned.size(), 2u);
  EXPECT_EQ(planned[0].kernel_template, "qjit::kernels::act_quant_per_token");
  EXPECT_EQ(planned[0].spec.arch().str(), "sm_90");
  EXPECT_EQ(planned[0].launches, 2);
  EXPECT_EQ(planned[1].kernel_template, "qjit::kernels::act_quant_static");
  EXPECT_EQ(planned[1].launches, 0);
  EXPECT_EQ(plan->counters().launches, 2u);
}

TEST(KernelArgs, AlignsEachValue) {
  KernelArgs args(char{1}, double{2.5}, int{3});
  void** p = args.pointers();
  EXPECT_EQ(*static_cast<char*>(p[0]), 1);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p[1]) % alignof(double), 0u);
  EXPECT_EQ(*static_cast<double*>(p[1]), 2.5);
  EXPECT_EQ(*static_cast<int*>(p[2]), 3);
}

}  // namespace
}  // namespace qjit
