#pragma once
// The caching device allocator under every Driver (DESIGN.md section 3a), as PyTorch's and
// tinygrad's: a freed block goes back to a free list of its size bucket and stream instead of
// to the driver, and the next request of that bucket on that stream takes it — so a warm
// forward allocates nothing, and a free never synchronizes the device. Reuse is stream
// ordered: a block freed on stream S is handed out again only for work on S, which the
// device runs after the work that used it before.
//
// Buckets: a driver that checks every access against its allocation's size (the sim's
// memcheck) gets exact sizes, so a kernel running past its buffer is still caught; others
// round up (512 B steps below 1 MiB, 2 MiB steps above) for reuse across nearby sizes.

#include <cstdint>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "runtime/driver_types.hpp"

namespace qjit {

class Driver;

class DeviceAllocator {
 public:
  struct Stats {
    std::uint64_t in_use = 0;       // bytes handed out and not yet returned (bucket sizes)
    std::uint64_t cached = 0;       // bytes held in free lists
    std::uint64_t peak = 0;         // the most in_use + cached ever held from the driver
    std::uint64_t allocations = 0;  // requests served
    std::uint64_t reused = 0;       // of them, from a free list (the rest asked the driver)
  };

  DeviceAllocator(Driver& driver, bool exact_sizes);
  ~DeviceAllocator();  // NOTE: frees nothing: a driver's memory goes with the driver
  DeviceAllocator(const DeviceAllocator&) = delete;
  DeviceAllocator& operator=(const DeviceAllocator&) = delete;

  /// A block of at least `bytes` (0: the null pointer), for work on `stream`.
  DevicePtr allocate(std::size_t bytes, StreamHandle stream = nullptr);
  /// Returns a block from allocate() to its stream's free list.
  void release(DevicePtr ptr);
  /// Frees every cached block through the driver; blocks in use stay theirs.
  void release_cached();
  Stats stats() const;

  /// The bucket a request of `bytes` is served from.
  std::size_t bucket_of(std::size_t bytes) const;

 private:
  struct Block {
    std::size_t bytes;
    StreamHandle stream;
  };
  Driver& driver_;
  const bool exact_;
  mutable std::mutex mu_;
  std::unordered_map<DevicePtr, Block> live_;
  std::map<std::pair<StreamHandle, std::size_t>, std::vector<DevicePtr>> free_;
  Stats stats_;
};

}  // namespace qjit
