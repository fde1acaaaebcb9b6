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

// Same enumerators, same order as the host's qjit::DType (common/dtype.hpp).
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

// A kernel entry's parameters, from F, the type of a pointer to it: the generated source
// checks them against the host's parameter struct, field by field (jit/kernel_params.hpp).
template <int I, class... A> struct TypeAt;
template <class H, class... T> struct TypeAt<0, H, T...> { using type = H; };
template <int I, class H, class... T> struct TypeAt<I, H, T...> { using type = typename TypeAt<I - 1, T...>::type; };
template <class F> struct EntryParams;
template <class... A> struct EntryParams<void (*)(A...)> {
  static constexpr int kCount = sizeof...(A);
  template <int I> using At = typename TypeAt<I, A...>::type;
};
template <int I, class F> using EntryParam = typename EntryParams<F>::template At<I>;

// What a parameter is, as jit::ParamKind numbers it: 1 an address, 2 a signed integer, 3 an
// unsigned integer, 4 a float; 0 anything else.
template <class T> inline constexpr int kParamKind = 0;
template <class T> inline constexpr int kParamKind<T*> = 1;
template <> inline constexpr int kParamKind<signed char> = 2;
template <> inline constexpr int kParamKind<short> = 2;
template <> inline constexpr int kParamKind<int> = 2;
template <> inline constexpr int kParamKind<long long> = 2;
template <> inline constexpr int kParamKind<unsigned char> = 3;
template <> inline constexpr int kParamKind<unsigned short> = 3;
template <> inline constexpr int kParamKind<unsigned int> = 3;
template <> inline constexpr int kParamKind<unsigned long long> = 3;
template <> inline constexpr int kParamKind<float> = 4;
template <> inline constexpr int kParamKind<double> = 4;

}  // namespace qjit::dev
