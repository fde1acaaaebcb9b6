#include "common/error.hpp"

#include <filesystem>

namespace qjit {

namespace {
std::string short_path(const char* file) {
  // Paths relative to the source tree read better than absolute build paths.
  std::string f = file;
  for (const char* root : {"/common/", "/cache/", "/jit/", "/runtime/", "/quant_ops/", "/tools/"}) {
    if (auto pos = f.rfind(root); pos != std::string::npos) return f.substr(pos + 1);
  }
  return std::filesystem::path(f).filename().string();
}
}  // namespace

Error::Error(std::string subsystem, const char* file, int line, const std::string& message)
    : std::runtime_error(fmt::format("[{}] {} ({}:{})", subsystem, message, short_path(file), line)),
      subsystem_(std::move(subsystem)),
      file_(short_path(file)),
      line_(line),
      message_(message) {}

}  // namespace qjit
