#include "sim/sim_heap.hpp"

#include <fmt/format.h>

#include <cstring>
#include <mutex>

#include "common/error.hpp"
#include "common/memory.hpp"
#include "sim/sim_program.hpp"

namespace qjit::sim {

std::uint64_t SimHeap::alloc(std::uint64_t bytes) {
  check_host_memory(bytes, "a sim device allocation", "sim");
  std::unique_lock<std::shared_mutex> lock(mu_);
  // NOTE: 256-byte aligned like cudaMalloc, with a gap so running off one allocation never
  // lands in the next.
  const std::uint64_t addr = kGlobalBase + next_;
  next_ += (bytes + 255) / 256 * 256 + 256;
  Allocation a;
  a.base = addr;
  a.bytes = bytes;
  a.data.reset(new std::uint8_t[bytes == 0 ? 1 : bytes]);
  std::memset(a.data.get(), 0xcd, bytes);  // fresh device memory is garbage, not zeros
  allocs_.emplace(addr, std::move(a));
  live_ += bytes;
  return addr;
}

void SimHeap::free(std::uint64_t addr) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  auto it = allocs_.find(addr);
  QJIT_CHECK_GEN("sim", it != allocs_.end(), "free of 0x{:x}, which is not a live allocation", addr);
  live_ -= it->second.bytes;
  allocs_.erase(it);
}

std::uint8_t* SimHeap::translate(std::uint64_t addr, std::uint64_t bytes, const Allocation** hint) const {
  if (hint != nullptr && *hint != nullptr) {
    const Allocation* a = *hint;
    if (addr >= a->base && addr + bytes <= a->base + a->bytes) return a->data.get() + (addr - a->base);
  }
  std::shared_lock<std::shared_mutex> lock(mu_);
  auto it = allocs_.upper_bound(addr);
  if (it == allocs_.begin()) return nullptr;
  --it;
  const Allocation& a = it->second;
  if (addr + bytes > a.base + a.bytes || addr < a.base) return nullptr;
  if (hint != nullptr) *hint = &a;
  return a.data.get() + (addr - a.base);
}

std::string SimHeap::describe(std::uint64_t addr) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  auto it = allocs_.upper_bound(addr);
  if (it != allocs_.begin()) {
    const Allocation& a = std::prev(it)->second;
    if (addr >= a.base + a.bytes) {
      return fmt::format("0x{:x} is {} bytes past the end of the {}-byte allocation at 0x{:x}", addr,
                         addr - (a.base + a.bytes), a.bytes, a.base);
    }
    return fmt::format("0x{:x} is at offset {} of the {}-byte allocation at 0x{:x}", addr, addr - a.base, a.bytes, a.base);
  }
  return fmt::format("0x{:x} is below every allocation", addr);
}

std::uint64_t SimHeap::live_bytes() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return live_;
}

}  // namespace qjit::sim
