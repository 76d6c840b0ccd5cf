// GrpcAcceptor: accepts the gRPC port's connections with our own loop and
// hands each to the gRPC server (ServerBuilder's external connection
// acceptor, which keeps TLS and every channel argument).
//
// Why not gRPC's own listener: gRPC 1.51's POSIX accept loop treats any
// accept() error other than EAGAIN/ECONNABORTED as fatal for the port, so a
// single EMFILE left tprdzvd's port dead for good while old connections kept
// answering health checks. This loop backs off on EMFILE/ENFILE and tries
// again, and it caps the connections it hands out (gRPC 1.51 has no such
// argument), refusing the excess with one rate-limited log line.
#ifndef TPLAUNCH_RENDEZVOUS_GRPC_ACCEPTOR_H_
#define TPLAUNCH_RENDEZVOUS_GRPC_ACCEPTOR_H_

#include <grpcpp/server_builder.h>

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "rendezvous/listen_socket.h"

namespace tplaunch {

struct GrpcAcceptorStats {
  int64_t connections = 0;  // Handed to gRPC and still open.
  int64_t accepted = 0;     // Since start, refused ones included.
  int64_t refused = 0;      // Closed at once: max_connections were open.
};

class GrpcAcceptor {
 public:
  virtual ~GrpcAcceptor() = default;
  virtual GrpcAcceptorStats stats() = 0;
  // Stops accepting and closes the listening socket; connections already
  // handed over stay gRPC's. Idempotent; run by the destructor.
  virtual void Stop() = 0;
};

// Starts accepting on `socket` (owned from now on) for `acceptor`, which must
// outlive the GrpcAcceptor. At most `max_connections` handed-over connections
// are open at once. Errors: InvalidArgument (max_connections < 1), Internal
// (no eventfd or thread).
absl::StatusOr<std::unique_ptr<GrpcAcceptor>> StartGrpcAcceptor(
    ListenSocket socket,
    grpc::experimental::ExternalConnectionAcceptor* acceptor,
    int64_t max_connections);

}  // namespace tplaunch

#endif  // TPLAUNCH_RENDEZVOUS_GRPC_ACCEPTOR_H_
