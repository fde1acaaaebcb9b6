// Device parsing, the default device, and driver_for() on every machine (GPU or not).

#include "runtime/device.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/error.hpp"
#include "runtime/driver.hpp"
#include "runtime/driver/cuda_driver.hpp"
#include "tests/support/cuda_required.hpp"

namespace qjit {
namespace {

// Sets an environment variable for one scope and restores the old value.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// The error text of `fn`, which must throw qjit::Error; "" (and a failure) otherwise.
template <typename Fn>
std::string error_of(Fn&& fn, std::string* subsystem = nullptr) {
  try {
    fn();
  } catch (const Error& e) {
    if (subsystem) *subsystem = e.subsystem();
    return e.what();
  }
  ADD_FAILURE() << "expected qjit::Error";
  return "";
}

TEST(Device, ParsesEveryForm) {
  EXPECT_EQ(Device::parse("cpu"), Device::cpu());
  EXPECT_EQ(Device::parse("sim"), Device::sim());
  EXPECT_EQ(Device::parse("cuda"), Device::cuda(0));
  EXPECT_EQ(Device::parse("cuda:0"), Device::cuda(0));
  EXPECT_EQ(Device::parse("cuda:3"), Device::cuda(3));
  EXPECT_EQ(Device::parse("cuda:12"), Device::cuda(12));
  // Environment variables often carry stray spaces or capitals.
  EXPECT_EQ(Device::parse(" CUDA:1 "), Device::cuda(1));
  EXPECT_EQ(Device::parse("Cpu"), Device::cpu());
}

TEST(Device, AutoIsCudaExactlyWhenAGpuAnswers) {
  Device d = Device::parse("auto");
  if (cuda_available()) {
    EXPECT_EQ(d, Device::cuda(0));
  } else {
    EXPECT_EQ(d, Device::cpu()) << "no GPU here (" << cuda_unavailable_reason() << ")";
  }
}

TEST(Device, BadStringsListTheValidForms) {
  for (const char* bad : {"", "gpu", "cuda:", "cuda:x", "cuda:-1", "cuda:1x", "cuda:+1", "cuda1",
                          "sim:0", "cpu:0", "cuda:99999999999999999999"}) {
    std::string subsystem;
    std::string what = error_of([&] { Device::parse(bad); }, &subsystem);
    EXPECT_EQ(subsystem, "device") << bad;
    EXPECT_NE(what.find("cpu, cpu:ref, cuda, cuda:N"), std::string::npos) << what;
    EXPECT_NE(what.find("sim, auto"), std::string::npos) << what;
    EXPECT_NE(what.find(std::string("'") + bad + "'"), std::string::npos) << what;
  }
}

TEST(Device, StrRoundTrips) {
  EXPECT_EQ(Device::cpu().str(), "cpu");
  EXPECT_EQ(Device::sim().str(), "sim");
  EXPECT_EQ(Device::cuda().str(), "cuda:0");
  EXPECT_EQ(Device::cuda(2).str(), "cuda:2");
  for (Device d : {Device::cpu(), Device::sim(), Device::cuda(0), Device::cuda(7)}) {
    EXPECT_EQ(Device::parse(d.str()), d);
  }
  EXPECT_TRUE(Device::cpu().is_host());
  EXPECT_FALSE(Device::sim().is_host());
}

TEST(Device, DefaultDeviceReadsQjitDevice) {
  {
    ScopedEnv env("QJIT_DEVICE", "sim");
    EXPECT_EQ(Device::default_device(), Device::sim());
  }
  {
    ScopedEnv env("QJIT_DEVICE", "cuda:1");
    EXPECT_EQ(Device::default_device(), Device::cuda(1));
  }
  {
    ScopedEnv env("QJIT_DEVICE", nullptr);
    EXPECT_EQ(Device::default_device(), Device::parse("auto"));
  }
  {
    ScopedEnv env("QJIT_DEVICE", "");
    EXPECT_EQ(Device::default_device(), Device::parse("auto"));
  }
  {
    ScopedEnv env("QJIT_DEVICE", "tpu");
    std::string what = error_of([] { Device::default_device(); });
    EXPECT_NE(what.find("QJIT_DEVICE"), std::string::npos) << what;
    EXPECT_NE(what.find("'tpu'"), std::string::npos) << what;
  }
}

TEST(DeviceProps, ArchName) {
  DeviceProps p;
  p.arch = 80;
  EXPECT_EQ(p.arch_name(), "sm_80");
  p.arch = 89;
  EXPECT_EQ(p.arch_name(), "sm_89");
  p.arch = 90;
  EXPECT_EQ(p.arch_name(), "sm_90");
  p.arch_accel = true;
  EXPECT_EQ(p.arch_name(), "sm_90a");
  p.arch = 100;
  EXPECT_EQ(p.arch_name(), "sm_100");
}

// The cpu device's driver runs compiled host kernels (runtime/host_driver.hpp); cpu:ref, the
// plain reference, has none.
TEST(DriverFor, CpuRunsHostObjectsAndCpuRefHasNoDriver) {
  const auto driver = driver_for(Device::cpu());
  EXPECT_EQ(driver->kernel_code(), KernelCode::kHostObject);
  EXPECT_EQ(driver->device(), Device::cpu());
  EXPECT_EQ(driver->props().arch_name(), "host");
  EXPECT_GE(driver->props().sm_count, 1);
  const std::string what = error_of([] { driver_for(Device::cpu_ref()); });
  EXPECT_NE(what.find("cpu:ref has no Driver"), std::string::npos) << what;
  EXPECT_EQ(Device::parse("cpu:ref"), Device::cpu_ref());
  EXPECT_EQ(Device::cpu_ref().str(), "cpu:ref");
  EXPECT_TRUE(Device::cpu_ref().is_host());
  EXPECT_FALSE(Device::cpu_ref().runs_host_kernels());
  EXPECT_TRUE(Device::cpu().runs_host_kernels());
}

TEST(DriverFor, SimIsBuiltIn) {
  auto driver = driver_for(Device::sim());
  ASSERT_NE(driver, nullptr);
  EXPECT_EQ(driver->device(), Device::sim());
  EXPECT_EQ(driver_for(Device::sim()), driver);  // one per process
  EXPECT_GE(driver->props().arch, 80);
}

TEST(DriverFor, CudaWithoutAGpuSaysWhy) {
  if (cuda_available()) GTEST_SKIP() << "a GPU answers here; see CudaDriver tests";
  EXPECT_FALSE(cuda_unavailable_reason().empty());
  std::string subsystem;
  std::string what = error_of([] { driver_for(Device::cuda()); }, &subsystem);
  EXPECT_EQ(subsystem, "cuda");
  EXPECT_NE(what.find("no GPU: "), std::string::npos) << what;
  EXPECT_NE(what.find(cuda_unavailable_reason()), std::string::npos) << what;
  // The reason is one of the two documented forms.
  const std::string& why = cuda_unavailable_reason();
  EXPECT_TRUE(why.find("libcuda.so.1 could not be opened (") == 0 ||
              why.find("no CUDA device answered (") == 0)
      << why;
}

TEST(DriverFor, CudaIsOneDriverPerDevice) {
  QJIT_SKIP_WITHOUT_CUDA();
  std::vector<std::shared_ptr<Driver>> got(8);
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) threads.emplace_back([&, i] { got[i] = driver_for(Device::cuda(0)); });
  for (auto& t : threads) t.join();
  for (const auto& d : got) EXPECT_EQ(d, got[0]);
  EXPECT_EQ(got[0]->device(), Device::cuda(0));
  EXPECT_EQ(driver_for(Device::parse("cuda")), got[0]);

  std::string what = error_of([] { driver_for(Device::cuda(999)); });
  EXPECT_NE(what.find("cuda:999 does not exist"), std::string::npos) << what;
}

}  // namespace
}  // namespace qjit
