// Storage and Tensor on a driver device, through a fake Driver over host memory: device
// allocation and freeing, to(Device) round trips, strided copies in both directions,
// device-to-device copies, element access and errors.

#include <gtest/gtest.h>

#include <numeric>

#include "common/error.hpp"
#include "fake_driver.hpp"
#include "runtime/storage.hpp"
#include "runtime/tensor.hpp"

namespace qjit {
namespace {

using test_support::FakeDriver;

std::vector<float> iota(std::size_t n) {
  std::vector<float> v(n);
  std::iota(v.begin(), v.end(), 0.0f);
  return v;
}

template <typename Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.message();
  }
  return "";
}

class TensorOnDevice : public ::testing::Test {
 protected:
  std::shared_ptr<FakeDriver> driver_ = std::make_shared<FakeDriver>(Device::sim());
  Device sim_ = Device::sim();

  Tensor upload(const Tensor& t) { return t.to(sim_, driver_); }
};

// Storage takes its memory from the driver's caching allocator (runtime/device_allocator.hpp):
// the driver allocates a block once; a block that is no longer used goes back to the cache,
// and the next request of its size takes it instead of the driver; release_cached() gives the
// cache back to the driver.
TEST_F(TensorOnDevice, StorageAllocatesThroughTheCachingAllocator) {
  DeviceAllocator& alloc = driver_->allocator();
  {
    auto s = Storage::allocate(100, sim_, driver_);
    EXPECT_EQ(driver_->live_blocks(), 1u);
    EXPECT_NE(s->device_ptr(), 0u);
    EXPECT_EQ(s->driver(), driver_);
    EXPECT_NE(error_of([&] { s->host_ptr(); }).find("is on sim, not on the cpu"), std::string::npos);
    const Tensor a = Tensor::from_storage(s, {25}, {1}, 0, DType::kF32);
    const Tensor b = a.slice(0, 5, 10);
    s.reset();
    EXPECT_EQ(alloc.stats().in_use, alloc.bucket_of(100));  // the views keep it alive
  }
  EXPECT_EQ(alloc.stats().in_use, 0u);
  EXPECT_EQ(alloc.stats().cached, alloc.bucket_of(100));
  EXPECT_EQ(driver_->live_blocks(), 1u) << "cached, not freed";
  {
    auto again = Storage::allocate(100, sim_, driver_);
    EXPECT_EQ(driver_->allocs(), 1) << "the cached block is reused";
    EXPECT_EQ(alloc.stats().reused, 1u);
  }
  // An empty device buffer allocates nothing.
  {
    auto e = Storage::allocate(0, sim_, driver_);
    EXPECT_EQ(e->device_ptr(), 0u);
  }
  EXPECT_EQ(driver_->allocs(), 1);
  alloc.release_cached();
  EXPECT_EQ(driver_->live_blocks(), 0u);
  EXPECT_EQ(alloc.stats().cached, 0u);
  EXPECT_EQ(alloc.stats().peak, alloc.bucket_of(100));
}

TEST_F(TensorOnDevice, StorageChecksTheDriverMatchesTheDevice) {
  EXPECT_NE(
      error_of([&] { Storage::allocate(8, Device::cuda(0), driver_); }).find("was given the driver of sim"),
      std::string::npos);
  EXPECT_NE(
      error_of([&] { Storage::allocate(8, Device::cpu(), driver_); }).find("cpu storage takes no driver"),
      std::string::npos);
}

TEST_F(TensorOnDevice, RoundTripThroughTheDevice) {
  const Tensor host = Tensor::from_vector<float>({2, 3}, iota(6), DType::kBF16);
  const Tensor dev = upload(host);
  EXPECT_EQ(dev.device(), sim_);
  EXPECT_EQ(dev.dtype(), DType::kBF16);
  EXPECT_TRUE(dev.is_contiguous());
  EXPECT_EQ(driver_->to_device_copies(), 1);
  const Tensor back = dev.to(Device::cpu());
  EXPECT_EQ(back.device(), Device::cpu());
  EXPECT_EQ(back.to_f32_vector(), host.to_f32_vector());
  EXPECT_EQ(driver_->to_host_copies(), 1);
  EXPECT_TRUE(dev.to(sim_).shares_storage(dev));
}

TEST_F(TensorOnDevice, ZerosUseTheDriversMemset) {
  const Tensor z = Tensor::zeros({3, 4}, DType::kF32, sim_, driver_);
  EXPECT_EQ(driver_->memsets(), 1);
  for (float v : z.to_f32_vector()) EXPECT_EQ(v, 0.0f);
}

