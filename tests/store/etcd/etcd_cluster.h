// EtcdCluster: a real etcd cluster (Debian's /usr/bin/etcd, etcd-server) for
// tests: N members on free loopback ports, data in a scratch directory under
// TEST_TMPDIR, started by the constructor (which waits, polling with a
// deadline, until the cluster has a leader and answers a linearizable read)
// and SIGKILLed at scope exit.
#ifndef TPLAUNCH_TESTS_STORE_ETCD_ETCD_CLUSTER_H_
#define TPLAUNCH_TESTS_STORE_ETCD_ETCD_CLUSTER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "store/endpoint.h"
#include "tests/testing/processes.h"

namespace tplaunch {
namespace testing {

class EtcdCluster {
 public:
  // Fails the test (REQUIRE, so only from the test's main thread) when the
  // cluster does not come up within `startup_timeout`.
  explicit EtcdCluster(int members,
                       absl::Duration startup_timeout = absl::Seconds(60));
  ~EtcdCluster();

  EtcdCluster(const EtcdCluster&) = delete;
  EtcdCluster& operator=(const EtcdCluster&) = delete;

  int size() const { return static_cast<int>(client_ports_.size()); }
  // Every member's client endpoint, in member order.
  std::vector<Endpoint> endpoints() const;
  // "127.0.0.1:p1,127.0.0.1:p2,..." as --rdzv-endpoint takes it.
  std::string EndpointFlag() const;

  // The member that is leader now, by asking each live member but
  // `ignored` (one that is stopped, say); -1 when they do not agree on a live
  // leader within `timeout`.
  int Leader(absl::Duration timeout = absl::Seconds(30),
             int ignored = -1) const;
  // Whether every live member but `ignored` answers and agrees on a leader
  // among them.
  bool Healthy(int ignored = -1) const;

  // Sends signo to member i (SIGKILL: it stays dead).
  void Signal(int i, int signo);
  bool IsAlive(int i) const;
  // Member i's stderr so far (etcd logs there), for failure messages.
  std::string Log(int i) const;

 private:
  // One attempt with freshly picked ports; false when a member exited early
  // (a port taken since it was picked) or no leader appeared in time.
  bool Start(int members, absl::Duration timeout);

  std::string dir_;
  std::vector<int> client_ports_;
  std::vector<int> peer_ports_;
  std::vector<std::unique_ptr<Subprocess>> members_;
};

}  // namespace testing
}  // namespace tplaunch

#endif  // TPLAUNCH_TESTS_STORE_ETCD_ETCD_CLUSTER_H_
