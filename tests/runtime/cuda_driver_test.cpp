// The cuda Driver on a real GPU (skipped, with the reason, where none answers), plus the
// parts of the binding that need no GPU (cubin arch detection, the absent-GPU message).
// Kernels are compiled here with NVRTC, not through the JIT layer, so a failure points at
// the driver alone.

#include "runtime/driver/cuda_driver.hpp"

#include <gtest/gtest.h>
#include <nvrtc.h>

#include <cstring>
#include <numeric>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/error.hpp"
#include "runtime/device.hpp"
#include "tests/support/cuda_required.hpp"

namespace qjit {
namespace {

constexpr const char* kAdd1Source = R"(
extern "C" __global__ void add1(float* x, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) x[i] += 1.0f;
}
)";

// Needs more than the 48 KB a block gets without opting in.
constexpr const char* kReverseSource = R"(
extern "C" __global__ void reverse_smem(const float* in, float* out, int n) {
  extern __shared__ float s[];
  for (int i = threadIdx.x; i < n; i += blockDim.x) s[i] = in[i];
  __syncthreads();
  for (int i = threadIdx.x; i < n; i += blockDim.x) out[i] = s[n - 1 - i];
}
)";

void nvrtc_check(nvrtcResult r, const char* what, const std::string& log = "") {
  if (r != NVRTC_SUCCESS) {
    throw std::runtime_error(std::string(what) + ": " + nvrtcGetErrorString(r) + "\n" + log);
  }
}

// PTX always; the cubin too when `arch` is a real arch ("sm_90a"), not "compute_90a".
ModuleImage compile(const char* source, const std::string& arch, const char* name) {
  nvrtcProgram prog = nullptr;
  nvrtc_check(nvrtcCreateProgram(&prog, source, name, 0, nullptr, nullptr), "nvrtcCreateProgram");
  std::string arch_option = "--gpu-architecture=" + arch;
  const char* options[] = {arch_option.c_str()};
  nvrtcResult r = nvrtcCompileProgram(prog, 1, options);
  std::size_t log_size = 0;
  nvrtcGetProgramLogSize(prog, &log_size);
  std::string log(log_size, '\0');
  nvrtcGetProgramLog(prog, log.data());
  nvrtc_check(r, "nvrtcCompileProgram", log);

  ModuleImage image;
  image.name = name;
  std::size_t size = 0;
  nvrtc_check(nvrtcGetPTXSize(prog, &size), "nvrtcGetPTXSize");
  image.ptx.resize(size);
  nvrtc_check(nvrtcGetPTX(prog, image.ptx.data()), "nvrtcGetPTX");
  image.ptx.resize(std::strlen(image.ptx.c_str()));  // drop the terminating NUL NVRTC counts
  if (arch.starts_with("sm_")) {
    nvrtc_check(nvrtcGetCUBINSize(prog, &size), "nvrtcGetCUBINSize");
    image.cubin.resize(size);
    nvrtc_check(nvrtcGetCUBIN(prog, image.cubin.data()), "nvrtcGetCUBIN");
  }
  nvrtcDestroyProgram(&prog);
  return image;
}

// ---- no GPU needed ---------------------------------------------------------------------

TEST(CubinArch, ReadsTheArchNvrtcBuiltFor) {
  // sm_100 exercises the current ELF ABI; both report the plain SM number, "a" or not.
  for (auto [arch, expected] : {std::pair{"sm_75", 75}, {"sm_80", 80}, {"sm_89", 89},
                                {"sm_90", 90}, {"sm_90a", 90}, {"sm_100", 100}}) {
    ModuleImage image = compile(kAdd1Source, arch, "add1.cu");
    EXPECT_EQ(cubin_arch(image.cubin), expected) << arch;
  }
}

TEST(CubinArch, NotACubinIsZero) {
  EXPECT_EQ(cubin_arch(""), 0);
  EXPECT_EQ(cubin_arch("\x7f" "ELF"), 0);
  EXPECT_EQ(cubin_arch(std::string(128, 'x')), 0);
  ModuleImage ptx_only = compile(kAdd1Source, "compute_80", "add1.cu");
  EXPECT_TRUE(ptx_only.cubin.empty());
  EXPECT_EQ(cubin_arch(ptx_only.ptx), 0);
}

