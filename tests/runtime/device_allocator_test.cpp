// The caching device allocator (runtime/device_allocator.hpp) over a fake driver: buckets,
// stream-ordered reuse, the figures, giving the cache back, and a full device.

#include <gtest/gtest.h>

#include <stdexcept>

#include "common/error.hpp"
#include "fake_driver.hpp"
#include "runtime/device_allocator.hpp"
#include "sim/sim_driver.hpp"

namespace qjit {
namespace {

using test_support::FakeDriver;

TEST(DeviceAllocator, BucketsRoundUnlessTheDriverChecksBounds) {
  FakeDriver fake;
  DeviceAllocator rounding(fake, /*exact_sizes=*/false);
  EXPECT_EQ(rounding.bucket_of(1), 512u);
  EXPECT_EQ(rounding.bucket_of(512), 512u);
  EXPECT_EQ(rounding.bucket_of(513), 1024u);
  EXPECT_EQ(rounding.bucket_of((1 << 20) + 1), 2u << 20);
  EXPECT_EQ(rounding.bucket_of(5u << 20), 6u << 20);
  DeviceAllocator exact(fake, /*exact_sizes=*/true);
  EXPECT_EQ(exact.bucket_of(100), 100u);
  // The sim checks every access against its allocation: its allocator keeps exact sizes.
  sim::SimDriver sim(sim::SimDeviceConfig::for_arch("sm_89"));
  EXPECT_EQ(sim.allocator().bucket_of(100), 100u);
}

TEST(DeviceAllocator, ReusesWithinAStreamOnly) {
  FakeDriver fake;
  DeviceAllocator a(fake, false);
  StreamHandle s1 = reinterpret_cast<StreamHandle>(0x10), s2 = reinterpret_cast<StreamHandle>(0x20);
  const DevicePtr p = a.allocate(1000, s1);
  a.release(p);
  const DevicePtr q = a.allocate(700, s2);  // same bucket, other stream: a new block
  EXPECT_NE(q, p);
  EXPECT_EQ(fake.allocs(), 2);
  const DevicePtr r = a.allocate(900, s1);  // same bucket, same stream: the cached one
  EXPECT_EQ(r, p);
  EXPECT_EQ(fake.allocs(), 2);
  const auto st = a.stats();
  EXPECT_EQ(st.allocations, 3u);
  EXPECT_EQ(st.reused, 1u);
  EXPECT_EQ(st.in_use, 2048u);
  EXPECT_EQ(st.cached, 0u);
  EXPECT_EQ(st.peak, 2048u);
  a.release(q);
  a.release(r);
  EXPECT_EQ(a.stats().cached, 2048u);
  a.release_cached();
  EXPECT_EQ(fake.live_blocks(), 0u);
  EXPECT_EQ(a.allocate(0), 0u) << "an empty block is the null pointer";
  EXPECT_THROW(a.release(0x1234), Error) << "a pointer it did not hand out";
}

// A device that is full frees the cache once and asks again before it is an error.
class SmallDevice : public FakeDriver {
 public:
  DevicePtr alloc(std::size_t bytes) override {
    if (used_ + bytes > kCapacity) throw Error("fake", __FILE__, __LINE__, "out of memory");
    used_ += bytes;
    return FakeDriver::alloc(bytes);
  }
  void free(DevicePtr p) override {
    used_ -= 4096;  // every block here is one bucket
    FakeDriver::free(p);
  }
  static constexpr std::size_t kCapacity = 8192;
  std::size_t used_ = 0;
};

TEST(DeviceAllocator, AFullDeviceGivesTheCacheBackFirst) {
  SmallDevice dev;
  DeviceAllocator a(dev, false);
  const DevicePtr x = a.allocate(4096, reinterpret_cast<StreamHandle>(1));
  const DevicePtr y = a.allocate(4096, reinterpret_cast<StreamHandle>(1));
  a.release(x);
  a.release(y);  // 8 KiB cached for stream 1; the device is full
  const DevicePtr z = a.allocate(4096, reinterpret_cast<StreamHandle>(2));
  EXPECT_NE(z, 0u);
  EXPECT_EQ(a.stats().cached, 0u) << "the cache went back to the device";
  const DevicePtr w = a.allocate(4096, reinterpret_cast<StreamHandle>(2));
  EXPECT_NE(w, 0u);
  EXPECT_THROW(a.allocate(4096, reinterpret_cast<StreamHandle>(2)), Error) << "really full now";
}

}  // namespace
}  // namespace qjit
