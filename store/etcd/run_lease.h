// RunLease: the one etcd lease of a run, shared by every EtcdStore of the run,
// to which every key of the run is attached. It is the backstop that removes
// an abandoned run: each store keeps the lease alive while it exists, and when
// no store is left (every launcher died before DeleteEtcdRun) etcd deletes the
// run's keys a TTL later.
//
// The lease id lives at the run's lease key (store/etcd/key_layout.h), itself
// on the lease, so the key exists exactly while the lease does. The first
// store of a run grants a lease and creates the key in one Txn; a store that
// loses that race revokes its own lease and uses the winner's.
#ifndef TPLAUNCH_STORE_ETCD_RUN_LEASE_H_
#define TPLAUNCH_STORE_ETCD_RUN_LEASE_H_

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>

#include "absl/status/statusor.h"
#include "store/etcd/etcd_client.h"
#include "store/etcd/key_layout.h"

namespace tplaunch {

class RunLease {
 public:
  // Finds or grants the run's lease and starts keeping it alive (every TTL/3,
  // on a thread of its own). Errors: those of EtcdClient::Call.
  static absl::StatusOr<std::unique_ptr<RunLease>> Acquire(
      EtcdClient* client, const EtcdKeyLayout* layout);
  // Stops the keep-alive; the lease lives on for the run's other stores.
  ~RunLease();

  RunLease(const RunLease&) = delete;
  RunLease& operator=(const RunLease&) = delete;

  int64_t id() const;
  // After a write found the lease `stale` gone (it expired while every store
  // was cut off from etcd): finds or grants the run's lease again.
  absl::Status Renew(int64_t stale);

 private:
  RunLease(EtcdClient* client, const EtcdKeyLayout* layout)
      : client_(client), layout_(layout) {}

  // Finds or grants; does not touch id_.
  absl::StatusOr<int64_t> FindOrGrant();
  // One keep-alive round trip: the TTL etcd granted (0: the lease is gone).
  absl::StatusOr<int64_t> KeepAliveOnce(int64_t id);
  void KeepAliveLoop();

  EtcdClient* const client_;
  const EtcdKeyLayout* const layout_;
  mutable std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stop_ = false;
  int64_t id_ = 0;
  std::thread keep_alive_;
};

}  // namespace tplaunch

#endif  // TPLAUNCH_STORE_ETCD_RUN_LEASE_H_
