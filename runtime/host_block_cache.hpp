#pragma once
// Reuse of large cpu buffers. A fresh multi-megabyte buffer comes from mmap, so every page of
// it faults on first touch (the kernel zeroes it): a 36 MiB linear output costs ~9 ms of page
// faults, as much as the int8 GEMM that fills it. So Storage gives a freed buffer of 1 MiB or
// more to this cache (2 MiB size buckets) and takes the next buffer of its bucket from here,
// as PyTorch's and the device allocator (device_allocator.hpp) do for device memory. The cache
// is bounded (QJIT_CPU_CACHED_MB, default the smaller of 2 GiB and an eighth of the host's
// memory, read by the first allocation and by the first after release_cached()): the oldest cached buffers are freed
// to make room for a newer one, and a buffer larger than the bound is freed. When the machine
// has no memory for a new buffer, the cached ones are freed and the allocation tried once
// more. Builds with AddressSanitizer cache nothing, so a use after free is still caught.

#include <cstddef>
#include <cstdint>

namespace qjit::host_blocks {

inline constexpr std::size_t kMinBytes = std::size_t{1} << 20;  // smaller buffers: plain new/delete
inline constexpr std::size_t kBucket = std::size_t{2} << 20;
inline constexpr std::size_t kMaxBytes = std::size_t{1} << 48;  // larger requests: not bucketed (no overflow)

/// The size a request of `bytes` is allocated with (a bucket when cached, else `bytes`).
std::size_t bucket_of(std::size_t bytes);
/// A buffer of bucket_of(bytes) bytes, aligned to `alignment` (uninitialized; throws
/// std::bad_alloc when the machine has no memory for it).
void* allocate(std::size_t bytes, std::size_t alignment);
/// Returns a buffer from allocate(bytes, alignment): cached, or freed when over the bound.
void release(void* p, std::size_t bytes, std::size_t alignment);
/// Frees every cached buffer (and reads the bound again at the next allocation).
void release_cached();

struct Stats {
  std::uint64_t cached = 0;      // bytes held
  std::uint64_t allocations = 0; // requests of kMinBytes or more
  std::uint64_t reused = 0;      // of them, served from the cache
};
Stats stats();

}  // namespace qjit::host_blocks
