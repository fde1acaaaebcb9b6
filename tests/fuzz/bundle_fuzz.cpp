// libFuzzer target: the bundle reader (cache/bundle.cpp) on arbitrary bytes. The trailing
// sha256 is recomputed over the input first (random bytes would otherwise stop at the
// checksum), so the header, index and entries behind it are what gets explored. A bad
// bundle must be a qjit::Error; a good one must encode again to a bundle that decodes to the
// same entries.

#include <cstdint>
#include <cstdlib>
#include <string>

#include "cache/bundle.hpp"
#include "common/error.hpp"
#include "common/sha256.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  if (bytes.size() >= 32) {
    bytes.resize(bytes.size() - 32);
    const std::string hex = qjit::sha256_hex(bytes);
    for (std::size_t i = 0; i < 32; ++i) bytes.push_back(static_cast<char>(std::stoi(hex.substr(2 * i, 2), nullptr, 16)));
  }
  try {
    const auto entries = qjit::cache::decode_bundle(bytes, "fuzz");
    const auto again = qjit::cache::decode_bundle(qjit::cache::encode_bundle(entries), "fuzz");
    if (again.size() != entries.size()) std::abort();
    for (std::size_t i = 0; i < entries.size(); ++i) {
      if (again[i].key != entries[i].key || !(again[i].entry == entries[i].entry)) std::abort();
    }
  } catch (const qjit::Error&) {
  }
  return 0;
}
