#include "store/proxy/socket_dir.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace tplaunch {

absl::StatusOr<bool> PrepareSocketDir(const std::string& dir) {
  if (dir.empty()) {
    return absl::InvalidArgumentError(
        "the store proxy needs a socket directory; none was given");
  }
  bool created = false;
  if (mkdir(dir.c_str(), 0700) == 0) {
    created = true;
    // mkdir's mode is cut by the umask; 0700 is what is checked below.
    if (chmod(dir.c_str(), 0700) != 0) {
      const int err = errno;
      rmdir(dir.c_str());
      return absl::FailedPreconditionError(
          absl::StrCat("cannot set mode 0700 on socket directory ", dir, ": ",
                       strerror(err)));
    }
  } else if (errno != EEXIST) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot create socket directory ", dir, ": ", strerror(errno)));
  }
  struct stat st;
  if (lstat(dir.c_str(), &st) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot stat socket directory ", dir, ": ", strerror(errno)));
  }
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "socket directory ", dir, " exists and is not a directory"));
  }
  if (st.st_uid != geteuid()) {
    return absl::FailedPreconditionError(
        absl::StrCat("socket directory ", dir, " is owned by uid ", st.st_uid,
                     ", not by this user (uid ", geteuid(), ")"));
  }
  if ((st.st_mode & 07777) != 0700) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "socket directory %s has mode %04o; it must be 0700 so no other user "
        "can reach the store proxy",
        dir, st.st_mode & 07777));
  }
  return created;
}

absl::StatusOr<std::string> SocketPathIn(absl::string_view dir,
                                         absl::string_view name) {
  std::string path = absl::StrCat(dir, "/", name);
  constexpr size_t kMax = sizeof(sockaddr_un::sun_path) - 1;
  if (path.size() > kMax) {
    return absl::InvalidArgumentError(
        absl::StrCat("store proxy socket path ", path, " is ", path.size(),
                     " bytes; a Unix socket path may have at most ", kMax,
                     " (use a shorter directory, e.g. under /tmp)"));
  }
  return path;
}

}  // namespace tplaunch
