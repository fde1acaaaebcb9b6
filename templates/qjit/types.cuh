#pragma once
// qjit's own device types: fixed-width integers and the 16- and 8-bit float storage types.
// NOTE: no toolkit headers (cuda_fp16.h, cuda_bf16.h, cuda_fp8.h, <cstdint>): NVRTC 13 does
// not bundle them, and a run-time file lookup would make the cache key depend on files
// outside the translation unit (DESIGN.md section 3).

namespace qjit::dev {

using i8 = signed char;
using u8 = unsigned char;
using i16 = short;
using u16 = unsigned short;
using i32 = int;
using u32 = unsigned int;
using i64 = long long;
using u64 = unsigned long long;

// Same enumerators, same order as the host's qjit::DType (runtime/dtype.hpp).
enum class DType : int { kF32 = 0, kF16, kBF16, kE4M3, kE5M2, kI8, kI32 };

// Storage of one element of a dtype.
template <DType T> struct Storage;
template <> struct Storage<DType::kF32> { using type = float; };
template <> struct Storage<DType::kF16> { using type = u16; };
template <> struct Storage<DType::kBF16> { using type = u16; };
template <> struct Storage<DType::kE4M3> { using type = u8; };
template <> struct Storage<DType::kE5M2> { using type = u8; };
template <> struct Storage<DType::kI8> { using type = i8; };
template <> struct Storage<DType::kI32> { using type = i32; };
template <DType T> using storage_t = typename Storage<T>::type;

template <DType T> inline constexpr int kSizeOf = sizeof(storage_t<T>);

template <DType T>
inline constexpr bool kIsFp8 = T == DType::kE4M3 || T == DType::kE5M2;

// Largest finite magnitude of a quantized type (DESIGN.md section 5).
template <DType T>
inline constexpr float kQmax = T == DType::kI8 ? 127.0f : T == DType::kE4M3 ? 448.0f : 57344.0f;

// Aligned vector of N elements of storage type S, for 4/8/16-byte loads and stores.
template <typename S, int N>
struct alignas(sizeof(S) * N) Vec {
  S v[N];
};

// Whether F, the type of a pointer to a kernel entry, takes exactly one parameter of type P:
// the generated source checks each entry against its launch's struct (jit/kernel_params.hpp).
template <class F, class P> inline constexpr bool kTakesParams = false;
template <class P> inline constexpr bool kTakesParams<void (*)(P), P> = true;
// Converts to any field type: kAggregateFrom<P, AnyField x N> says whether P has at least N
// fields (aggregate initialization from more values than fields is ill-formed).
struct AnyField {
  template <class T> constexpr operator T() const { return T{}; }
};
template <class P, class... V> inline constexpr bool kAggregateFrom = requires { P{V{}...}; };

}  // namespace qjit::dev
