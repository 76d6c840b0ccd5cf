// ReadFileCapped: the one way our programs read a small file a user named on
// the command line (a token, a PEM certificate or key). Bounded, so a wrong
// path (a log, a device) is an error instead of a memory blow-up, and every
// error names the flag and the path.
#ifndef TPLAUNCH_COMMON_READ_FILE_H_
#define TPLAUNCH_COMMON_READ_FILE_H_

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace tplaunch {

// PEM bundles (a CA chain) stay far below this.
inline constexpr size_t kMaxCredentialFileBytes = 1 << 20;

// Returns the bytes of `path`. InvalidArgument "FLAG PATH: cannot read: <why>"
// or "FLAG PATH is over N bytes".
inline absl::StatusOr<std::string> ReadFileCapped(const std::string& path,
                                                  const char* flag,
                                                  size_t max_bytes) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, " ", path, ": cannot read: ", std::strerror(errno)));
  }
  std::string contents(max_bytes + 1, '\0');
  size_t filled = 0;
  while (filled < contents.size()) {
    const ssize_t n =
        read(fd, contents.data() + filled, contents.size() - filled);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      close(fd);
      return absl::InvalidArgumentError(absl::StrCat(
          flag, " ", path, ": cannot read: ", std::strerror(error)));
    }
    if (n == 0) break;
    filled += static_cast<size_t>(n);
  }
  close(fd);
  if (filled > max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, " ", path, " is over ", max_bytes, " bytes"));
  }
  contents.resize(filled);
  return contents;
}

}  // namespace tplaunch

#endif  // TPLAUNCH_COMMON_READ_FILE_H_
