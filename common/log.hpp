#pragma once
// Leveled logging to stderr, filtered by QJIT_LOG.

#include <fmt/format.h>

#include <string>

namespace qjit {

enum class LogLevel { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };

bool log_enabled(LogLevel level);
void log_message(LogLevel level, const std::string& message);

template <typename... Args>
void log(LogLevel level, fmt::format_string<Args...> f, Args&&... args) {
  if (log_enabled(level)) log_message(level, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace qjit
