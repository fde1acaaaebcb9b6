// libFuzzer target: the safetensors reader (runtime/safetensors.hpp) on arbitrary bytes.
// Every malformed file must be a qjit::Error; a valid one must give every tensor's bytes
// within the file and, for dtypes qjit has, a tensor of exactly those bytes.

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common/error.hpp"
#include "runtime/safetensors.hpp"

namespace {

// One memory file, rewritten per input and opened by its /proc path (no disk I/O).
const std::string& memory_file() {
  static const std::string path = [] {
    const int fd = ::memfd_create("qjit-fuzz-safetensors", 0);
    if (fd < 0) std::abort();
    return "/proc/self/fd/" + std::to_string(fd);
  }();
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string& path = memory_file();
  const int fd = std::atoi(path.c_str() + 14);
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, data, size, 0) != static_cast<ssize_t>(size)) std::abort();
  for (auto access : {qjit::SafetensorsFile::Access::kMap, qjit::SafetensorsFile::Access::kRead}) {
    try {
      const qjit::SafetensorsFile f = qjit::SafetensorsFile::open(path, access);
      for (const std::string& name : f.names()) {
        const auto& info = f.info(name);
        const auto bytes = f.bytes(name);
        if (bytes.size() != info.nbytes) std::abort();
        if (!info.tensor_dtype) continue;
        const qjit::Tensor t = f.get(name);
        if (t.nbytes() != info.nbytes || (t.nbytes() && std::memcmp(t.raw_data_ptr(), bytes.data(), t.nbytes()))) {
          std::abort();
        }
      }
      (void)f.metadata();
    } catch (const qjit::Error&) {
    }
  }
  return 0;
}
