// A real Slurm cluster for end-to-end tests: Debian's slurmctld and one slurmd
// per node, each node in its own network + UTS + mount namespace with its own
// hostname (node0, node1, ...), veth address and /etc/hosts, all state in a
// temporary directory, started and stopped by the fixture. Two nodes,
// joined by one veth pair. Needs root and
// `ip netns`; auth/none and cred/none, so munged is not needed.
#ifndef TPLAUNCH_TESTS_LAUNCHER_SCHEDULER_SLURM_CLUSTER_H_
#define TPLAUNCH_TESTS_LAUNCHER_SCHEDULER_SLURM_CLUSTER_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/testing/processes.h"

namespace tplaunch {
namespace testing {

struct SlurmClusterOptions {
  // How long slurmctld and the slurmds may take until every node is idle.
  absl::Duration start_timeout = absl::Seconds(40);
};

// Where Debian installs slurmctld; absent when slurm-wlm is not installed (the
// only reason a test may skip).
inline constexpr char kSlurmctld[] = "/usr/sbin/slurmctld";
bool SlurmInstalled();

class SlurmCluster {
 public:
  // Starts the daemons (picking other ports and retrying when slurmctld
  // cannot bind) and waits until `sinfo` reports every node idle. The error
  // says which step failed, with the daemons' logs.
  static absl::StatusOr<std::unique_ptr<SlurmCluster>> Start(
      SlurmClusterOptions options = {});
  // Kills every process in the nodes' namespaces (daemons, slurmstepd, srun,
  // the jobs' tasks), then removes the namespaces.
  ~SlurmCluster();

  SlurmCluster(const SlurmCluster&) = delete;
  SlurmCluster& operator=(const SlurmCluster&) = delete;

  int nodes() const { return static_cast<int>(names_.size()); }
  const std::string& name(int node) const { return names_[node]; }
  const std::string& address(int node) const { return addresses_[node]; }
  // The cluster's temporary directory (slurm.conf, logs, spool).
  const std::string& dir() const { return dir_; }

  // `argv` run on `node` as a process of that node (its network, hostname and
  // /etc/hosts): srun, sbatch, scontrol, ... Start it with env().
  std::vector<std::string> OnNode(int node,
                                  const std::vector<std::string>& argv) const;
  // SLURM_CONF for the clients.
  std::map<std::string, std::string> env() const;
  // `argv` on node 0 to completion (up to `timeout`): stdout, or an error
  // with its exit status and stderr.
  absl::StatusOr<std::string> Run(const std::vector<std::string>& argv,
                                  absl::Duration timeout = absl::Seconds(20));
  // The daemons' log files, for a failing test's INFO.
  std::string Logs() const;

 private:
  SlurmCluster() = default;
  absl::Status CreateNamespaces();
  absl::Status WriteConfig(int ctld_port, int slurmd_port);
  absl::Status StartDaemons(absl::Duration timeout);
  void StopDaemons();

  std::string dir_;
  std::string conf_;
  std::vector<std::string> netns_;
  std::vector<std::string> names_;
  std::vector<std::string> addresses_;
  std::vector<std::unique_ptr<Subprocess>> daemons_;
};

}  // namespace testing
}  // namespace tplaunch

#endif  // TPLAUNCH_TESTS_LAUNCHER_SCHEDULER_SLURM_CLUSTER_H_