TEST(CudaAvailable, IsCachedAndNeverThrows) {
  bool first = cuda_available();
  EXPECT_EQ(cuda_available(), first);
  EXPECT_EQ(cuda_unavailable_reason().empty(), first);
  if (!first) std::printf("no GPU: %s\n", cuda_unavailable_reason().c_str());
}

// ---- on a GPU --------------------------------------------------------------------------

class CudaDriverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    QJIT_SKIP_WITHOUT_CUDA();
    driver_ = driver_for(Device::cuda(0));
  }

  // A device buffer freed at the end of the test.
  DevicePtr buffer(std::size_t bytes) {
    DevicePtr p = driver_->alloc(bytes);
    buffers_.push_back(p);
    return p;
  }
  void TearDown() override {
    if (!driver_) return;
    for (DevicePtr p : buffers_) driver_->free(p);
  }

  // The stand-in driver (tests/cuda_standin/) runs PTX only and refuses SASS, as a driver
  // refuses an image built for another GPU.
  bool standin() const { return driver_->props().name.rfind("qjit cuda stand-in", 0) == 0; }

  std::shared_ptr<Driver> driver_;
  std::vector<DevicePtr> buffers_;
};

TEST_F(CudaDriverTest, PropsAreSane) {
  const DeviceProps& p = driver_->props();
  std::printf("%s: %s, %d SMs, smem %zu/%zu(optin)/%zu(SM), %zu MiB\n", p.name.c_str(),
              p.arch_name().c_str(), p.sm_count, p.smem_per_block, p.smem_per_block_optin,
              p.smem_per_sm, p.total_mem >> 20);
  EXPECT_FALSE(p.name.empty());
  EXPECT_GE(p.arch, 50);
  EXPECT_GT(p.sm_count, 0);
  EXPECT_EQ(p.smem_per_block, 48u * 1024);
  EXPECT_GE(p.smem_per_block_optin, p.smem_per_block);
  EXPECT_GE(p.smem_per_sm, p.smem_per_block_optin);
  EXPECT_GE(p.max_threads_per_block, 512);
  EXPECT_GE(p.regs_per_block, 32768);
  EXPECT_EQ(p.warp_size, 32);
  EXPECT_GT(p.total_mem, 1ull << 30);
  EXPECT_EQ(p.arch_accel, p.arch == 90 || (p.arch >= 100 && p.arch < 110));
  EXPECT_EQ(p.arch_name(), p.arch == 90 ? "sm_90a" : "sm_" + std::to_string(p.arch));
  EXPECT_EQ(driver_->device(), Device::cuda(0));
}

TEST_F(CudaDriverTest, CopiesRoundTrip) {
  const std::size_t n = 1 << 20;
  std::vector<std::uint32_t> host(n), back(n, 0);
  std::iota(host.begin(), host.end(), 12345u);
  DevicePtr a = buffer(n * 4), b = buffer(n * 4);
  driver_->copy_to_device(a, host.data(), n * 4);
  driver_->copy_device(b, a, n * 4);
  driver_->copy_to_host(back.data(), b, n * 4);
  EXPECT_EQ(back, host);
  // Zero-byte operations are no-ops, and a zero-byte allocation is the null pointer.
  EXPECT_EQ(driver_->alloc(0), 0u);
  driver_->free(0);
  driver_->copy_to_device(a, nullptr, 0);
}

TEST_F(CudaDriverTest, Memset8) {
  const std::size_t n = 4096 + 3;  // not a multiple of any vector width
  DevicePtr a = buffer(n);
  driver_->memset8(a, 0xAB, n);
  driver_->memset8(a + 100, 0x00, 7);
  std::vector<std::uint8_t> back(n);
  driver_->copy_to_host(back.data(), a, n);
  for (std::size_t i = 0; i < n; ++i) {
    ASSERT_EQ(back[i], (i >= 100 && i < 107) ? 0x00 : 0xAB) << i;
  }
}

