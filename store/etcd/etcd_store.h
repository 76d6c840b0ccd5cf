// EtcdStore: a Store kept in an etcd v3 cluster through etcd's gRPC API, so a
// run's rendezvous survives the loss of any one member of a three-member
// cluster (docs/etcd.md).
//
// Every key of a run lives under /tplaunch/v1/<run_id>/ (store/etcd/
// key_layout.h), attached to the run's lease (store/etcd/run_lease.h).
//   Get, Wait, MultiGet  read the keys; for those missing, watch from the
//                        revision after that read until they are put (no
//                        polling), then read again.
//   Add, Append,         a Txn comparing the key's mod_revision, retried on
//   CompareSet           conflict, applied exactly once across failovers
//                        (store/etcd/txn.h).
//   MultiGet, Check      one consistent read (a Txn of Ranges, at one revision
//                        when chunked by etcd's --max-txn-ops).
//   NumKeys, ListKeys    count-only / keys-only Ranges on the run's prefix.
//   MultiSet             one Txn of Puts (at most --max-txn-ops entries).
#ifndef TPLAUNCH_STORE_ETCD_ETCD_STORE_H_
#define TPLAUNCH_STORE_ETCD_ETCD_STORE_H_

#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "store/etcd/etcd_store_options.h"
#include "store/store.h"

namespace tplaunch {

// Connects (finds or grants the run's lease, within rpc_timeout). Errors:
// InvalidArgument (no endpoint; empty run id or one with '/'); Unavailable (no
// member answered in time: names etcd, the endpoints tried and the time).
//
// The store is safe to use from many threads. Every call has a deadline
// (rpc_timeout, or its own timeout for blocking calls) within which it moves
// from a member that is down or has lost its leader to the next; errors name
// etcd, the call, the key(s), the run, the endpoints tried and the time
// waited. A write larger than etcd's request-size limit is InvalidArgument
// naming the limit. Destroying the store keeps the run's keys (other nodes use
// them); DeleteEtcdRun removes them.
absl::StatusOr<std::unique_ptr<Store>> ConnectEtcdStore(
    const EtcdStoreOptions& options);

// Deletes every key of the run and revokes its lease, at the end of the run.
// OK when the run had no keys. Errors: those of ConnectEtcdStore.
absl::Status DeleteEtcdRun(const EtcdStoreOptions& options);

}  // namespace tplaunch

#endif  // TPLAUNCH_STORE_ETCD_ETCD_STORE_H_
