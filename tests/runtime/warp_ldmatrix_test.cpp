// ldmatrix / stmatrix .m8n8 .b16 (sim/warp_ldmatrix.cpp), known answers from the PTX
// ISA: the address table (.x1: threads 0-7 give addr0-addr7, .x2: threads 0-15, .x4: all
// 32; addresses 8*i .. 8*i+7 are the rows of matrix i) and the fragment figure (a group of
// four threads holds a row: thread 0 the first 32 bits, so T(4r + q) holds row r, columns
// 2q and 2q+1; matrix i goes to register i). .trans loads the matrix column-major.

#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <cstring>
#include <vector>

#include "common/error.hpp"
#include "runtime/float_convert.hpp"
#include "sim/warp_ops.hpp"

namespace qjit::sim {
namespace {

// A fake shared memory with a log of the 16-byte accesses.
struct Smem {
  std::vector<std::uint8_t> bytes = std::vector<std::uint8_t>(4096, 0);
  std::vector<std::uint32_t> reads, writes;

  SharedRead16 reader() {
    return [this](std::uint32_t addr, void* dst) {
      ASSERT_LE(addr + 16, bytes.size()) << "read outside shared memory";
      reads.push_back(addr);
      std::memcpy(dst, bytes.data() + addr, 16);
    };
  }
  SharedWrite16 writer() {
    return [this](std::uint32_t addr, const void* src) {
      ASSERT_LE(addr + 16, bytes.size()) << "write outside shared memory";
      writes.push_back(addr);
      std::memcpy(bytes.data() + addr, src, 16);
    };
  }
  std::uint16_t at(std::uint32_t addr) const {
    return static_cast<std::uint16_t>(bytes[addr] | (bytes[addr + 1] << 8));  // little-endian, as PTX
  }
  void set(std::uint32_t addr, std::uint16_t v) {
    bytes[addr] = static_cast<std::uint8_t>(v);
    bytes[addr + 1] = static_cast<std::uint8_t>(v >> 8);
  }
};

// Distinct element values: matrix i, row r, column c.
std::uint16_t value(int i, int r, int c) { return static_cast<std::uint16_t>((i << 12) | (r << 8) | (c << 4) | 0x5); }

// Row r of matrix i lives at a scattered, 16-byte aligned address (rows need not be
// contiguous); the lanes past 8 * num hold addresses that must not be used.
void make_addresses(int num, std::uint32_t addr[kWarpSize]) {
  for (int lane = 0; lane < kWarpSize; ++lane) {
    addr[lane] = lane < 8 * num ? 16u * static_cast<std::uint32_t>((lane * 37 + 11) % 200) : 0xdead'0000u;
  }
}

TEST(Ldmatrix, AddressLanes) {
  EXPECT_EQ(ldmatrix_address_lanes(1), 8);
  EXPECT_EQ(ldmatrix_address_lanes(2), 16);
  EXPECT_EQ(ldmatrix_address_lanes(4), 32);
  EXPECT_THROW(ldmatrix_address_lanes(3), Error);
}

TEST(Ldmatrix, FragmentsFollowTheIsaFigure) {
  for (int num : {1, 2, 4}) {
    for (bool trans : {false, true}) {
      SCOPED_TRACE(testing::Message() << "x" << num << (trans ? ".trans" : ""));
      Smem smem;
      std::uint32_t addr[kWarpSize];
      make_addresses(num, addr);
      for (int i = 0; i < num; ++i) {
        for (int r = 0; r < 8; ++r) {
          for (int c = 0; c < 8; ++c) smem.set(addr[8 * i + r] + 2u * static_cast<std::uint32_t>(c), value(i, r, c));
        }
      }
      std::uint32_t d[kWarpSize][4];
      for (auto& lane : d) {
        for (auto& r : lane) r = 0xdeadbeefu;
      }
      ldmatrix(num, trans, addr, smem.reader(), d);
      ASSERT_EQ(smem.reads.size(), static_cast<std::size_t>(8 * num));
      for (int k = 0; k < 8 * num; ++k) EXPECT_EQ(smem.reads[k], addr[k]);
      for (int lane = 0; lane < kWarpSize; ++lane) {
        for (int i = 0; i < num; ++i) {
          // T(4r + q): row r = lane / 4, columns 2q, 2q + 1 (q = lane % 4), low half first;
          // column-major with .trans: rows 2q, 2q + 1 of column lane / 4.
          const int r = lane / 4, q = lane % 4;
          const std::uint16_t lo = trans ? value(i, 2 * q, r) : value(i, r, 2 * q);
          const std::uint16_t hi = trans ? value(i, 2 * q + 1, r) : value(i, r, 2 * q + 1);
          EXPECT_EQ(d[lane][i], lo | (static_cast<std::uint32_t>(hi) << 16)) << "lane " << lane << " matrix " << i;
        }
        for (int i = num; i < 4; ++i) EXPECT_EQ(d[lane][i], 0xdeadbeefu);
      }
    }
  }
}

TEST(Ldmatrix, StmatrixIsTheInverse) {
  for (int num : {1, 2, 4}) {
    for (bool trans : {false, true}) {
      SCOPED_TRACE(testing::Message() << "x" << num << (trans ? ".trans" : ""));
      std::uint32_t addr[kWarpSize];
      make_addresses(num, addr);
      // Registers laid out as the figure says; stmatrix must put each element in its place.
      std::uint32_t s[kWarpSize][4] = {};
      for (int lane = 0; lane < kWarpSize; ++lane) {
        const int r = lane / 4, q = lane % 4;
        for (int i = 0; i < num; ++i) {
          const std::uint16_t lo = trans ? value(i, 2 * q, r) : value(i, r, 2 * q);
          const std::uint16_t hi = trans ? value(i, 2 * q + 1, r) : value(i, r, 2 * q + 1);
          s[lane][i] = lo | (static_cast<std::uint32_t>(hi) << 16);
        }
      }
      Smem smem;
      stmatrix(num, trans, addr, s, smem.writer());
      ASSERT_EQ(smem.writes.size(), static_cast<std::size_t>(8 * num));
      for (int i = 0; i < num; ++i) {
        for (int r = 0; r < 8; ++r) {
          for (int c = 0; c < 8; ++c) {
            EXPECT_EQ(smem.at(addr[8 * i + r] + 2u * static_cast<std::uint32_t>(c)), value(i, r, c))
                << "matrix " << i << " row " << r << " col " << c;
          }
        }
      }
      // And ldmatrix with the same qualifiers reads the registers back.
      std::uint32_t d[kWarpSize][4] = {};
      ldmatrix(num, trans, addr, smem.reader(), d);
      for (int lane = 0; lane < kWarpSize; ++lane) {
        for (int i = 0; i < num; ++i) EXPECT_EQ(d[lane][i], s[lane][i]);
      }
    }
  }
}

// The usual pairing in a GEMM: A (16 x 16 f16, row-major in shared memory) by ldmatrix.x4,
// B (16 x 8, rows along K) by ldmatrix.x2.trans, then mma.m16n8k16: the product must come
// out right without any other fragment bookkeeping.
TEST(Ldmatrix, FeedsMmaFragments) {
  Smem smem;
  const std::uint32_t a_base = 0, b_base = 1024;  // A rows 32 bytes apart, B rows 16 bytes
  float a[16][16], b[16][8];
  for (int m = 0; m < 16; ++m) {
    for (int k = 0; k < 16; ++k) {
      a[m][k] = static_cast<float>((m * 3 + k * 5) % 11 - 5);
      smem.set(a_base + static_cast<std::uint32_t>(32 * m + 2 * k), f32_to_f16(a[m][k]));
    }
  }
  for (int k = 0; k < 16; ++k) {
    for (int n = 0; n < 8; ++n) {
      b[k][n] = static_cast<float>((k * 7 + n * 2) % 9 - 4) * 0.5f;
      smem.set(b_base + static_cast<std::uint32_t>(16 * k + 2 * n), f32_to_f16(b[k][n]));
    }
  }
  // A: lane l addresses row l % 16, columns from 8 * (l / 16): matrices A[0:8][0:8],
  // A[8:16][0:8], A[0:8][8:16], A[8:16][8:16] are a0-a3 of the m16n8k16 A fragment.
  std::uint32_t a_addr[kWarpSize], b_addr[kWarpSize];
  for (int l = 0; l < kWarpSize; ++l) {
    a_addr[l] = a_base + static_cast<std::uint32_t>(32 * (l % 16) + 16 * (l / 16));
    b_addr[l] = b_base + static_cast<std::uint32_t>(16 * (l % 16));  // lanes 16-31 unused by .x2
  }
  std::uint32_t af[kWarpSize][4] = {}, bf[kWarpSize][4] = {}, cf[kWarpSize][4] = {}, df[kWarpSize][4] = {};
  ldmatrix(4, false, a_addr, smem.reader(), af);
  ldmatrix(2, true, b_addr, smem.reader(), bf);
  MmaDesc desc;
  desc.k = 16;
  desc.a_type = desc.b_type = MmaInType::kF16;
  desc.c_type = desc.d_type = MmaAccType::kF32;
  mma_sync(desc, af, bf, cf, df);
  for (int lane = 0; lane < kWarpSize; ++lane) {
    for (int i = 0; i < 4; ++i) {
      const int row = i < 2 ? lane / 4 : lane / 4 + 8, col = (lane % 4) * 2 + (i & 1);  // ISA C/D table
      float want = 0;
      for (int k = 0; k < 16; ++k) want += a[row][k] * b[k][col];  // small halves: exact
      EXPECT_EQ(std::bit_cast<float>(df[lane][i]), want) << "D[" << row << "][" << col << "]";
    }
  }
}

}  // namespace
}  // namespace qjit::sim
