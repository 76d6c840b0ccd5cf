// GrpcStore: a Store backed by a tprdzvd daemon over gRPC.
#ifndef TPLAUNCH_STORE_GRPC_GRPC_STORE_H_
#define TPLAUNCH_STORE_GRPC_GRPC_STORE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "store/store.h"

namespace tplaunch {

class IncarnationTracker;  // store/grpc/incarnation.h

struct GrpcStoreOptions {
  // "host:port", "[v6addr]:port" or "host" (port 29400).
  std::string endpoint;
  // Job namespace (the run id) every key lives in. Required.
  std::string job;
  // Sent as `authorization: Bearer <token>` when non-empty.
  std::string token;
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
  // Wait, MultiGet) use their own timeout instead, clamped to 30 days.
  absl::Duration rpc_timeout = absl::Seconds(30);
  // Told the daemon's incarnation from every reply, so the caller learns of a
  // daemon restart (store/grpc/incarnation.h). One tracker may serve every
  // store of a daemon. nullptr: not tracked.
  std::shared_ptr<IncarnationTracker> incarnation;
};

// Connects to the daemon, retrying with backoff until connect_timeout. Errors:
// InvalidArgument (bad endpoint, empty job, half a client certificate),
// Unavailable (not reachable in time; the message names the endpoint, how long
// was tried and the last connection error). The token is checked by the first
// call, not here.
//
// The store reuses one channel for every call and is safe to use from many
// threads. Errors from its methods name the operation, key(s), job, endpoint
// and, for blocking calls, the time waited; once connected, a lost daemon
// surfaces as Unavailable on the next call (no call waits for a reconnect).
absl::StatusOr<std::unique_ptr<Store>> ConnectGrpcStore(
    const GrpcStoreOptions& options);

// Checks an endpoint as ConnectGrpcStore reads it and returns the normalized
// "host:port" ("[v6]:port"), so CLIs can reject a bad one before connecting.
// InvalidArgument names the endpoint and what is wrong with it.
absl::StatusOr<std::string> ParseRendezvousEndpoint(absl::string_view endpoint);

}  // namespace tplaunch

#endif  // TPLAUNCH_STORE_GRPC_GRPC_STORE_H_
