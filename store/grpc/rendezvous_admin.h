// Daemon-wide operations beyond the Store contract, for tprdzvctl and the
// launcher: deleting a job, reading the daemon's counters, and gRPC's standard
// health check.
//
// Each call opens its own connection from GrpcStoreOptions (endpoint, token,
// TLS, connect_timeout, rpc_timeout), so none of them needs a Store; they share
// GrpcStore's channel (channel.h) and status mapping (status.h).
#ifndef TPLAUNCH_STORE_GRPC_RENDEZVOUS_ADMIN_H_
#define TPLAUNCH_STORE_GRPC_RENDEZVOUS_ADMIN_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "store/grpc/grpc_store_options.h"

namespace tplaunch {

// What the daemon reports about itself right now.
struct RendezvousStats {
  int64_t jobs = 0;
  int64_t keys = 0;
  int64_t waiters = 0;  // Calls parked in Get, Wait or MultiGet.
  int64_t calls = 0;    // Rendezvous RPCs the daemon has received.
  // The job its TCPStore listener serves and the listener's port ("", 0: off).
  std::string torch_store_job;
  int torch_store_port = 0;
  // Names the daemon's state; changes when a restart lost it
  // (docs/protocol.md#incarnation).
  std::string incarnation;
};

// Deletes every key of options.job and returns how many there were; calls still
// waiting on the job end with Cancelled. Errors: InvalidArgument (empty job),
// Unavailable, Unauthenticated, DeadlineExceeded (no reply within rpc_timeout).
absl::StatusOr<int64_t> DeleteRendezvousJob(const GrpcStoreOptions& options);

// The daemon's counters (options.job is ignored). Errors as
// DeleteRendezvousJob.
absl::StatusOr<RendezvousStats> GetRendezvousStats(
    const GrpcStoreOptions& options);

// Empties the job that the daemon's TCPStore listener serves (as GetStats
// names it) with DeleteJob, and returns how many keys it held: what a fresh
// TCPStore per attempt would give PyTorch ranks (docs/launcher.md, "Agent
// store"). `listener_port`, when not 0, is the port the caller's ranks use;
// it must be the daemon's listener. options.job is ignored. Errors:
// FailedPrecondition (the daemon has no listener, or it is on another port),
// and those of DeleteRendezvousJob.
absl::StatusOr<int64_t> ClearTorchStoreJob(const GrpcStoreOptions& options,
                                           int listener_port);

// gRPC's standard health check (grpc.health.v1.Health/Check, whole server): OK
// when the daemon reports SERVING, Unavailable when it does not or cannot be
// reached.
absl::Status CheckRendezvousHealth(const GrpcStoreOptions& options);

}  // namespace tplaunch

#endif  // TPLAUNCH_STORE_GRPC_RENDEZVOUS_ADMIN_H_
