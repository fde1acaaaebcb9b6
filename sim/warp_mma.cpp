// mma.sync.aligned.{m16n8k8,m16n8k16,m16n8k32}.row.col: fragment layouts from the PTX ISA's
// "Matrix Fragments for mma.m16n8kK" sections, and exactly rounded numerics.
//
// Fragment layouts, with groupID = %laneid >> 2 and threadID_in_group = %laneid % 4
// (g and t below), restated per register. Each register packs epr = 32 / bits elements low
// to high (4 for 8-bit types, 2 for 16-bit), and one K chunk is 4 * epr columns wide:
//   A (16 x K), register r, element j:  row = g + 8 * (r & 1)
//                                       col = (r >> 1) * chunk + t * epr + j
//   B (K x 8),  register r, element j:  row = r * chunk + t * epr + j,   col = g
//   C/D .s32/.f32, register r:          row = g + 8 * (r >> 1),          col = 2 * t + (r & 1)
//   C/D .f16 (f16x2), register r, half j: row = g + 8 * r,               col = 2 * t + j
// For example the ISA's m16n8k32 .s8 A table ("row = groupID for ai where 0 <= i < 4 ||
// 8 <= i < 12, groupID + 8 otherwise; col = threadID_in_group * 4 + (i & 0x3), + 16 for
// i >= 8") is this with epr = 4, chunk = 16 and element i = 4 * r + j; the m16n8k16 .f16 A
// table ("row = groupID for 0 <= i < 2 || 4 <= i < 6; col = threadID_in_group * 2 +
// (i & 0x1), + 8 for i >= 4") is epr = 2, chunk = 8, i = 2 * r + j.

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "common/error.hpp"
#include "sim/warp_ops.hpp"

