// GrpcStoreOptions: how to reach a tprdzvd daemon (endpoint, job, token, TLS,
// timeouts), shared by GrpcStore and the admin calls. No gRPC here.
#ifndef TPLAUNCH_STORE_GRPC_GRPC_STORE_OPTIONS_H_
#define TPLAUNCH_STORE_GRPC_GRPC_STORE_OPTIONS_H_

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "store/endpoint.h"

namespace tplaunch {

class IncarnationTracker;  // store/grpc/incarnation.h

struct GrpcStoreOptions {
  // The daemon, parsed once by whoever read it from a user
  // (ParseEndpoint(text, kDefaultRendezvousPort)). Required.
  Endpoint endpoint;
  // Job namespace (the run id) every key lives in. Required for a store.
  std::string job;
  // Sent as `authorization: Bearer <token>` when non-empty.
  std::string token;
  // Who calls ("rank 3", "node 1"), sent as `x-tplaunch-caller` so that the
  // daemon's live view says who waits on a parked key; "" sends none. At
  // most 64 printable ASCII characters (the daemon ignores others).
  std::string caller_label;
  // PEM root certificates; non-empty switches the channel to TLS.
  std::string tls_root_certs_pem;
  // PEM client certificate chain and key, for daemons that require client
  // certs.
  std::string tls_client_cert_pem;
  std::string tls_client_key_pem;
  // Name checked against the daemon's certificate instead of the endpoint's
  // host, for daemons dialled by IP whose certificate names a host. Empty: the
  // endpoint's host.
  std::string tls_server_name;
  // How long Connect retries (with backoff) before giving up with Unavailable.
  absl::Duration connect_timeout = absl::Seconds(60);
  // Deadline for calls that never block (Set, Add, ...). Blocking calls (Get,
  // Wait, MultiGet) wait their own timeout (clamped to 30 days), and their
  // gRPC deadline allows the daemon this much more to answer it.
  absl::Duration rpc_timeout = absl::Seconds(30);
  // A call made while the daemon is unreachable waits, within its deadline,
  // for the channel to reconnect (gRPC's wait_for_ready) instead of failing at
  // once: a daemon that restarts or blips for a second is ridden through.
  // Such a call that runs out of time without ever reaching the daemon is
  // Unavailable, not DeadlineExceeded. false: fail at once (tools that probe).
  bool wait_for_reconnect = true;
  // Told the daemon's incarnation from every reply, so the caller learns of a
  // daemon restart (store/grpc/incarnation.h). One tracker may serve every
  // store of a daemon. nullptr: not tracked.
  std::shared_ptr<IncarnationTracker> incarnation;
};

}  // namespace tplaunch

#endif  // TPLAUNCH_STORE_GRPC_GRPC_STORE_OPTIONS_H_
