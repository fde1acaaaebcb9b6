#pragma once
// One exception type for the whole library, carrying subsystem, file and line.
// Check macros are built from one generic macro. The library never calls exit().

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace qjit {

class Error : public std::runtime_error {
 public:
  Error(std::string subsystem, const char* file, int line, const std::string& message);

  const std::string& subsystem() const { return subsystem_; }
  const std::string& file() const { return file_; }
  int line() const { return line_; }
  // The message alone, without the "[subsystem] file:line" prefix of what().
  const std::string& message() const { return message_; }

 private:
  std::string subsystem_;
  std::string file_;
  int line_;
  std::string message_;
};

}  // namespace qjit

#define QJIT_THROW(subsystem, ...) \
  throw ::qjit::Error((subsystem), __FILE__, __LINE__, ::fmt::format(__VA_ARGS__))

#define QJIT_CHECK_GEN(subsystem, cond, ...) \
  do {                                       \
    if (!(cond)) [[unlikely]] {              \
      QJIT_THROW((subsystem), __VA_ARGS__);  \
    }                                        \
  } while (0)

#define QJIT_CHECK(cond, ...) QJIT_CHECK_GEN("qjit", cond, __VA_ARGS__)
