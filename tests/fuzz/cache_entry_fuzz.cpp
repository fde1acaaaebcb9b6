// libFuzzer target: the cache entry reader (cache/entry_format.cpp) on arbitrary bytes. A
// bad entry must be a qjit::Error (a miss for the cache); a good one must encode back to the
// same bytes.

#include <cstdint>
#include <cstdlib>
#include <string>

#include "cache/disk_cache.hpp"
#include "common/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  try {
    const qjit::cache::Entry e = qjit::cache::decode_entry(bytes);
    if (qjit::cache::encode_entry(e) != bytes) std::abort();
  } catch (const qjit::Error&) {
  }
  return 0;
}