TEST_F(CudaDriverTest, LoadsCubinAndLaunches) {
  ModuleImage image = compile(kAdd1Source, driver_->props().arch_name(), "add1.cu");
  image.ptx.clear();  // the cubin alone must do
  if (standin()) {
    // No SASS runs on the stand-in: the refusal comes back through the binding, named.
    std::string what;
    try {
      driver_->load_module(image);
    } catch (const Error& e) {
      what = e.what();
    }
    EXPECT_NE(what.find("CUDA_ERROR_NO_BINARY_FOR_GPU"), std::string::npos) << what;
    return;
  }
  ModuleHandle module = driver_->load_module(image);
  FunctionHandle fn = driver_->get_function(module, "add1");
  EXPECT_GT(driver_->get_attribute(fn, FuncAttr::kNumRegs), 0);
  EXPECT_GE(driver_->get_attribute(fn, FuncAttr::kMaxThreadsPerBlock), 256);
  EXPECT_EQ(driver_->get_attribute(fn, FuncAttr::kStaticSharedBytes), 0);
  EXPECT_EQ(driver_->get_attribute(fn, FuncAttr::kLocalBytes), 0);

  int n = 1000;  // not a multiple of the block: the tail is guarded
  std::vector<float> host(n);
  std::iota(host.begin(), host.end(), -5.0f);
  DevicePtr x = buffer(n * sizeof(float));
  driver_->copy_to_device(x, host.data(), n * sizeof(float));
  void* args[] = {&x, &n};
  LaunchConfig config;
  config.grid.x = (n + 255) / 256;
  config.block.x = 256;
  driver_->launch(fn, config, args);
  driver_->synchronize();
  std::vector<float> back(n);
  driver_->copy_to_host(back.data(), x, n * sizeof(float));
  for (int i = 0; i < n; ++i) ASSERT_EQ(back[i], host[i] + 1.0f) << i;
  driver_->unload_module(module);
}

TEST_F(CudaDriverTest, LoadsPtxAndOnAStream) {
  // compute_XX: PTX only, JIT-compiled by the driver.
  std::string arch = driver_->props().arch_name();
  ModuleImage image = compile(kAdd1Source, "compute_" + arch.substr(3), "add1.cu");
  ASSERT_TRUE(image.cubin.empty());
  ModuleHandle module = driver_->load_module(image);
  FunctionHandle fn = driver_->get_function(module, "add1");

  int n = 513;
  std::vector<float> host(n, 2.0f);
  DevicePtr x = buffer(n * sizeof(float));
  StreamHandle stream = driver_->create_stream();
  driver_->copy_to_device(x, host.data(), n * sizeof(float));
  void* args[] = {&x, &n};
  LaunchConfig config;
  config.grid.x = (n + 127) / 128;
  config.block.x = 128;
  config.stream = stream;
  driver_->launch(fn, config, args);
  driver_->launch(fn, config, args);
  driver_->synchronize(stream);
  std::vector<float> back(n);
  driver_->copy_to_host(back.data(), x, n * sizeof(float));
  for (int i = 0; i < n; ++i) ASSERT_EQ(back[i], 4.0f) << i;
  driver_->destroy_stream(stream);
  driver_->unload_module(module);
}

TEST_F(CudaDriverTest, CubinForAnotherArchFallsBackToPtx) {
  int arch = driver_->props().arch;
  std::string other = arch == 75 ? "sm_80" : "sm_75";
  if (arch < 80 && other == "sm_80") GTEST_SKIP() << "compute_80 PTX cannot run on sm_" << arch;
  ModuleImage image = compile(kAdd1Source, other, "add1.cu");  // cubin: other; PTX: compute_75/80
  ModuleHandle module = driver_->load_module(image);
  EXPECT_NE(driver_->get_function(module, "add1"), nullptr);
  driver_->unload_module(module);

  image.ptx.clear();
  std::string what;
  try {
    driver_->load_module(image);
  } catch (const Error& e) {
    what = e.what();
  }
  EXPECT_NE(what.find("cubin built for " + other), std::string::npos) << what;
}

