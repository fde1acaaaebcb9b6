#pragma once
// qjit's host kernel types and exact conversions, for the cpu device's programs (compiled
// by Clang in process, jit/host_compiler.hpp). Freestanding: no C or C++ library headers,
// so that everything a program includes is embedded or ships with Clang (its resource
// headers such as <immintrin.h>), which is what the cache key covers (DESIGN.md section 4).

// What the kernels call from the process (resolved by the JIT from libm).
extern "C" float tanhf(float);
extern "C" float fmaf(float, float, float);
extern "C" float rintf(float);
extern "C" float expf(float);

namespace qjit::host {

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
// Same as qjit::Activation (common/qtype.hpp).
enum class Activation : int { kNone = 0, kGeluTanh };
// What a program is compiled for; the generic path runs on any x86-64 (and gives the same
// int8 bits). kAvx2 is the generic path's code compiled for an AVX2 / FMA host (Clang
// vectorizes it; the same bits as kGeneric, since nothing is contracted or reassociated).
// kAmx is AVX-512 VNNI/BF16 plus AMX tiles (tdpbsud): the int8 GEMM uses the tiles, every
// other kernel its AVX-512 path.
enum class Isa : int { kGeneric = 0, kAvx512Vnni, kAmx, kAvx2 };
inline constexpr bool is_avx512(Isa isa) { return isa == Isa::kAvx512Vnni || isa == Isa::kAmx; }

template <DType T>
inline constexpr int kDTypeSize = T == DType::kF32 || T == DType::kI32 ? 4 : T == DType::kF16 || T == DType::kBF16 ? 2 : 1;

inline u32 bits_of(float f) { return __builtin_bit_cast(u32, f); }
inline float float_of(u32 u) { return __builtin_bit_cast(float, u); }
inline bool is_nan(float f) { return (bits_of(f) & 0x7fffffffu) > 0x7f800000u; }

// The one NaN a GEMM writes (DESIGN.md section 5): f32 0x7fffffff.
inline constexpr u32 kCanonicalNaNBits = 0x7fffffffu;

// --- exact conversions (the same results as runtime/float_convert.cpp) --------------------
inline float bf16_to_f32(u16 h) { return float_of(static_cast<u32>(h) << 16); }

inline u16 f32_to_bf16(float x) {
  const u32 b = bits_of(x);
  if ((b & 0x7fffffffu) > 0x7f800000u) return static_cast<u16>((b >> 16) | 0x0040u);
  return static_cast<u16>((b + 0x7fffu + ((b >> 16) & 1u)) >> 16);
}

inline float f16_to_f32(u16 h) {
  const u32 sign = static_cast<u32>(h & 0x8000u) << 16;
  const u32 exp = (h >> 10) & 0x1fu;
  const u32 frac = h & 0x03ffu;
  if (exp == 0x1fu) return float_of(sign | 0x7f800000u | (frac ? 0x00400000u | (frac << 13) : 0u));
  if (exp == 0) {
    if (frac == 0) return float_of(sign);
    const int msb = 31 - __builtin_clz(frac);  // value = frac * 2^-24
    const u32 e = static_cast<u32>(msb - 24 + 127);
    return float_of(sign | (e << 23) | ((frac << (23 - msb)) & 0x7fffffu));
  }
  return float_of(sign | ((exp - 15 + 127) << 23) | (frac << 13));
}

// v >> shift rounded to nearest, ties to even (v < 2^24).
inline u32 shift_right_rne(u32 v, int shift) {
  if (shift <= 0) return v;
  if (shift >= 32) return 0;
  const u32 q = v >> shift;
  const u32 rem = v & ((1u << shift) - 1u);
  const u32 half = 1u << (shift - 1);
  return (rem > half || (rem == half && (q & 1u))) ? q + 1u : q;
}

inline u16 f32_to_f16(float x) {
  const u32 b = bits_of(x);
  const u32 sign = (b >> 16) & 0x8000u;
  const u32 a = b & 0x7fffffffu;
  if (a > 0x7f800000u) return static_cast<u16>(sign | 0x7c00u | 0x0200u | ((a >> 13) & 0x03ffu));
  if (a == 0x7f800000u) return static_cast<u16>(sign | 0x7c00u);
  const int exp_field = static_cast<int>(a >> 23);
  const u32 frac = a & 0x7fffffu;
  const int e = exp_field == 0 ? -126 : exp_field - 127;
  const u32 sig = exp_field == 0 ? frac : frac | 0x800000u;
  u32 enc;
  if (e >= -14) {
    enc = (static_cast<u32>(e + 15 - 1) << 10) + shift_right_rne(sig, 13);
  } else {
    enc = shift_right_rne(sig, 13 + (-14 - e));
  }
  if (enc >= 0x7c00u) enc = 0x7c00u;
  return static_cast<u16>(sign | enc);
}

// x rounded to the nearest fp8 value of Q (e4m3 or e5m2), ties to even, saturating to ±qmax
// (Inf included), NaN kept: the value of the reference's f32_to_e4m3 / f32_to_e5m2 with
// satfinite, as f32. Normal results round the f32 significand at the fp8's mantissa width;
// subnormal ones (below 2^emin) are multiples of 2^(emin - mantissa).
template <DType Q> inline constexpr int kFp8Mantissa = Q == DType::kE4M3 ? 3 : 2;
template <DType Q> inline constexpr int kFp8MinExp = Q == DType::kE4M3 ? -6 : -14;
template <DType Q> inline constexpr float kFp8Max = Q == DType::kE4M3 ? 448.0f : 57344.0f;

template <DType Q>
inline float fp8_round(float x) {
  static_assert(Q == DType::kE4M3 || Q == DType::kE5M2, "fp8 is e4m3 or e5m2");
  if (is_nan(x)) return x;
  constexpr int kShift = 23 - kFp8Mantissa<Q>;
  const u32 b = bits_of(x);
  const u32 a = b & 0x7fffffffu;
  float r;
  if (a < static_cast<u32>(127 + kFp8MinExp<Q>) << 23) {
    constexpr float kUp = static_cast<float>(1u << (kFp8Mantissa<Q> - kFp8MinExp<Q>));
    r = rintf(float_of(a) * kUp) * (1.0f / kUp);
  } else {
    r = float_of((a + ((1u << (kShift - 1)) - 1u) + ((a >> kShift) & 1u)) & ~((1u << kShift) - 1u));
  }
  if (r > kFp8Max<Q>) r = kFp8Max<Q>;
  return float_of(bits_of(r) | (b & 0x80000000u));
}

template <DType T>
inline float load_as_f32(const void* p, i64 i) {
  if constexpr (T == DType::kF32) {
    return static_cast<const float*>(p)[i];
  } else if constexpr (T == DType::kBF16) {
    return bf16_to_f32(static_cast<const u16*>(p)[i]);
  } else {
    static_assert(T == DType::kF16, "a float operand is f32, f16 or bf16");
    return f16_to_f32(static_cast<const u16*>(p)[i]);
  }
}

template <DType T>
inline void store_from_f32(void* p, i64 i, float v) {
  if constexpr (T == DType::kF32) {
    static_cast<float*>(p)[i] = v;
  } else if constexpr (T == DType::kBF16) {
    static_cast<u16*>(p)[i] = f32_to_bf16(v);
  } else {
    static_assert(T == DType::kF16, "a float output is f32, f16 or bf16");
    static_cast<u16*>(p)[i] = f32_to_f16(v);
  }
}

template <class T>
inline T min_of(T a, T b) {
  return b < a ? b : a;
}

// What a field of an argument struct is, as jit::ParamKind numbers it: 1 an address, 2 a
// signed integer, 3 an unsigned integer, 4 a float; 0 anything else.
template <class T> inline constexpr int kParamKind = 0;
template <class T> inline constexpr int kParamKind<T*> = 1;
template <> inline constexpr int kParamKind<i32> = 2;
template <> inline constexpr int kParamKind<i64> = 2;
template <> inline constexpr int kParamKind<u32> = 3;
template <> inline constexpr int kParamKind<u64> = 3;
template <> inline constexpr int kParamKind<float> = 4;

// A host entry's argument struct, from F, the type of a pointer to it (every entry is
// `void (const Args&, unsigned bx, unsigned by, unsigned bz)`: one block of its grid).
template <class F> struct EntryArgs;
template <class A> struct EntryArgs<void (*)(const A&, unsigned, unsigned, unsigned)> { using type = A; };

}  // namespace qjit::host
