#pragma once
// AMX tiles for the host kernels (a program compiled for Isa::kAmx): the one tile shape the
// kernels use, 16 rows x 64 bytes (an A tile of 16 rows x 64 int8 K or 32 bf16 K, a B tile of
// 16 K quads (int8) or pairs (bf16) x 16 channels, a C tile of 16 x 16 int32 or f32), and a
// scope that loads that configuration on the calling thread and releases the tiles when it
// ends (the configuration is per thread; the process asked Linux for the tile state once,
// jit/impls/host_qgemm.cpp). Empty in a program for another ISA.

#include "host/vec512.h"

#if QJIT_HOST_AVX512 && defined(__AMXTILE__) && defined(__AMXINT8__) && defined(__AMXBF16__)
#define QJIT_HOST_AMX 1

namespace qjit::host::amx {

inline constexpr int kTileRows = 16;
inline constexpr int kTileBytes = 64;  // per row
inline constexpr int kTiles = 8;

// ldtilecfg's 64-byte operand, palette 1.
struct alignas(64) TileConfig {
  u8 palette = 1;
  u8 start_row = 0;
  u8 reserved[14] = {};
  u16 colsb[16] = {};
  u8 rows[16] = {};
};

class TileScope {
 public:
  TileScope() {
    TileConfig c;
    for (int t = 0; t < kTiles; ++t) {
      c.colsb[t] = kTileBytes;
      c.rows[t] = kTileRows;
    }
    _tile_loadconfig(&c);
  }
  ~TileScope() { _tile_release(); }
  TileScope(const TileScope&) = delete;
  TileScope& operator=(const TileScope&) = delete;
};

}  // namespace qjit::host::amx

#else
#define QJIT_HOST_AMX 0
#endif
