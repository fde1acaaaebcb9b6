// ldmatrix / stmatrix .m8n8 .b16, from the PTX ISA: "The eight addresses required for each
// matrix are provided by eight threads ... addr0-addr7 correspond to the rows of the first
// matrix, addr8-addr15 to the rows of the second matrix" (.x1: threads 0-7, .x2: 0-15,
// .x4: 0-31); "a group of four consecutive threads loads 16 bytes" of a row, and "each
// thread in a warp loads fragments of a row, with thread 0 receiving the first fragment":
// lane l's register for a matrix holds row l / 4, 16-bit columns 2 * (l % 4) and
// 2 * (l % 4) + 1, low half first (the ISA's Figure "ldmatrix fragment layout for one 8x8
// Matrix with 16-bit elements", the same as the mma A/C layout for 16-bit elements).
// .trans "indicates that the matrix is loaded in column-major format": lane l then holds
// rows 2 * (l % 4) and 2 * (l % 4) + 1 of column l / 4. Matrix i goes to register i.


#include "common/error.hpp"
#include "sim/warp_ops.hpp"

namespace qjit::sim {

namespace {

constexpr int kRows = 8, kCols = 8;  // 16-bit elements; a row is 16 bytes
using Matrix = std::uint16_t[kRows][kCols];

// The element of `m` that half `h` of lane `lane`'s register holds, as (row, col).
void element_of(int lane, int h, bool trans, int& row, int& col) {
  const int outer = lane / 4, inner = 2 * (lane % 4) + h;
  row = trans ? inner : outer;
  col = trans ? outer : inner;
}

}  // namespace

int ldmatrix_address_lanes(int num) {
  QJIT_CHECK_GEN("sim", num == 1 || num == 2 || num == 4, "ldmatrix/stmatrix: .num must be x1, x2 or x4, not {}",
                 num);
  return kRows * num;
}

void ldmatrix(int num, bool trans, const std::uint32_t row_addr[kWarpSize], const SharedRead16& read16,
              std::uint32_t d[kWarpSize][4]) {
  const int lanes = ldmatrix_address_lanes(num);
  for (int i = 0; i < lanes / kRows; ++i) {
    Matrix m;
    for (int r = 0; r < kRows; ++r) read16(row_addr[kRows * i + r], m[r]);
    for (int lane = 0; lane < kWarpSize; ++lane) {
      std::uint32_t reg = 0;
      for (int h = 0; h < 2; ++h) {
        int row, col;
        element_of(lane, h, trans, row, col);
        reg |= static_cast<std::uint32_t>(m[row][col]) << (16 * h);
      }
      d[lane][i] = reg;
    }
  }
}

void stmatrix(int num, bool trans, const std::uint32_t row_addr[kWarpSize], const std::uint32_t s[kWarpSize][4],
              const SharedWrite16& write16) {
  const int lanes = ldmatrix_address_lanes(num);
  for (int i = 0; i < lanes / kRows; ++i) {
    Matrix m;
    for (int lane = 0; lane < kWarpSize; ++lane) {
      for (int h = 0; h < 2; ++h) {
        int row, col;
        element_of(lane, h, trans, row, col);
        m[row][col] = static_cast<std::uint16_t>(s[lane][i] >> (16 * h));
      }
    }
    for (int r = 0; r < kRows; ++r) write16(row_addr[kRows * i + r], m[r]);
  }
}

}  // namespace qjit::sim
