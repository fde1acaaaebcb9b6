#pragma once
// The sim device's global memory: allocations at addresses from kGlobalBase, each a host
// buffer. Translation checks that an access lies inside one live allocation.

#include <cstdint>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

namespace qjit::sim {

struct Allocation {
  std::uint64_t base = 0;
  std::uint64_t bytes = 0;
  std::unique_ptr<std::uint8_t[]> data;
};

class SimHeap {
 public:
  std::uint64_t alloc(std::uint64_t bytes);
  void free(std::uint64_t addr);  // throws naming the address if it is not an allocation's base

  // Host address of [addr, addr + bytes) or null when it does not lie inside one live
  // allocation. `hint` caches the last allocation found (per caller).
  std::uint8_t* translate(std::uint64_t addr, std::uint64_t bytes, const Allocation** hint = nullptr) const;
  // "0x7000000100 is 16 bytes past the end of the 256-byte allocation at 0x7000000000".
  std::string describe(std::uint64_t addr) const;
  std::uint64_t live_bytes() const;

 private:
  mutable std::shared_mutex mu_;
  std::map<std::uint64_t, Allocation> allocs_;
  std::uint64_t next_ = 0;
  std::uint64_t live_ = 0;
};

}  // namespace qjit::sim
