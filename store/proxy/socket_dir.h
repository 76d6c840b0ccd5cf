// The private directory the proxy's Unix socket lives in. Its mode (0700,
// owned by this user) is what keeps other users of the node off the socket:
// a socket file's own mode is not honoured by every system.
#ifndef TPLAUNCH_STORE_PROXY_SOCKET_DIR_H_
#define TPLAUNCH_STORE_PROXY_SOCKET_DIR_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tplaunch {

// Creates `dir` with mode 0700 (the parent must exist), or accepts an
// existing directory that is not a symlink, is owned by this user and has
// mode 0700. Returns whether it was created here. FailedPrecondition names
// the directory and what is wrong with it.
absl::StatusOr<bool> PrepareSocketDir(const std::string& dir);

// The socket path inside dir; InvalidArgument when it does not fit a
// sockaddr_un (107 bytes).
absl::StatusOr<std::string> SocketPathIn(absl::string_view dir,
                                         absl::string_view name);

}  // namespace tplaunch

#endif  // TPLAUNCH_STORE_PROXY_SOCKET_DIR_H_
