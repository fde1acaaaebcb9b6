#include "common/log.hpp"

#include <cstdio>
#include <mutex>

#include "common/knobs.hpp"

namespace qjit {

namespace {
LogLevel current_level() {
  const std::string v = knobs::log_level();
  if (v == "error") return LogLevel::kError;
  if (v == "info") return LogLevel::kInfo;
  if (v == "debug") return LogLevel::kDebug;
  return LogLevel::kWarn;
}
const char* level_name(LogLevel l) {
  switch (l) {
    case LogLevel::kError: return "error";
    case LogLevel::kWarn: return "warning";
    case LogLevel::kInfo: return "info";
    case LogLevel::kDebug: return "debug";
  }
  return "?";
}
}  // namespace

bool log_enabled(LogLevel level) { return static_cast<int>(level) <= static_cast<int>(current_level()); }

void log_message(LogLevel level, const std::string& message) {
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  std::fprintf(stderr, "qjit %s: %s\n", level_name(level), message.c_str());
}

}  // namespace qjit
