#include "runtime/driver.hpp"

namespace qjit {

DeviceAllocator& Driver::allocator() {
  // NOTE: made on first use, not in the constructor: checks_bounds() is virtual.
  std::call_once(allocator_once_, [this] { allocator_ = std::make_unique<DeviceAllocator>(*this, checks_bounds()); });
  return *allocator_;
}

DriverCounters Driver::counters() const {
  return {synchronizations_.load(std::memory_order_relaxed), allocations_.load(std::memory_order_relaxed),
          frees_.load(std::memory_order_relaxed), launches_.load(std::memory_order_relaxed)};
}

}  // namespace qjit
