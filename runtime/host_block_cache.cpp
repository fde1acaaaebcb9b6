#include "runtime/host_block_cache.hpp"

#include <algorithm>
#include <map>
#include <mutex>
#include <new>
#include <vector>

#include "common/knobs.hpp"
#include "common/memory.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define QJIT_HOST_BLOCKS_CACHE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define QJIT_HOST_BLOCKS_CACHE 0
#endif
#endif
#ifndef QJIT_HOST_BLOCKS_CACHE
#define QJIT_HOST_BLOCKS_CACHE 1
#endif

namespace qjit::host_blocks {

namespace {

struct Cache {
  std::mutex mu;
  // (bucket bytes, alignment) -> free buffers, most recently freed last.
  std::map<std::pair<std::size_t, std::size_t>, std::vector<void*>> free;
  Stats stats;
};

// Never destroyed: a Storage freed during static destruction still finds it.
Cache& cache() {
  static Cache* c = new Cache;
  return *c;
}

std::uint64_t bound_bytes() {
  std::uint64_t mb = 0;
  try {
    const auto knob = knobs::cpu_cached_mb();
    mb = knob ? *knob : std::min<std::uint64_t>(2048, host_memory_bytes() / 8 >> 20);
  } catch (...) {
    return 0;  // NOTE: a malformed knob was reported where knobs are checked; cache nothing.
  }
  return mb << 20;
}

void free_buffer(void* p, std::size_t alignment) { ::operator delete(p, std::align_val_t{alignment}); }

}  // namespace

std::size_t bucket_of(std::size_t bytes) {
  if (!QJIT_HOST_BLOCKS_CACHE || bytes < kMinBytes) return bytes;
  return (bytes + kBucket - 1) / kBucket * kBucket;
}

void* allocate(std::size_t bytes, std::size_t alignment) {
  const std::size_t size = bucket_of(bytes);
  if (size >= kMinBytes && QJIT_HOST_BLOCKS_CACHE) {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mu);
    ++c.stats.allocations;
    auto it = c.free.find({size, alignment});
    if (it != c.free.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      c.stats.cached -= size;
      ++c.stats.reused;
      return p;
    }
  }
  return ::operator new(size, std::align_val_t{alignment});
}

void release(void* p, std::size_t bytes, std::size_t alignment) {
  if (p == nullptr) return;
  const std::size_t size = bucket_of(bytes);
  if (size >= kMinBytes && QJIT_HOST_BLOCKS_CACHE) {
    const std::uint64_t bound = bound_bytes();
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mu);
    if (c.stats.cached + size <= bound) {
      c.free[{size, alignment}].push_back(p);
      c.stats.cached += size;
      return;
    }
  }
  free_buffer(p, alignment);
}

void release_cached() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  for (auto& [key, buffers] : c.free) {
    for (void* p : buffers) free_buffer(p, key.second);
  }
  c.free.clear();
  c.stats.cached = 0;
}

Stats stats() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.stats;
}

}  // namespace qjit::host_blocks
