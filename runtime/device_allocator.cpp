#include "runtime/device_allocator.hpp"

#include <algorithm>

#include "common/error.hpp"
#include "runtime/driver.hpp"

namespace qjit {

DeviceAllocator::DeviceAllocator(Driver& driver, bool exact_sizes) : driver_(driver), exact_(exact_sizes) {}

DeviceAllocator::~DeviceAllocator() = default;

std::size_t DeviceAllocator::bucket_of(std::size_t bytes) const {
  if (exact_ || bytes == 0) return bytes;
  constexpr std::size_t kSmallStep = 512, kLargeStep = 2 << 20, kSmallLimit = 1 << 20;
  const std::size_t step = bytes < kSmallLimit ? kSmallStep : kLargeStep;
  return (bytes + step - 1) / step * step;
}

DevicePtr DeviceAllocator::allocate(std::size_t bytes, StreamHandle stream) {
  if (bytes == 0) return 0;
  const std::size_t bucket = bucket_of(bytes);
  {
    std::lock_guard lock(mu_);
    ++stats_.allocations;
    auto it = free_.find({stream, bucket});
    if (it != free_.end() && !it->second.empty()) {
      const DevicePtr ptr = it->second.back();
      it->second.pop_back();
      stats_.cached -= bucket;
      stats_.in_use += bucket;
      ++stats_.reused;
      live_.emplace(ptr, Block{bucket, stream});
      return ptr;
    }
  }
  // NOTE: the driver is asked outside the lock; a failure (out of memory) frees the cache
  // once and tries again before it is an error.
  DevicePtr ptr = 0;
  try {
    ptr = driver_.alloc(bucket);
  } catch (const Error&) {
    release_cached();
    ptr = driver_.alloc(bucket);
  }
  std::lock_guard lock(mu_);
  live_.emplace(ptr, Block{bucket, stream});
  stats_.in_use += bucket;
  stats_.peak = std::max(stats_.peak, stats_.in_use + stats_.cached);
  return ptr;
}

void DeviceAllocator::release(DevicePtr ptr) {
  if (ptr == 0) return;
  std::lock_guard lock(mu_);
  auto it = live_.find(ptr);
  QJIT_CHECK_GEN("runtime", it != live_.end(), "device allocator: release of 0x{:x}, which it did not hand out", ptr);
  const Block b = it->second;
  live_.erase(it);
  stats_.in_use -= b.bytes;
  stats_.cached += b.bytes;
  free_[{b.stream, b.bytes}].push_back(ptr);
}

void DeviceAllocator::release_cached() {
  std::vector<DevicePtr> blocks;
  {
    std::lock_guard lock(mu_);
    for (auto& [key, ptrs] : free_) blocks.insert(blocks.end(), ptrs.begin(), ptrs.end());
    free_.clear();
    stats_.cached = 0;
  }
  for (DevicePtr p : blocks) driver_.free(p);
}

DeviceAllocator::Stats DeviceAllocator::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace qjit