namespace qjit::sim {

namespace {

constexpr int kM = 16, kN = 8, kMaxK = 32;

bool is_int(MmaInType t) { return t == MmaInType::kS8 || t == MmaInType::kU8; }
bool is_fp8(MmaInType t) { return t == MmaInType::kE4m3 || t == MmaInType::kE5m2; }
int in_bits(MmaInType t) { return (t == MmaInType::kF16 || t == MmaInType::kBf16) ? 16 : 8; }

// --- parsing --------------------------------------------------------------------------------

[[noreturn]] void unsupported(const std::vector<std::string>& mods, const std::string& why) {
  std::string form = "mma";
  for (const auto& m : mods) form += "." + m;
  QJIT_THROW("sim", "unsupported instruction '{}': {}", form, why);
}

bool parse_in_type(const std::string& s, MmaInType& t) {
  if (s == "s8") t = MmaInType::kS8;
  else if (s == "u8") t = MmaInType::kU8;
  else if (s == "e4m3") t = MmaInType::kE4m3;
  else if (s == "e5m2") t = MmaInType::kE5m2;
  else if (s == "f16") t = MmaInType::kF16;
  else if (s == "bf16") t = MmaInType::kBf16;
  else return false;
  return true;
}

bool parse_acc_type(const std::string& s, MmaAccType& t) {
  if (s == "s32") t = MmaAccType::kS32;
  else if (s == "f32") t = MmaAccType::kF32;
  else if (s == "f16") t = MmaAccType::kF16;
  else return false;
  return true;
}

// --- exact float arithmetic -----------------------------------------------------------------

__extension__ typedef __int128 I128;
__extension__ typedef unsigned __int128 U128;

int bit_width(U128 v) {
  const auto hi = static_cast<std::uint64_t>(v >> 64);
  const auto lo = static_cast<std::uint64_t>(v);
  return hi != 0 ? 64 + static_cast<int>(std::bit_width(hi)) : static_cast<int>(std::bit_width(lo));
}

// An IEEE-like binary format: 1 sign bit, exp_bits, mant_bits (fraction). `fn` marks the
// e4m3 "fn" variant: no Inf, and only S.1111.111 is NaN.
struct FloatFormat {
  int exp_bits, mant_bits, bias;
  bool fn;
  int min_lsb() const { return 1 - bias - mant_bits; }  // weight of the last bit of a subnormal
};
constexpr FloatFormat kE4m3{4, 3, 7, true};
constexpr FloatFormat kE5m2{5, 2, 15, false};
constexpr FloatFormat kF16{5, 10, 15, false};
constexpr FloatFormat kBf16{8, 7, 127, false};
constexpr FloatFormat kF32{8, 23, 127, false};

enum class Cls : std::uint8_t { kZero, kFinite, kInf, kNaN };

// A value as (-1)^neg * sig * 2^lsb, exactly.
struct Decoded {
  Cls cls = Cls::kZero;
  bool neg = false;
  std::uint32_t sig = 0;
  int lsb = 0;
};

Decoded decode(std::uint32_t v, const FloatFormat& f) {
  const std::uint32_t exp_max = (1u << f.exp_bits) - 1u;
  const std::uint32_t mant_mask = (1u << f.mant_bits) - 1u;
  const std::uint32_t e = (v >> f.mant_bits) & exp_max;
  const std::uint32_t m = v & mant_mask;
  Decoded d;
  d.neg = ((v >> (f.exp_bits + f.mant_bits)) & 1u) != 0;
  if (f.fn ? (e == exp_max && m == mant_mask) : (e == exp_max && m != 0)) {
    d.cls = Cls::kNaN;
  } else if (!f.fn && e == exp_max) {
    d.cls = Cls::kInf;
  } else if (e == 0 && m == 0) {
    d.cls = Cls::kZero;
  } else {
    d.cls = Cls::kFinite;
    d.sig = e == 0 ? m : (m | (1u << f.mant_bits));
    d.lsb = (e == 0 ? 1 : static_cast<int>(e)) - f.bias - f.mant_bits;
  }
  return d;
}

// The rounding target: precision p (significand bits, hidden bit included), the smallest
// normal exponent and the largest finite exponent.
struct RoundFormat {
  int p, exp_bits, emin, emax, bias;
  std::uint32_t nan_bits;  // the canonical NaN
  std::uint32_t sign_bit() const { return 1u << (p - 1 + exp_bits); }
  std::uint32_t inf_bits() const { return ((1u << exp_bits) - 1u) << (p - 1); }
};
constexpr RoundFormat kRoundF32{24, 8, -126, 127, 127, 0x7fffffffu};
constexpr RoundFormat kRoundF16{11, 5, -14, 15, 15, 0x7fffu};

// The encoding of (-1)^neg * mag * 2^lo rounded to nearest-even in `f`. mag != 0.
std::uint32_t round_to(U128 mag, int lo, bool neg, const RoundFormat& f) {
  const int msb = bit_width(mag) - 1;
  const int e = msb + lo;                         // mag * 2^lo is in [2^e, 2^(e+1))
  const int q = std::max(e, f.emin) - (f.p - 1);  // weight of the result's last bit
  const int shift = q - lo;                       // bits of mag below that
  std::uint64_t keep = 0;
  if (shift <= 0) {
    // NOTE: then msb <= p - 1, so the shifted value stays below 2^p.
    keep = static_cast<std::uint64_t>(mag) << (-shift);
  } else if (shift <= 127) {
    keep = static_cast<std::uint64_t>(mag >> shift);
    const bool round = ((mag >> (shift - 1)) & 1u) != 0;
    const bool sticky = (mag & ((U128{1} << (shift - 1)) - 1u)) != 0;
    if (round && (sticky || (keep & 1u) != 0)) ++keep;
  }  // else: far below half the smallest subnormal (cannot happen for the inputs here)
  int qe = q;
  if (keep == (std::uint64_t{1} << f.p)) keep >>= 1, ++qe;  // rounded up into the next binade
  const std::uint32_t sign_bit = neg ? f.sign_bit() : 0u;
  if (keep == 0) return sign_bit;  // below half the smallest subnormal
  if (keep < (std::uint64_t{1} << (f.p - 1))) return sign_bit | static_cast<std::uint32_t>(keep);  // subnormal
  const int exponent = qe + f.p - 1;
  if (exponent > f.emax) return sign_bit | f.inf_bits();  // overflow rounds to Inf
  const std::uint32_t field = static_cast<std::uint32_t>(exponent + f.bias);
  return sign_bit | (field << (f.p - 1)) | static_cast<std::uint32_t>(keep - (std::uint64_t{1} << (f.p - 1)));
}

// A signed sum held exactly in 128 bits, scaled by 2^lo, rounded into `f` (+0 when zero).
std::uint32_t round_signed(I128 sum, int lo, const RoundFormat& f) {
  if (sum == 0) return 0u;  // exact cancellation: +0 under round-to-nearest
  const bool neg = sum < 0;
  return round_to(neg ? -static_cast<U128>(sum) : static_cast<U128>(sum), lo, neg, f);
}

// One finite nonzero term (-1)^neg * sig * 2^lsb of a dot product.
struct Term {
  std::uint64_t sig;
  int lsb;
  bool neg;
};

// Sign-magnitude fixed point for sums too wide for 128 bits: the smallest product bit is
// 2^-266 (bf16 subnormal squared), the largest sum stays below 2^263 (33 terms below 2^257),
// so 530 bits plus a carry margin.
constexpr int kLimbs = 10;
using Limbs = std::array<std::uint64_t, kLimbs>;

// acc += sig * 2^shift (sig < 2^32, shift >= 0 and within the accumulator).
void add_shifted(Limbs& acc, std::uint64_t sig, int shift) {
  const int idx = shift / 64, off = shift % 64;
  const std::uint64_t parts[2] = {sig << off, off == 0 ? 0 : sig >> (64 - off)};
  std::uint64_t carry = 0;
  for (int i = idx; i < kLimbs; ++i) {
    const std::uint64_t add = i - idx < 2 ? parts[i - idx] : 0;
    const std::uint64_t s = acc[i] + add;
    const std::uint64_t c1 = s < add ? 1u : 0u;
    acc[i] = s + carry;
    const std::uint64_t c2 = acc[i] < carry ? 1u : 0u;
    carry = c1 | c2;
    if (i > idx && carry == 0) break;
  }
}

Limbs subtract(const Limbs& x, const Limbs& y) {  // x >= y
  Limbs r{};
  std::uint64_t borrow = 0;
  for (int i = 0; i < kLimbs; ++i) {
    const std::uint64_t t = x[i] - y[i];
    const std::uint64_t b1 = x[i] < y[i] ? 1u : 0u;
    r[i] = t - borrow;
    const std::uint64_t b2 = t < borrow ? 1u : 0u;
    borrow = b1 | b2;
  }
  return r;
}

// The exact sum of `n` >= 1 terms, rounded once into `f`.
std::uint32_t round_sum(const Term* t, int n, const RoundFormat& f) {
  int lo = t[0].lsb, hi = t[0].lsb + static_cast<int>(std::bit_width(t[0].sig));
  for (int i = 1; i < n; ++i) {
    lo = std::min(lo, t[i].lsb);
    hi = std::max(hi, t[i].lsb + static_cast<int>(std::bit_width(t[i].sig)));
  }
  if (hi - lo <= 120) {
    // NOTE: at most 33 terms below 2^(hi - lo): the sum needs hi - lo + 6 bits and a sign.
    I128 sum = 0;
    for (int i = 0; i < n; ++i) {
      const I128 v = static_cast<I128>(static_cast<U128>(t[i].sig) << (t[i].lsb - lo));
      sum += t[i].neg ? -v : v;
    }
    return round_signed(sum, lo, f);
  }
  Limbs pos{}, neg{};
  for (int i = 0; i < n; ++i) add_shifted(t[i].neg ? neg : pos, t[i].sig, t[i].lsb - lo);
  int cmp = 0;
  for (int i = kLimbs - 1; i >= 0 && cmp == 0; --i) {
    if (pos[i] != neg[i]) cmp = pos[i] < neg[i] ? -1 : 1;
  }
  if (cmp == 0) return 0u;
  const Limbs mag = cmp > 0 ? subtract(pos, neg) : subtract(neg, pos);
  // Keep the top 126 bits and fold everything below into a sticky bit: rounding to at most
  // 24 bits looks no further than 25 bits below the leading one, so the sticky bit stands
  // for the rest exactly.
  int top = kLimbs - 1;
  while (mag[top] == 0) --top;
  const int msb = 64 * top + static_cast<int>(std::bit_width(mag[top])) - 1;
  const int s = std::max(0, msb - 125);
  U128 window = 0;
  for (int b = msb; b >= s; --b) window = (window << 1) | ((mag[b / 64] >> (b % 64)) & 1u);
  bool sticky = false;
  for (int b = 0; b < s && !sticky; b += 64) {
    const std::uint64_t limb = mag[b / 64];
    const int bits = std::min(64, s - b);
    sticky = (bits == 64 ? limb : (limb & ((std::uint64_t{1} << bits) - 1u))) != 0;
  }
  return round_to(window | (sticky ? 1u : 0u), lo + s, cmp < 0, f);
}

// One output element from decoded operands, any values: the IEEE special cases (NaN in,
// 0 * Inf, Inf - Inf give NaN; otherwise an Inf wins), then the exact sum rounded once.
std::uint32_t dot_general(const Decoded* a, const Decoded* b, int k, const Decoded& c, const RoundFormat& f) {
  Term terms[kMaxK + 1];
  int n = 0;
  bool nan = false, pos_inf = false, neg_inf = false, all_neg_zero = true;
  auto add = [&](Cls cls, bool neg, std::uint64_t sig, int lsb) {
    if (cls == Cls::kInf) (neg ? neg_inf : pos_inf) = true;
    if (cls != Cls::kZero || !neg) all_neg_zero = false;
    if (cls == Cls::kFinite) terms[n++] = Term{sig, lsb, neg};
  };
  for (int i = 0; i < k; ++i) {
    const Decoded& x = a[i];
    const Decoded& y = b[i];
    const bool neg = x.neg != y.neg;
    if (x.cls == Cls::kNaN || y.cls == Cls::kNaN) {
      nan = true;
    } else if (x.cls == Cls::kInf || y.cls == Cls::kInf) {
      if (x.cls == Cls::kZero || y.cls == Cls::kZero) nan = true;  // 0 * Inf
      else add(Cls::kInf, neg, 0, 0);
    } else if (x.cls == Cls::kZero || y.cls == Cls::kZero) {
      add(Cls::kZero, neg, 0, 0);
    } else {
      add(Cls::kFinite, neg, static_cast<std::uint64_t>(x.sig) * y.sig, x.lsb + y.lsb);
    }
  }
  if (c.cls == Cls::kNaN) nan = true;
  else add(c.cls, c.neg, c.sig, c.lsb);
  if (nan || (pos_inf && neg_inf)) return f.nan_bits;
  if (pos_inf) return f.inf_bits();
  if (neg_inf) return f.sign_bit() | f.inf_bits();
  if (n == 0) return all_neg_zero ? f.sign_bit() : 0u;  // IEEE: -0 only when every term is -0
  return round_sum(terms, n, f);
}

const FloatFormat& format_of(MmaInType t) {
  switch (t) {
    case MmaInType::kE4m3: return kE4m3;
    case MmaInType::kE5m2: return kE5m2;
    case MmaInType::kF16: return kF16;
    default: return kBf16;
  }
}

// An element decoded, with its value as a signed integer multiple of the format's smallest
// subnormal (0 for zero, NaN and Inf; unused for bf16, whose range does not fit).
struct Entry {
  Decoded d;
  std::int64_t fixed = 0;
};

Entry make_entry(std::uint32_t code, const FloatFormat& f) {
  Entry e{decode(code, f), 0};
  if (e.d.cls == Cls::kFinite && &f != &kBf16) {
    const auto v = static_cast<std::int64_t>(e.d.sig) << (e.d.lsb - f.min_lsb());
    e.fixed = e.d.neg ? -v : v;
  }
  return e;
}

// The 8-bit formats decoded once per encoding: decoding random data is branchy.
template <const FloatFormat& F>
const std::array<Entry, 256>& table8() {
  static const std::array<Entry, 256> table = [] {
    std::array<Entry, 256> t;
    for (std::uint32_t code = 0; code < 256; ++code) t[code] = make_entry(code, F);
    return t;
  }();
  return table;
}

// The table of an 8-bit type, or null for the 16-bit ones (decoded per element).
const Entry* table_of(MmaInType t) {
  switch (t) {
    case MmaInType::kE4m3: return table8<kE4m3>().data();
    case MmaInType::kE5m2: return table8<kE5m2>().data();
    default: return nullptr;
  }
}

// The float forms. Every e4m3, e5m2 and f16 value is an integer multiple of its format's
// smallest subnormal, below 2^40 times it, so the K products sum exactly in 128-bit fixed
// point with one scale for the whole mma (64-bit when both inputs are narrow enough): the
// fast path. bf16 (whose range is too wide for that), elements whose row or column holds
// NaN or Inf, a zero sum with a zero c (signed-zero rules) and a c far from the products'
// scale go through dot_general.
void mma_float(const MmaDesc& desc, const std::uint32_t am[kM][kMaxK], const std::uint32_t bm[kMaxK][kN],
               const std::uint32_t cm[kM][kN], std::uint32_t dm[kM][kN]) {
  const int k = desc.k;
  const FloatFormat& fa = format_of(desc.a_type);
  const FloatFormat& fb = format_of(desc.b_type);
  const FloatFormat& fc = desc.c_type == MmaAccType::kF16 ? kF16 : kF32;
  const RoundFormat& fd = desc.d_type == MmaAccType::kF16 ? kRoundF16 : kRoundF32;
  Decoded ad[kM][kMaxK], bd[kN][kMaxK];  // B transposed: one column per output column
  std::int64_t av[kM][kMaxK], bv[kN][kMaxK];
  bool row_special[kM] = {}, col_special[kN] = {};
  const Entry* ta = table_of(desc.a_type);
  const Entry* tb = table_of(desc.b_type);
  for (int i = 0; i < kM; ++i) {
    for (int kk = 0; kk < k; ++kk) {
      const Entry e = ta != nullptr ? ta[am[i][kk]] : make_entry(am[i][kk], fa);
      ad[i][kk] = e.d;
      av[i][kk] = e.fixed;
      row_special[i] |= e.d.cls == Cls::kNaN || e.d.cls == Cls::kInf;
    }
  }
  for (int j = 0; j < kN; ++j) {
    for (int kk = 0; kk < k; ++kk) {
      const Entry e = tb != nullptr ? tb[bm[kk][j]] : make_entry(bm[kk][j], fb);
      bd[j][kk] = e.d;
      bv[j][kk] = e.fixed;
      col_special[j] |= e.d.cls == Cls::kNaN || e.d.cls == Cls::kInf;
    }
  }
  const bool fixed = desc.a_type != MmaInType::kBf16 && desc.b_type != MmaInType::kBf16;
  // Magnitude bits of those integers: (largest finite exponent field - 1) + mantissa bits + 1
  // (e4m3 "fn" uses the all-ones exponent field for finite values).
  auto value_bits = [](const FloatFormat& f) { return (1 << f.exp_bits) - (f.fn ? 1 : 2) + f.mant_bits; };
  const bool narrow = fixed && value_bits(fa) + value_bits(fb) + 6 <= 62;  // 33 terms in int64
  const int scale = fa.min_lsb() + fb.min_lsb();
  for (int i = 0; i < kM; ++i) {
    for (int j = 0; j < kN; ++j) {
      const Decoded c = decode(cm[i][j], fc);
      const bool special = row_special[i] || col_special[j] || c.cls == Cls::kNaN || c.cls == Cls::kInf;
      if (!fixed || special) {
        dm[i][j] = dot_general(ad[i], bd[j], k, c, fd);
        continue;
      }
      I128 sum = 0;
      if (narrow) {
        std::int64_t s = 0;
        for (int kk = 0; kk < k; ++kk) s += av[i][kk] * bv[j][kk];
        sum = s;
      } else {
        for (int kk = 0; kk < k; ++kk) sum += static_cast<I128>(av[i][kk]) * bv[j][kk];
      }
      // Add c exactly when it fits beside the products in 128 bits.
      int lo = scale;
      bool fits = true;
      if (c.cls == Cls::kFinite) {
        const I128 cv = c.neg ? -static_cast<I128>(c.sig) : static_cast<I128>(c.sig);
        const int sum_bits = bit_width(sum < 0 ? -static_cast<U128>(sum) : static_cast<U128>(sum));
        if (c.lsb >= scale && c.lsb - scale + 24 <= 120) {
          sum += cv << (c.lsb - scale);
        } else if (c.lsb < scale && sum_bits + (scale - c.lsb) <= 120) {
          sum = (sum << (scale - c.lsb)) + cv;
          lo = c.lsb;
        } else {
          fits = false;
        }
      } else if (sum == 0) {
        fits = false;  // 0 + (+-0): the sign of zero depends on every term's sign
      }
      dm[i][j] = fits ? round_signed(sum, lo, fd) : dot_general(ad[i], bd[j], k, c, fd);
    }
  }
}

// Element j of a register packing `bits`-wide elements low to high.
std::uint32_t field(std::uint32_t reg, int bits, int j) {
  return bits == 32 ? reg : (reg >> (j * bits)) & ((1u << bits) - 1u);
}

}  // namespace

MmaDesc parse_mma(const std::vector<std::string>& mods) {
  MmaDesc d;
  bool sync = false, aligned = false, shape = false;
  std::vector<std::string> layouts, types, unknown;
  for (const auto& m : mods) {
    if (m == "sync") sync = true;
    else if (m == "aligned") aligned = true;
    else if (m == "row" || m == "col") layouts.push_back(m);
    else if (m == "satfinite") d.satfinite = true;
    else if (m == "m16n8k8" || m == "m16n8k16" || m == "m16n8k32") {
      if (shape) unsupported(mods, "more than one shape");
      shape = true;
      d.k = m == "m16n8k8" ? 8 : m == "m16n8k16" ? 16 : 32;
    } else {
      MmaInType it;
      MmaAccType at;
      if (parse_in_type(m, it) || parse_acc_type(m, at)) types.push_back(m);
      else unknown.push_back("." + m);
    }
  }
  if (!unknown.empty()) {
    std::string list;
    for (const auto& u : unknown) list += (list.empty() ? "" : ", ") + u;
    unsupported(mods, fmt::format("the sim does not support {}", list));
  }
  if (!sync || !aligned) unsupported(mods, "mma needs .sync.aligned");
  if (!shape) unsupported(mods, "no supported shape (m16n8k8, m16n8k16, m16n8k32)");
  if (layouts != std::vector<std::string>{"row", "col"}) unsupported(mods, "only the .row.col layout is supported");
  if (types.size() != 4) unsupported(mods, "expected four types (.dtype.atype.btype.ctype)");
  if (!parse_acc_type(types[0], d.d_type) || !parse_in_type(types[1], d.a_type) ||
      !parse_in_type(types[2], d.b_type) || !parse_acc_type(types[3], d.c_type)) {
    unsupported(mods, "types must be .dtype.atype.btype.ctype");
  }
  const MmaInType a = d.a_type, b = d.b_type;
  bool ok = false;
  if (is_int(a) && is_int(b)) {
    ok = (d.k == 16 || d.k == 32) && d.d_type == MmaAccType::kS32 && d.c_type == MmaAccType::kS32;
  } else if (is_fp8(a) && is_fp8(b)) {
    ok = (d.k == 16 || d.k == 32) && d.d_type == d.c_type && d.d_type != MmaAccType::kS32;
  } else if (a == MmaInType::kF16 && b == MmaInType::kF16) {
    ok = (d.k == 8 || d.k == 16) && d.d_type == d.c_type && d.d_type != MmaAccType::kS32;
  } else if (a == MmaInType::kBf16 && b == MmaInType::kBf16) {
    ok = (d.k == 8 || d.k == 16) && d.d_type == MmaAccType::kF32 && d.c_type == MmaAccType::kF32;
  }
  if (!ok) unsupported(mods, "this shape / type combination is not one the sim implements");
  if (d.satfinite && !is_int(a)) unsupported(mods, ".satfinite applies to the integer forms only");
  return d;
}

int mma_regs(const MmaDesc& desc, char which) {
  switch (which) {
    case 'a': return desc.m * desc.k * in_bits(desc.a_type) / (32 * kWarpSize);
    case 'b': return desc.k * desc.n * in_bits(desc.b_type) / (32 * kWarpSize);
    case 'c': return desc.c_type == MmaAccType::kF16 ? 2 : 4;
    case 'd': return desc.d_type == MmaAccType::kF16 ? 2 : 4;
    default: QJIT_THROW("sim", "mma_regs: unknown fragment '{}'", which);
  }
}

void mma_sync(const MmaDesc& desc, const std::uint32_t a[kWarpSize][4], const std::uint32_t b[kWarpSize][4],
              const std::uint32_t c[kWarpSize][4], std::uint32_t d[kWarpSize][4]) {
  const int k = desc.k;
  QJIT_CHECK_GEN("sim", desc.m == kM && desc.n == kN && (k == 8 || k == 16 || k == 32), "mma_sync: bad shape");
  const int a_bits = in_bits(desc.a_type), b_bits = in_bits(desc.b_type);
  const int a_epr = 32 / a_bits, b_epr = 32 / b_bits;
  const int a_regs = mma_regs(desc, 'a'), b_regs = mma_regs(desc, 'b');

  // Gather the whole matrices' encodings from the fragments (layouts at the top of the file).
  std::uint32_t am[kM][kMaxK], bm[kMaxK][kN], cm[kM][kN];
  for (int lane = 0; lane < kWarpSize; ++lane) {
    const int g = lane >> 2, t = lane & 3;
    for (int r = 0; r < a_regs; ++r) {
      for (int j = 0; j < a_epr; ++j) {
        am[g + 8 * (r & 1)][(r >> 1) * 4 * a_epr + t * a_epr + j] = field(a[lane][r], a_bits, j);
      }
    }
    for (int r = 0; r < b_regs; ++r) {
      for (int j = 0; j < b_epr; ++j) bm[r * 4 * b_epr + t * b_epr + j][g] = field(b[lane][r], b_bits, j);
    }
    if (desc.c_type == MmaAccType::kF16) {
      for (int r = 0; r < 2; ++r) {
        for (int j = 0; j < 2; ++j) cm[g + 8 * r][2 * t + j] = field(c[lane][r], 16, j);
      }
    } else {
      for (int r = 0; r < 4; ++r) cm[g + 8 * (r >> 1)][2 * t + (r & 1)] = c[lane][r];
    }
  }

  std::uint32_t dm[kM][kN];
  if (is_int(desc.a_type)) {
    auto value = [](std::uint32_t v, MmaInType type) {
      return type == MmaInType::kS8 ? static_cast<std::int32_t>(static_cast<std::int8_t>(v))
                                    : static_cast<std::int32_t>(v);
    };
    std::int32_t av[kM][kMaxK], bv[kN][kMaxK];  // B transposed
    for (int i = 0; i < kM; ++i) {
      for (int kk = 0; kk < k; ++kk) av[i][kk] = value(am[i][kk], desc.a_type);
    }
    for (int j = 0; j < kN; ++j) {
      for (int kk = 0; kk < k; ++kk) bv[j][kk] = value(bm[kk][j], desc.b_type);
    }
    for (int i = 0; i < kM; ++i) {
      for (int j = 0; j < kN; ++j) {
        std::int64_t acc = static_cast<std::int32_t>(cm[i][j]);
        for (int kk = 0; kk < k; ++kk) acc += av[i][kk] * bv[j][kk];  // |product| <= 2^16: exact
        if (desc.satfinite) {
          acc = std::clamp<std::int64_t>(acc, std::numeric_limits<std::int32_t>::min(),
                                         std::numeric_limits<std::int32_t>::max());
        }
        // Wrapping the exact sum equals wrapping after every addition (arithmetic mod 2^32).
        dm[i][j] = static_cast<std::uint32_t>(acc);
      }
    }
  } else {
    mma_float(desc, am, bm, cm, dm);
  }

  for (int lane = 0; lane < kWarpSize; ++lane) {
    const int g = lane >> 2, t = lane & 3;
    if (desc.d_type == MmaAccType::kF16) {
      for (int r = 0; r < 2; ++r) d[lane][r] = dm[g + 8 * r][2 * t] | (dm[g + 8 * r][2 * t + 1] << 16);
    } else {
      for (int r = 0; r < 4; ++r) d[lane][r] = dm[g + 8 * (r >> 1)][2 * t + (r & 1)];
    }
  }
}

}  // namespace qjit::sim
