// Daemon-wide operations beyond the Store contract, for tprdzvctl and the
// launcher: deleting a job, reading the daemon's counters, and gRPC's standard
// health check.
//
// Each call opens its own connection from GrpcStoreOptions (endpoint, token,
// TLS, connect_timeout, rpc_timeout), so none of them needs a Store. They are
// implemented in grpc_store.cc, sharing its connection and status mapping.
#ifndef TPLAUNCH_STORE_GRPC_RENDEZVOUS_ADMIN_H_
#define TPLAUNCH_STORE_GRPC_RENDEZVOUS_ADMIN_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "store/grpc/grpc_store.h"

namespace tplaunch {

// What the daemon reports about itself right now.
struct RendezvousStats {
  int64_t jobs = 0;
  int64_t keys = 0;
  int64_t waiters = 0;  // Calls parked in Get, Wait or MultiGet.
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

// gRPC's standard health check (grpc.health.v1.Health/Check, whole server): OK
// when the daemon reports SERVING, Unavailable when it does not or cannot be
// reached.
absl::Status CheckRendezvousHealth(const GrpcStoreOptions& options);

}  // namespace tplaunch

#endif  // TPLAUNCH_STORE_GRPC_RENDEZVOUS_ADMIN_H_
