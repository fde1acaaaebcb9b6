#include "runtime/host_block_cache.hpp"

#include <algorithm>
#include <map>
#include <mutex>
#include <new>
#include <optional>
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

struct Cached {
  std::uint64_t seq;  // when it was freed: the oldest is evicted first
  void* p;
};

struct Cache {
  std::mutex mu;
  // (bucket bytes, alignment) -> free buffers, most recently freed last.
  std::map<std::pair<std::size_t, std::size_t>, std::vector<Cached>> free;
  std::uint64_t next_seq = 0;
  // The bound in bytes, read from the knob by the first allocation after start-up or
  // release_cached(); a release with no bound read frees its buffer. So the knob is read only
  // where buffers are allocated, never by a release during static destruction (when knobs'
  // tables may be gone).
  std::optional<std::uint64_t> bound;
  Stats stats;
};

// Never destroyed: a Storage freed during static destruction still finds it.
Cache& cache() {
  static Cache* c = new Cache;
  return *c;
}

std::uint64_t read_bound() {
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

// Frees the oldest cached buffer (c.mu held); false when none is cached.
bool evict_oldest(Cache& c) {
  auto oldest = c.free.end();
  for (auto it = c.free.begin(); it != c.free.end(); ++it) {
    if (!it->second.empty() && (oldest == c.free.end() || it->second.front().seq < oldest->second.front().seq)) {
      oldest = it;
    }
  }
  if (oldest == c.free.end()) return false;
  free_buffer(oldest->second.front().p, oldest->first.second);
  oldest->second.erase(oldest->second.begin());
  c.stats.cached -= oldest->first.first;
  if (oldest->second.empty()) c.free.erase(oldest);
  return true;
}

}  // namespace

std::size_t bucket_of(std::size_t bytes) {
  if (!QJIT_HOST_BLOCKS_CACHE || bytes < kMinBytes || bytes > kMaxBytes) return bytes;
  return (bytes + kBucket - 1) / kBucket * kBucket;
}

void* allocate(std::size_t bytes, std::size_t alignment) {
  const std::size_t size = bucket_of(bytes);
  if (size >= kMinBytes && QJIT_HOST_BLOCKS_CACHE) {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mu);
    if (!c.bound) c.bound = read_bound();
    ++c.stats.allocations;
    auto it = c.free.find({size, alignment});
    if (it != c.free.end() && !it->second.empty()) {
      void* p = it->second.back().p;
      it->second.pop_back();
      c.stats.cached -= size;
      ++c.stats.reused;
      return p;
    }
  }
  try {
    return ::operator new(size, std::align_val_t{alignment});
  } catch (const std::bad_alloc&) {
    // NOTE: the cached buffers may be what the machine lacks: free them and try once more.
    release_cached();
    return ::operator new(size, std::align_val_t{alignment});
  }
}

void release(void* p, std::size_t bytes, std::size_t alignment) {
  if (p == nullptr) return;
  const std::size_t size = bucket_of(bytes);
  if (size >= kMinBytes && QJIT_HOST_BLOCKS_CACHE) {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mu);
    if (c.bound && size <= *c.bound) {
      // NOTE: the oldest buffers make room, so that sizes no longer asked for leave the cache.
      while (c.stats.cached + size > *c.bound && evict_oldest(c)) {
      }
      c.free[{size, alignment}].push_back({c.next_seq++, p});
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
    for (const Cached& b : buffers) free_buffer(b.p, key.second);
  }
  c.free.clear();
  c.stats.cached = 0;
  c.bound.reset();
}

Stats stats() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.stats;
}

}  // namespace qjit::host_blocks
