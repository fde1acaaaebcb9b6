// The cpu's cache of large freed buffers (runtime/host_block_cache.hpp): a freed buffer of a
// bucket serves the next request of that bucket, small buffers and buffers larger than the
// bound are freed, the oldest buffers make room for newer ones, a failed allocation frees the
// cache before it fails, and Storage goes through it.

#include "runtime/host_block_cache.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <new>

#include "runtime/storage.hpp"

namespace qjit {
namespace {

class HostBlockCache : public ::testing::Test {
 protected:
  void SetUp() override {
    if (host_blocks::bucket_of(host_blocks::kMinBytes + 1) == host_blocks::kMinBytes + 1) {
      GTEST_SKIP() << "this build (AddressSanitizer) caches no cpu buffers";
    }
    host_blocks::release_cached();
  }
  void TearDown() override {
    unsetenv("QJIT_CPU_CACHED_MB");
    host_blocks::release_cached();
  }
};

TEST_F(HostBlockCache, AFreedBufferServesTheNextRequestOfItsBucket) {
  constexpr std::size_t kMiB = std::size_t{1} << 20;
  EXPECT_EQ(host_blocks::bucket_of(3 * kMiB + 5), 4 * kMiB);
  EXPECT_EQ(host_blocks::bucket_of(kMiB - 64), kMiB - 64);  // small: not bucketed
  const host_blocks::Stats before = host_blocks::stats();
  void* a = host_blocks::allocate(3 * kMiB, 64);
  static_cast<char*>(a)[4 * kMiB - 1] = 1;  // the whole bucket is usable
  host_blocks::release(a, 3 * kMiB, 64);
  EXPECT_EQ(host_blocks::stats().cached, 4 * kMiB);
  void* b = host_blocks::allocate(3 * kMiB + 100, 64);  // same bucket
  EXPECT_EQ(b, a);
  void* c = host_blocks::allocate(3 * kMiB, 128);  // another alignment: a new buffer
  EXPECT_NE(c, a);
  host_blocks::release(c, 3 * kMiB, 128);
  host_blocks::release(b, 3 * kMiB + 100, 64);
  const host_blocks::Stats after = host_blocks::stats();
  EXPECT_EQ(after.allocations - before.allocations, 3u);
  EXPECT_EQ(after.reused - before.reused, 1u);
  EXPECT_EQ(after.cached, 8 * kMiB);
  host_blocks::release_cached();
  EXPECT_EQ(host_blocks::stats().cached, 0u);
}

TEST_F(HostBlockCache, TheBoundFreesWhatWouldPassIt) {
  setenv("QJIT_CPU_CACHED_MB", "4", 1);  // read by the first allocation after release_cached()
  constexpr std::size_t kMiB = std::size_t{1} << 20;
  void* a = host_blocks::allocate(3 * kMiB, 64);
  void* b = host_blocks::allocate(3 * kMiB, 64);
  void* big = host_blocks::allocate(5 * kMiB, 64);
  host_blocks::release(a, 3 * kMiB, 64);
  host_blocks::release(b, 3 * kMiB, 64);  // 8 MiB would pass 4: a, the oldest, is freed
  EXPECT_EQ(host_blocks::stats().cached, 4 * kMiB);
  host_blocks::release(big, 5 * kMiB, 64);  // 6 MiB alone passes 4: freed, b stays
  EXPECT_EQ(host_blocks::stats().cached, 4 * kMiB);
  void* again = host_blocks::allocate(3 * kMiB, 64);
  EXPECT_EQ(again, b);
  void* small = host_blocks::allocate(kMiB + 1, 64);  // a 2 MiB bucket
  host_blocks::release(small, kMiB + 1, 64);
  host_blocks::release(again, 3 * kMiB, 64);  // 2 + 4 passes 4: the 2 MiB one, older, makes room
  EXPECT_EQ(host_blocks::stats().cached, 4 * kMiB);
  EXPECT_EQ(host_blocks::allocate(3 * kMiB, 64), b);
  host_blocks::release(b, 3 * kMiB, 64);
  setenv("QJIT_CPU_CACHED_MB", "0", 1);
  host_blocks::release_cached();
  void* c = host_blocks::allocate(3 * kMiB, 64);
  host_blocks::release(c, 3 * kMiB, 64);
  EXPECT_EQ(host_blocks::stats().cached, 0u);
  setenv("QJIT_CPU_CACHED_MB", "lots", 1);  // malformed: nothing cached, nothing thrown
  host_blocks::release_cached();
  void* d = host_blocks::allocate(3 * kMiB, 64);
  EXPECT_NO_THROW(host_blocks::release(d, 3 * kMiB, 64));
  EXPECT_EQ(host_blocks::stats().cached, 0u);
}

TEST_F(HostBlockCache, AFailedAllocationFreesTheCacheFirst) {
  setenv("QJIT_CPU_CACHED_MB", "64", 1);
  constexpr std::size_t kMiB = std::size_t{1} << 20;
  host_blocks::release(host_blocks::allocate(3 * kMiB, 64), 3 * kMiB, 64);
  EXPECT_EQ(host_blocks::stats().cached, 4 * kMiB);
  // More than any machine's address space: the retry after freeing the cache fails too.
  EXPECT_THROW(host_blocks::allocate(std::size_t{1} << 47, 64), std::bad_alloc);
  EXPECT_EQ(host_blocks::stats().cached, 0u);
  EXPECT_EQ(host_blocks::bucket_of(~std::size_t{0} - 5), ~std::size_t{0} - 5);  // no rounding past the largest
}

TEST_F(HostBlockCache, LargeStorageIsReused) {
  const void* first = nullptr;
  {
    auto s = Storage::allocate(5 << 20, Device::cpu());
    first = s->host_ptr();
  }
  auto again = Storage::allocate((5 << 20) + 1000, Device::cpu());
  EXPECT_EQ(again->host_ptr(), first);
  auto small = Storage::allocate(4096, Device::cpu());
  EXPECT_NE(small->host_ptr(), nullptr);
}

}  // namespace
}  // namespace qjit
