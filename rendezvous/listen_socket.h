// Listening sockets of tprdzvd's two ports (gRPC and TCPStore), bound and
// accepted from by our own code so that running out of descriptors is
// survivable: accept() failing with EMFILE/ENFILE pauses accepting for a short
// backoff (new clients wait in the kernel's backlog) instead of either
// spinning on a listen socket that stays readable or, as gRPC 1.51's own
// accept loop does, dropping the port for good.
#ifndef TPLAUNCH_RENDEZVOUS_LISTEN_SOCKET_H_
#define TPLAUNCH_RENDEZVOUS_LISTEN_SOCKET_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tplaunch {

// How long accepting pauses after EMFILE/ENFILE before it tries again.
inline constexpr absl::Duration kAcceptBackoff = absl::Milliseconds(100);

struct ListenSocket {
  int fd = -1;   // Non-blocking, close-on-exec; the caller closes it.
  int port = 0;  // The bound port (the real one when 0 was asked for).
};

// Binds the first address `host` resolves to and listens with the largest
// backlog the kernel allows. SO_REUSEADDR only (never SO_REUSEPORT: a second
// daemon must fail with "address in use", not share the port). Errors:
// Unavailable (cannot resolve, bind or listen; the message names the address
// and the reason).
absl::StatusOr<ListenSocket> BindListenSocket(const std::string& host,
                                              int port);

// "host:port" of a connected socket's peer ("[v6]:port"), "?" when unknown.
std::string PeerName(int fd);

// "host:port" as clients dial it: IPv6 literals get brackets.
std::string JoinListenHostPort(const std::string& host, int port);

// True when accept() failed because the process or system is out of
// descriptors: the caller backs off for kAcceptBackoff.
bool IsOutOfDescriptors(int accept_errno);

}  // namespace tplaunch

#endif  // TPLAUNCH_RENDEZVOUS_LISTEN_SOCKET_H_
