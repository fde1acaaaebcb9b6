// Integer arithmetic and bit manipulation (PTX ISA "Integer Arithmetic Instructions",
// "Logic and Shift Instructions", prmt).

#include <algorithm>
#include <bit>

#include "common/error.hpp"
#include "sim/scalar_ops_internal.hpp"

namespace qjit::sim {

namespace {

using detail::mask_to;
using U128 = unsigned __int128;

int width(ScalarType t) { return type_bits(t); }
std::uint64_t mask(ScalarType t, std::uint64_t v) { return mask_to(width(t), v); }
std::uint64_t ones(int n) { return mask_to(n, ~std::uint64_t{0}); }

// The low n bits of v, sign-extended.
std::int64_t sext(int n, std::uint64_t v) {
  return n >= 64 ? static_cast<std::int64_t>(v) : static_cast<std::int64_t>(v << (64 - n)) >> (64 - n);
}
std::int64_t sext(ScalarType t, std::uint64_t v) { return sext(width(t), v); }

// The value of a register of type t as a 64-bit two's complement number.
std::uint64_t extend(ScalarType t, std::uint64_t v) {
  return is_signed_int(t) ? static_cast<std::uint64_t>(sext(t, v)) : mask(t, v);
}

std::int64_t clamp_s32(std::int64_t v) { return std::clamp<std::int64_t>(v, INT32_MIN, INT32_MAX); }

// The full product of two n-bit operands modulo 2^128 (exact for n <= 64).
U128 product(ScalarType t, std::uint64_t a, std::uint64_t b) {
  if (is_signed_int(t)) {
    return static_cast<U128>(static_cast<__int128>(sext(t, a)) * static_cast<__int128>(sext(t, b)));
  }
  return static_cast<U128>(mask(t, a)) * static_cast<U128>(mask(t, b));
}

void require_wide_ok(ScalarType t) {
  if (width(t) > 32) QJIT_THROW("sim", "mul.wide / mad.wide do not take {}", scalar_type_name(t));
}

// One byte (k = 0..3) of a, sign- or zero-extended by type t.
std::int64_t byte_of(ScalarType t, std::uint64_t a, int k) {
  const std::uint64_t v = (a >> (8 * k)) & 0xff;
  return is_signed_int(t) ? sext(8, v) : static_cast<std::int64_t>(v);
}

}  // namespace

std::uint64_t iadd(ScalarType t, bool sat, std::uint64_t a, std::uint64_t b) {
  if (sat && t == ScalarType::kS32) return mask(t, static_cast<std::uint64_t>(clamp_s32(sext(t, a) + sext(t, b))));
  return mask(t, a + b);
}

std::uint64_t isub(ScalarType t, bool sat, std::uint64_t a, std::uint64_t b) {
  if (sat && t == ScalarType::kS32) return mask(t, static_cast<std::uint64_t>(clamp_s32(sext(t, a) - sext(t, b))));
  return mask(t, a - b);
}

CarryResult add_carry(ScalarType t, std::uint64_t a, std::uint64_t b, bool carry_in) {
  const int n = width(t);
  const U128 s = static_cast<U128>(mask(t, a)) + mask(t, b) + (carry_in ? 1 : 0);
  return {mask_to(n, static_cast<std::uint64_t>(s)), ((s >> n) & 1) != 0};
}

CarryResult sub_borrow(ScalarType t, std::uint64_t a, std::uint64_t b, bool borrow_in) {
  const int n = width(t);
  const U128 d = static_cast<U128>(mask(t, a)) - mask(t, b) - (borrow_in ? 1 : 0);
  return {mask_to(n, static_cast<std::uint64_t>(d)), ((d >> n) & 1) != 0};  // wrapped below 0: borrow
}

std::uint64_t imul(ScalarType t, MulMode mode, std::uint64_t a, std::uint64_t b) {
  const int n = width(t);
  const U128 p = product(t, a, b);
  switch (mode) {
    case MulMode::kLo: return mask_to(n, static_cast<std::uint64_t>(p));
    case MulMode::kHi: return mask_to(n, static_cast<std::uint64_t>(p >> n));
    case MulMode::kWide: require_wide_ok(t); return mask_to(2 * n, static_cast<std::uint64_t>(p));
  }
  return 0;
}

std::uint64_t imad(ScalarType t, MulMode mode, bool sat, std::uint64_t a, std::uint64_t b, std::uint64_t c) {
  const int n = width(t);
  if (mode == MulMode::kWide) {
    require_wide_ok(t);
    return mask_to(2 * n, imul(t, mode, a, b) + c);
  }
  const std::uint64_t prod = imul(t, mode, a, b);
  if (sat && mode == MulMode::kHi && t == ScalarType::kS32) {
    return mask(t, static_cast<std::uint64_t>(clamp_s32(sext(t, prod) + sext(t, c))));
  }
  return mask(t, prod + c);
}

std::uint64_t imul24(ScalarType t, bool hi, std::uint64_t a, std::uint64_t b) {
  const bool s = is_signed_int(t);
  const std::int64_t x = s ? sext(24, a) : static_cast<std::int64_t>(mask_to(24, a));
  const std::int64_t y = s ? sext(24, b) : static_cast<std::int64_t>(mask_to(24, b));
  const auto p = static_cast<std::uint64_t>(x * y);  // 48 significant bits
  return mask_to(32, hi ? p >> 16 : p);
}

std::uint64_t imad24(ScalarType t, bool hi, bool sat, std::uint64_t a, std::uint64_t b, std::uint64_t c) {
  const std::uint64_t prod = imul24(t, hi, a, b);
  if (sat && hi && t == ScalarType::kS32) {
    return mask_to(32, static_cast<std::uint64_t>(clamp_s32(sext(32, prod) + sext(32, c))));
  }
  return mask_to(32, prod + c);
}

std::uint64_t isad(ScalarType t, std::uint64_t a, std::uint64_t b, std::uint64_t c) {
  std::uint64_t diff = 0;
  if (is_signed_int(t)) {
    const __int128 d = static_cast<__int128>(sext(t, a)) - sext(t, b);
    diff = static_cast<std::uint64_t>(d < 0 ? -d : d);
  } else {
    const std::uint64_t x = mask(t, a);
    const std::uint64_t y = mask(t, b);
    diff = x > y ? x - y : y - x;
  }
  return mask(t, c + diff);
}

std::uint64_t idiv(ScalarType t, std::uint64_t a, std::uint64_t b) {
  if (mask(t, b) == 0) return mask(t, kIntDivByZero);
  if (!is_signed_int(t)) return mask(t, a) / mask(t, b);
  const std::int64_t x = sext(t, a);
  const std::int64_t y = sext(t, b);
  if (y == -1) return mask(t, ~static_cast<std::uint64_t>(x) + 1);  // -x, wrapping INT_MIN
  return mask(t, static_cast<std::uint64_t>(x / y));
}

std::uint64_t irem(ScalarType t, std::uint64_t a, std::uint64_t b) {
  if (mask(t, b) == 0) return mask(t, a);
  if (!is_signed_int(t)) return mask(t, a) % mask(t, b);
  const std::int64_t y = sext(t, b);
  if (y == -1) return 0;
  return mask(t, static_cast<std::uint64_t>(sext(t, a) % y));
}

std::uint64_t imin(ScalarType t, std::uint64_t a, std::uint64_t b, bool relu) {
  if (!is_signed_int(t)) return std::min(mask(t, a), mask(t, b));
  const std::int64_t r = std::min(sext(t, a), sext(t, b));
  return mask(t, static_cast<std::uint64_t>(relu ? std::max<std::int64_t>(r, 0) : r));
}

std::uint64_t imax(ScalarType t, std::uint64_t a, std::uint64_t b, bool relu) {
  if (!is_signed_int(t)) return std::max(mask(t, a), mask(t, b));
  const std::int64_t r = std::max(sext(t, a), sext(t, b));
  return mask(t, static_cast<std::uint64_t>(relu ? std::max<std::int64_t>(r, 0) : r));
}

std::uint64_t iabs(ScalarType t, std::uint64_t a) {
  if (!is_signed_int(t)) return mask(t, a);
  const std::uint64_t v = extend(t, a);
  return mask(t, static_cast<std::int64_t>(v) < 0 ? ~v + 1 : v);
}

std::uint64_t ineg(ScalarType t, std::uint64_t a) { return mask(t, ~a + 1); }

std::uint64_t shl(ScalarType t, std::uint64_t a, std::uint64_t amount) {
  const std::uint64_t k = mask_to(32, amount);
  return k >= static_cast<std::uint64_t>(width(t)) ? 0 : mask(t, a << k);
}

std::uint64_t shr(ScalarType t, std::uint64_t a, std::uint64_t amount) {
  const int n = width(t);
  const std::uint64_t k = mask_to(32, amount);
  if (is_signed_int(t)) {
    // NOTE: amounts past the width clamp to it: every bit becomes the sign.
    const auto s = static_cast<int>(std::min<std::uint64_t>(k, static_cast<std::uint64_t>(n - 1)));
    return mask_to(n, static_cast<std::uint64_t>(sext(n, a) >> s));
  }
  return k >= static_cast<std::uint64_t>(n) ? 0 : mask_to(n, a) >> k;
}

std::uint64_t shf(bool left, bool clamp, std::uint64_t a, std::uint64_t b, std::uint64_t c) {
  const std::uint64_t amount = mask_to(32, c);
  const int n = static_cast<int>(clamp ? std::min<std::uint64_t>(amount, 32) : amount & 31);
  const std::uint64_t v = (mask_to(32, b) << 32) | mask_to(32, a);
  return left ? mask_to(32, (v << n) >> 32) : mask_to(32, v >> n);
}

std::uint64_t bfe(ScalarType t, std::uint64_t a, std::uint64_t pos, std::uint64_t len) {
  const int n = width(t);
  const int msb = n - 1;
  const int p = static_cast<int>(pos & 0xff);
  const int l = static_cast<int>(len & 0xff);
  const std::uint64_t v = mask_to(n, a);
  const bool sbit = is_signed_int(t) && l != 0 && ((v >> std::min(p + l - 1, msb)) & 1) != 0;
  // The number of bits that come from a: those with i < len and pos + i <= msb.
  const int k = p > msb ? 0 : std::min(l, n - p);
  std::uint64_t d = k == 0 ? 0 : (v >> p) & ones(k);
  if (sbit) d |= ~ones(k);
  return mask_to(n, d);
}

std::uint64_t bfi(ScalarType t, std::uint64_t a, std::uint64_t b, std::uint64_t pos, std::uint64_t len) {
  const int n = width(t);
  const int p = static_cast<int>(pos & 0xff);
  const int l = static_cast<int>(len & 0xff);
  const int k = p >= n ? 0 : std::min(l, n - p);
  std::uint64_t f = mask_to(n, b);
  if (k > 0) {
    const std::uint64_t m = ones(k) << p;
    f = (f & ~m) | ((a << p) & m);
  }
  return mask_to(n, f);
}

std::uint64_t brev(ScalarType t, std::uint64_t a) {
  const int n = width(t);
  std::uint64_t v = mask_to(n, a);
  std::uint64_t r = 0;
  for (int i = 0; i < n; ++i, v >>= 1) r = (r << 1) | (v & 1);
  return r;
}

std::uint64_t popc(ScalarType t, std::uint64_t a) { return static_cast<std::uint64_t>(std::popcount(mask(t, a))); }

std::uint64_t clz(ScalarType t, std::uint64_t a) {
  return static_cast<std::uint64_t>(width(t) - std::bit_width(mask(t, a)));
}

std::uint64_t bfind(ScalarType t, bool shiftamt, std::uint64_t a) {
  const int n = width(t);
  std::uint64_t v = mask_to(n, a);
  if (is_signed_int(t) && ((v >> (n - 1)) & 1)) v = mask_to(n, ~v);  // find the first 0 of a negative
  if (v == 0) return 0xffffffffu;
  const int pos = std::bit_width(v) - 1;
  return static_cast<std::uint64_t>(shiftamt ? n - 1 - pos : pos);
}

std::uint64_t prmt(PrmtMode mode, std::uint64_t a, std::uint64_t b, std::uint64_t c) {
  const std::uint64_t bytes = (mask_to(32, b) << 32) | mask_to(32, a);  // b7..b4 b3..b0
  const auto byte = [&](int i) { return (bytes >> (8 * (i & 7))) & 0xff; };
  std::uint64_t d = 0;
  if (mode == PrmtMode::kDefault) {
    for (int k = 0; k < 4; ++k) {
      const int sel = static_cast<int>((c >> (4 * k)) & 0xf);
      std::uint64_t v = byte(sel);
      if (sel & 8) v = (v & 0x80) ? 0xff : 0;  // replicate the byte's sign bit
      d |= v << (8 * k);
    }
    return d;
  }
  // The ISA's selector tables, as the source byte of each destination byte k for c[1:0] = s:
  //   f4e: s+k   b4e: s-k (mod 8)   rc8: s   ecl: max(k, s)   ecr: min(k, s)
  //   rc16: 2 (s & 1) + (k & 1)
  const int s = static_cast<int>(c & 3);
  for (int k = 0; k < 4; ++k) {
    int src = 0;
    switch (mode) {
      case PrmtMode::kF4e: src = s + k; break;
      case PrmtMode::kB4e: src = (s - k + 8) & 7; break;
      case PrmtMode::kRc8: src = s; break;
      case PrmtMode::kEcl: src = std::max(k, s); break;
      case PrmtMode::kEcr: src = std::min(k, s); break;
      case PrmtMode::kRc16: src = 2 * (s & 1) + (k & 1); break;
      case PrmtMode::kDefault: break;
    }
    d |= byte(src) << (8 * k);
  }
  return d;
}

std::uint64_t lop3(std::uint64_t a, std::uint64_t b, std::uint64_t c, std::uint32_t lut) {
  std::uint64_t d = 0;
  for (int i = 0; i < 8; ++i) {
    if (((lut >> i) & 1) == 0) continue;
    d |= ((i & 4) ? a : ~a) & ((i & 2) ? b : ~b) & ((i & 1) ? c : ~c);
  }
  return mask_to(32, d);
}

std::uint64_t dp4a(ScalarType atype, ScalarType btype, std::uint64_t a, std::uint64_t b, std::uint64_t c) {
  std::uint64_t sum = c;
  for (int k = 0; k < 4; ++k) sum += static_cast<std::uint64_t>(byte_of(atype, a, k) * byte_of(btype, b, k));
  return mask_to(32, sum);
}

std::uint64_t dp2a(ScalarType atype, ScalarType btype, bool hi, std::uint64_t a, std::uint64_t b, std::uint64_t c) {
  std::uint64_t sum = c;
  const int first = hi ? 2 : 0;
  for (int k = 0; k < 2; ++k) {
    const std::uint64_t h = (a >> (16 * k)) & 0xffff;
    const std::int64_t av = is_signed_int(atype) ? sext(16, h) : static_cast<std::int64_t>(h);
    sum += static_cast<std::uint64_t>(av * byte_of(btype, b, first + k));
  }
  return mask_to(32, sum);
}

}  // namespace qjit::sim
