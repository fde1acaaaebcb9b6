// libFuzzer target: the sim's PTX front end (sim/ptx_lexer, ptx_parser, and the
// decoder sim_decode) on arbitrary text. What it cannot run must be a qjit::Error naming the
// line, never a crash, a hang or unbounded memory.

#include <cstdint>
#include <string>
#include <string_view>

#include "common/error.hpp"
#include "sim/ptx_parser.hpp"
#include "sim/sim_program.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    qjit::sim::ptx::Module m = qjit::sim::ptx::parse_module(text, "fuzz");
    qjit::sim::decode_module(
        std::move(m), [](void*, const std::string&) -> std::uint64_t { return 0x10000000; }, nullptr);
  } catch (const qjit::Error&) {
  }
  return 0;
}
