#pragma once
// Packs kernel arguments as cuLaunchKernel's kernelParams: one pointer per parameter, each
// pointing at a copy of the value. For tests that launch their own kernels through a Driver;
// qjit's kernels take one parameter struct (Kernel::launch, jit/kernel_params.hpp).

#include <array>
#include <cstddef>
#include <cstring>
#include <type_traits>

namespace qjit {

template <typename... Args>
class KernelArgs {
 public:
  explicit KernelArgs(const Args&... args) {
    static_assert((std::is_trivially_copyable_v<Args> && ...), "kernel arguments must be trivially copyable");
    std::size_t offset = 0;
    std::size_t i = 0;
    (place(args, offset, i), ...);
  }
  KernelArgs(const KernelArgs&) = delete;
  KernelArgs& operator=(const KernelArgs&) = delete;

  void** pointers() { return pointers_.data(); }

 private:
  template <typename T>
  void place(const T& v, std::size_t& offset, std::size_t& i) {
    offset = (offset + alignof(T) - 1) / alignof(T) * alignof(T);
    std::memcpy(storage_ + offset, &v, sizeof(T));
    pointers_[i++] = storage_ + offset;
    offset += sizeof(T);
  }

  static constexpr std::size_t kBytes = ((sizeof(Args) + alignof(Args)) + ... + 0);
  alignas(16) unsigned char storage_[kBytes > 0 ? kBytes : 1];
  std::array<void*, sizeof...(Args) == 0 ? 1 : sizeof...(Args)> pointers_{};
};

}  // namespace qjit
