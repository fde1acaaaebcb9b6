#include "common/text_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/error.hpp"
#include "common/memory.hpp"

namespace qjit {

std::string read_text_file(const std::string& path, std::uint64_t max_bytes, const char* sub, const std::string& what) {
  // NOTE: the type is checked before opening: opening a device can itself act (as root, a
  // watchdog). O_NONBLOCK covers a FIFO swapped in after the check, and the descriptor is
  // checked again below.
  struct stat before {};
  if (::stat(path.c_str(), &before) == 0) {
    QJIT_CHECK_GEN(sub, S_ISREG(before.st_mode), "{}: not a regular file", what);
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    QJIT_THROW(sub, "{}: {}", what, err == ENOENT ? std::string("no such file") : std::strerror(err));
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  QJIT_CHECK_GEN(sub, ::fstat(fd, &st) == 0, "{}: cannot stat it: {}", what, std::strerror(errno));
  QJIT_CHECK_GEN(sub, S_ISREG(st.st_mode), "{}: not a regular file", what);
  QJIT_CHECK_GEN(sub, static_cast<std::uint64_t>(st.st_size) <= max_bytes, "{}: {} is larger than the {} allowed",
                 what, format_bytes(static_cast<std::uint64_t>(st.st_size)), format_bytes(max_bytes));
  std::string out(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t got = 0;
  while (got < out.size()) {
    const ssize_t n = ::read(fd, out.data() + got, out.size() - got);
    if (n < 0 && errno == EINTR) continue;
    QJIT_CHECK_GEN(sub, n >= 0, "{}: cannot read it: {}", what, std::strerror(errno));
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  out.resize(got);
  return out;
}

}  // namespace qjit
