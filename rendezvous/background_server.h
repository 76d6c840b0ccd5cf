// The embedded rendezvous server, started off the launcher's critical path.
//
// A standalone tplaunch's workers need the server's address before they
// start, not its threads: StartRendezvousServerInBackground binds the gRPC
// port at once (a client that connects early waits in the kernel's listen
// backlog) and builds the gRPC server, its acceptor and its timer on a thread
// of its own while the launcher goes on to start the workers. That took
// ~10-20 ms of a /bin/true launch's critical path (docs/benchmarks.md
// section 1).
#ifndef TPLAUNCH_RENDEZVOUS_BACKGROUND_SERVER_H_
#define TPLAUNCH_RENDEZVOUS_BACKGROUND_SERVER_H_

#include <memory>

#include "absl/status/statusor.h"
#include "rendezvous/server.h"

namespace tplaunch {

// As StartRendezvousServer, but returns once the gRPC port is bound: port()
// and address() answer at once; every other method waits until the start has
// finished. A start that fails later is logged (the "rendezvous" logger) and
// leaves a server whose other methods return empty values; the failed start
// has closed the port, so clients fail at once, naming it. Options that publish
// further ports (torch_store_port, http_port >= 0) or recover a state_dir start
// in the foreground, as StartRendezvousServer. Errors: Unavailable (the port
// cannot be bound), InvalidArgument (bad options, checked before returning),
// and StartRendezvousServer's in the foreground case.
absl::StatusOr<std::unique_ptr<RendezvousServer>>
StartRendezvousServerInBackground(const ServerOptions& options);

}  // namespace tplaunch

#endif  // TPLAUNCH_RENDEZVOUS_BACKGROUND_SERVER_H_