TEST_F(CudaDriverTest, DynamicSharedMemoryOptIn) {
  constexpr int kBytes = 64 * 1024;
  if (driver_->props().smem_per_block_optin < kBytes) GTEST_SKIP() << "device opts in < 64 KB";
  ModuleImage image = compile(kReverseSource, driver_->props().arch_name(), "reverse.cu");
  ModuleHandle module = driver_->load_module(image);
  FunctionHandle fn = driver_->get_function(module, "reverse_smem");

  int n = kBytes / sizeof(float);
  std::vector<float> host(n);
  std::iota(host.begin(), host.end(), 0.5f);
  DevicePtr in = buffer(kBytes), out = buffer(kBytes);
  driver_->copy_to_device(in, host.data(), kBytes);
  void* args[] = {&in, &out, &n};
  LaunchConfig config;
  config.block.x = 256;
  config.dynamic_smem = kBytes;

  // Without the opt-in a block may not have more than 48 KB (a launch error, not sticky).
  EXPECT_THROW(driver_->launch(fn, config, args), Error);
  driver_->set_attribute(fn, FuncAttr::kMaxDynamicSharedBytes, kBytes);
  EXPECT_EQ(driver_->get_attribute(fn, FuncAttr::kMaxDynamicSharedBytes), kBytes);
  EXPECT_THROW(driver_->set_attribute(fn, FuncAttr::kNumRegs, 32), Error);
  driver_->launch(fn, config, args);
  driver_->synchronize();
  std::vector<float> back(n);
  driver_->copy_to_host(back.data(), out, kBytes);
  for (int i = 0; i < n; ++i) ASSERT_EQ(back[i], host[n - 1 - i]) << i;
  driver_->unload_module(module);
}

TEST_F(CudaDriverTest, EventsTime) {
  const std::size_t bytes = 256 << 20;
  DevicePtr a = buffer(bytes);
  EventHandle start = driver_->create_event();
  EventHandle end = driver_->create_event();
  driver_->record_event(start);
  driver_->memset8(a, 1, bytes);
  driver_->record_event(end);
  driver_->synchronize_event(end);
  float ms = driver_->elapsed_ms(start, end);
  std::printf("memset of 256 MiB: %.3f ms\n", ms);
  EXPECT_GT(ms, 0.0f);
  EXPECT_LT(ms, 10000.0f);
  driver_->destroy_event(start);
  driver_->destroy_event(end);
}

TEST_F(CudaDriverTest, AnyThreadMayUseTheDriver) {
  // A fresh thread has no current context; the driver makes its own current.
  std::vector<std::uint8_t> back(64);
  std::thread worker([&] {
    DevicePtr p = driver_->alloc(64);
    driver_->memset8(p, 7, 64);
    driver_->copy_to_host(back.data(), p, 64);
    driver_->free(p);
  });
  worker.join();
  EXPECT_EQ(back, std::vector<std::uint8_t>(64, 7));
}

TEST_F(CudaDriverTest, ErrorsNameTheCall) {
  ModuleImage image = compile(kAdd1Source, driver_->props().arch_name(), "add1.cu");
  ModuleHandle module = driver_->load_module(image);
  try {
    driver_->get_function(module, "no_such_kernel");
    ADD_FAILURE() << "expected qjit::Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.subsystem(), "cuda");
    EXPECT_NE(std::string(e.what()).find("no_such_kernel"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("CUDA_ERROR_"), std::string::npos) << e.what();
  }
  driver_->unload_module(module);

  ModuleImage bad;
  bad.name = "bad";
  bad.ptx = ".version 99.0\n.target sm_90\nthis is not ptx\n";
  try {
    driver_->load_module(bad);
    ADD_FAILURE() << "expected qjit::Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.subsystem(), "cuda");
    EXPECT_NE(std::string(e.what()).find("module 'bad'"), std::string::npos) << e.what();
  }
  ModuleImage empty;
  empty.name = "empty";
  EXPECT_THROW(driver_->load_module(empty), Error);
}

}  // namespace
}  // namespace qjit