TEST_F(TensorOnDevice, NonContiguousHostSourceIsMadeContiguous) {
  const Tensor host = Tensor::from_vector<float>({2, 3}, iota(6)).transpose(0, 1);  // [3, 2]
  const Tensor dev = upload(host);
  EXPECT_TRUE(dev.is_contiguous());
  EXPECT_EQ(dev.shape(), (std::vector<std::int64_t>{3, 2}));
  EXPECT_EQ(dev.to_f32_vector(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
}

TEST_F(TensorOnDevice, NonContiguousDeviceViewsCopyOut) {
  const Tensor dev = upload(Tensor::from_vector<float>({3, 4}, iota(12)));
  const Tensor view = dev.slice(1, 1, 3).transpose(0, 1);  // [2, 3], strides [1, 4], offset 1
  EXPECT_EQ(view.device_ptr(), dev.device_ptr() + 4);
  EXPECT_EQ(view.to(Device::cpu()).to_f32_vector(), (std::vector<float>{1, 5, 9, 2, 6, 10}));
  const Tensor c = view.contiguous();
  EXPECT_EQ(c.device(), sim_);
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_FALSE(c.shares_storage(dev));
  EXPECT_EQ(c.to_f32_vector(), (std::vector<float>{1, 5, 9, 2, 6, 10}));
  EXPECT_EQ(view.item_f32(1, 2), 10.0f);
}

TEST_F(TensorOnDevice, CopyIntoAStridedDeviceViewLeavesTheRestAlone) {
  Tensor dev = upload(Tensor::from_vector<float>({3, 3}, iota(9)));
  dev.slice(1, 0, 2).copy_(Tensor::from_vector<float>({3, 2}, {-1, -2, -3, -4, -5, -6}));
  EXPECT_EQ(dev.to_f32_vector(), (std::vector<float>{-1, -2, 2, -3, -4, 5, -5, -6, 8}));
  // And from another device view.
  const Tensor other = upload(Tensor::from_vector<float>({3}, {7, 8, 9}));
  dev.select(1, 2).copy_(other);
  EXPECT_EQ(dev.to_f32_vector(), (std::vector<float>{-1, -2, 7, -3, -4, 8, -5, -6, 9}));
}

TEST_F(TensorOnDevice, CopyIntoAStridedHostViewFromTheDevice) {
  Tensor host = Tensor::zeros({2, 4}, DType::kI32);
  const Tensor dev = upload(Tensor::from_vector<int>({2, 2}, {1, 2, 3, 4}));
  host.slice(1, 2, 4).copy_(dev);
  EXPECT_EQ(host.to_f32_vector(), (std::vector<float>{0, 0, 1, 2, 0, 0, 3, 4}));
}

TEST_F(TensorOnDevice, ContiguousDeviceCopiesStayOnTheDevice) {
  const Tensor dev = upload(Tensor::from_vector<float>({4}, {1, 2, 3, 4}));
  const int to_host_before = driver_->to_host_copies();
  const Tensor copy = dev.clone();
  EXPECT_EQ(driver_->device_copies(), 1);
  EXPECT_EQ(driver_->to_host_copies(), to_host_before);
  EXPECT_FALSE(copy.shares_storage(dev));
  EXPECT_EQ(copy.to_f32_vector(), (std::vector<float>{1, 2, 3, 4}));
}

TEST_F(TensorOnDevice, BetweenTwoDriverDevices) {
  auto gpu = std::make_shared<FakeDriver>(Device::cuda(1));
  const Tensor a = upload(Tensor::from_vector<float>({2, 2}, {1, 2, 3, 4}, DType::kF16));
  const Tensor b = a.transpose(0, 1).to(Device::cuda(1), gpu);
  EXPECT_EQ(b.device(), Device::cuda(1));
  EXPECT_EQ(b.driver(), gpu);
  EXPECT_EQ(b.to_f32_vector(), (std::vector<float>{1, 3, 2, 4}));
}

// Two drivers of one device kind (two sim devices) are two devices: to() copies between them,
// and is a no-op only on the tensor's own driver (or with no driver named).
TEST_F(TensorOnDevice, BetweenTwoDriversOfOneKind) {
  auto other = std::make_shared<FakeDriver>(Device::sim());
  const Tensor a = upload(Tensor::from_vector<float>({3}, {1, 2, 3}));
  const Tensor b = a.to(Device::sim(), other);
  EXPECT_EQ(b.driver(), other);
  EXPECT_EQ(b.to_f32_vector(), (std::vector<float>{1, 2, 3}));
  EXPECT_TRUE(a.to(Device::sim(), driver_).shares_storage(a));
  EXPECT_TRUE(a.to(Device::sim()).shares_storage(a));
}

TEST_F(TensorOnDevice, HostAccessorsNameTheDevice) {
  const Tensor dev = upload(Tensor::from_vector<float>({2}, {1, 2}));
  const std::string msg = error_of([&] { (void)dev.data_ptr<float>(); });
  EXPECT_NE(msg.find("Tensor(shape=[2], dtype=f32, device=sim)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("lives on sim"), std::string::npos) << msg;
  EXPECT_NE(error_of([&] { dev.to_dtype(DType::kBF16); }).find("to_dtype runs on the cpu"),
            std::string::npos);
  EXPECT_EQ(dev.item_f32(1), 2.0f);
  EXPECT_EQ(dev.str(), "Tensor(shape=[2], dtype=f32, device=sim, contiguous) [1, 2]");
}

TEST_F(TensorOnDevice, EmptyTensorsNeedNoTransfers) {
  const Tensor e = upload(Tensor::zeros({0, 3}, DType::kF32));
  EXPECT_EQ(e.numel(), 0);
  EXPECT_TRUE(e.to(Device::cpu()).to_f32_vector().empty());
  EXPECT_EQ(driver_->to_device_copies() + driver_->to_host_copies(), 0);
}

}  // namespace
}  // namespace qjit
