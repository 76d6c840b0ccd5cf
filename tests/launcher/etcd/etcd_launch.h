// Helpers of the launcher's etcd end-to-end tests: a tplaunch node of a job
// whose rendezvous is an etcd cluster (tests/store/etcd/etcd_cluster.h), and
// what etcd holds of a run, read with Debian's etcdctl (etcd-client).
#ifndef TPLAUNCH_TESTS_LAUNCHER_ETCD_ETCD_LAUNCH_H_
#define TPLAUNCH_TESTS_LAUNCHER_ETCD_ETCD_LAUNCH_H_

#include <string>
#include <vector>

#include "tests/store/etcd/etcd_cluster.h"

namespace tplaunch {
namespace testing {

// tplaunch --nnodes 2 --nproc `nproc` --rdzv-backend etcd-v3 --rdzv-endpoint
// <every member> --rdzv-id `run`, then `extra`, then `program`.
std::vector<std::string> EtcdNode(const EtcdCluster& etcd,
                                  const std::string& run, int nproc,
                                  const std::vector<std::string>& extra,
                                  const std::vector<std::string>& program);

// The etcd keys under /tplaunch/v1/<run>/, as `etcdctl get --prefix
// --keys-only` lists them through member `member` (with `values`, each key's
// value on the line after it); "?" and the error output when etcdctl fails.
std::string RunKeys(const EtcdCluster& etcd, const std::string& run,
                    int member = 0, bool values = false);

// The cluster's leases, as `etcdctl lease list` prints them through member 0;
// "?" and the error output when etcdctl fails.
std::string Leases(const EtcdCluster& etcd);

}  // namespace testing
}  // namespace tplaunch

#endif  // TPLAUNCH_TESTS_LAUNCHER_ETCD_ETCD_LAUNCH_H_
