// EtcdStoreOptions: which etcd cluster, which run, and the deadlines and limits
// of an EtcdStore (store/etcd/etcd_store.h). No gRPC here.
#ifndef TPLAUNCH_STORE_ETCD_ETCD_STORE_OPTIONS_H_
#define TPLAUNCH_STORE_ETCD_ETCD_STORE_OPTIONS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "store/endpoint.h"

namespace tplaunch {

// etcd's own client port, for `--rdzv-endpoint host` with the etcd backend.
inline constexpr int kDefaultEtcdPort = 2379;

struct EtcdStoreOptions {
  // The cluster's members (their client URLs' host:port). Calls start on the
  // first and move on to the next when one is unreachable. Required.
  std::vector<Endpoint> endpoints;
  // The run every key belongs to: keys live under /tplaunch/v1/<run_id>/
  // (store/etcd/key_layout.h). Required; no '/'.
  std::string run_id;
  // Deadline of every call that never blocks (Set, Add, ...), failover and
  // retries included. Blocking calls (Get, Wait, MultiGet) wait their own
  // timeout.
  absl::Duration rpc_timeout = absl::Seconds(30);
  // One try on one member. A member that is stopped (SIGSTOP, a partition)
  // keeps its TCP connection open and never answers: after this long the call
  // moves on to the next member instead of spending its whole deadline there.
  absl::Duration attempt_timeout = absl::Seconds(3);
  // Pause after every member failed once, doubling up to 500 ms, so a cluster
  // in the middle of an election is not hammered.
  absl::Duration initial_backoff = absl::Milliseconds(50);
  // TTL of the run's lease, to which every key of the run is attached. Every
  // EtcdStore of the run keeps it alive; when none is left (every launcher
  // died without DeleteEtcdRun) etcd deletes the run's keys this long after.
  absl::Duration lease_ttl = absl::Minutes(5);
  // etcd's --max-request-bytes (its default, 1.5 MiB). A write larger than
  // this fails with InvalidArgument naming the limit before it is sent.
  int64_t max_request_bytes = 1536 * 1024;
  // etcd's --max-txn-ops (its default). MultiSet of more entries fails with
  // InvalidArgument; MultiGet and Check read in chunks at one revision.
  int max_txn_ops = 128;
  // A store that only reads (`tplaunch status`): it finds no lease and grants
  // none, so looking at a run neither extends its life nor leaves a lease of
  // its own behind. Every write fails with FailedPrecondition naming the call.
  bool read_only = false;
};

}  // namespace tplaunch

#endif  // TPLAUNCH_STORE_ETCD_ETCD_STORE_OPTIONS_H_
