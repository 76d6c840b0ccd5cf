// The etcd topology (--rdzv-backend etcd-v3): the launcher meets the other
// nodes in an etcd cluster through EtcdStore (store/etcd/etcd_store.h), so the
// rendezvous survives the loss of any one member of a three-member cluster.
//
// Everything above the Store interface is as over tprdzvd: NodeRendezvous
// (join, ranks, MIN:MAX with last call, restarts), the liveness monitor
// (heartbeats, failure broadcast) and the exit barrier only see a Store.
//
// No IncarnationTracker: an incarnation says that tprdzvd restarted without
// its table (no --state-dir), so the keys the nodes wrote are gone. etcd has
// no such event: a member that restarts catches up from its peers' log, and a
// write the cluster acknowledged is kept by its quorum. What can remove the
// run's keys is the run's lease expiring while every launcher was cut off for
// its whole TTL, far longer than --store-outage-timeout, which ends the
// attempt first.
#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "launcher/exit_on_signal.h"
#include "launcher/host_info.h"
#include "launcher/logger.h"
#include "launcher/topology/store_topology.h"
#include "store/etcd/endpoint_list.h"
#include "store/etcd/etcd_store.h"

namespace tplaunch {
namespace {

std::string Members(const std::vector<Endpoint>& endpoints) {
  return absl::StrJoin(endpoints, ",", [](std::string* out, const Endpoint& e) {
    out->append(e.ToString());
  });
}

// The deadlines of the main store: no call, connecting included, may take
// longer than --rdzv-timeout, so with every member down the rendezvous fails
// within it.
EtcdStoreOptions MainStoreOptions(const TopologyPlan& plan) {
  EtcdStoreOptions o;
  o.endpoints = plan.etcd_endpoints;
  o.run_id = plan.run_id;
  o.rpc_timeout = std::min(o.rpc_timeout, plan.connect_timeout);
  o.attempt_timeout = std::min(o.attempt_timeout, o.rpc_timeout);
  return o;
}

}  // namespace

absl::Status PlanEtcdTopology(const LaunchConfig& config, TopologyPlan& plan) {
  plan.kind = TopologyKind::kEtcd;
  if (config.etcd_endpoints.empty()) {
    return absl::InvalidArgumentError(
        "--rdzv-backend etcd-v3 needs --rdzv-endpoint H1[:PORT],H2[:PORT],... "
        "(the etcd cluster's members)");
  }
  plan.etcd_endpoints = config.etcd_endpoints;
  plan.rdzv_endpoint = config.etcd_endpoints.front();
  plan.local_addr = config.local_addr;
  const auto refuse = [](absl::string_view what, absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " does not work with --rdzv-backend etcd-v3: ", why,
                     " (docs/etcd.md#limits)"));
  };
  if (config.torch_store == TorchStoreHost::kAgent) {
    return refuse("--torch-store agent",
                  "etcd serves no TCPStore listener for PyTorch's ranks; use "
                  "--torch-store worker (rank 0 hosts PyTorch's store)");
  }
  if (!config.token_file.empty()) {
    return refuse("--token-file",
                  "the token is tprdzvd's; etcd auth is not supported yet");
  }
  if (config.rdzv_is_host.has_value()) {
    return refuse("--rdzv-conf is_host",
                  "no node hosts the rendezvous, the etcd cluster does");
  }
  if (config.on_daemon_restart == LaunchConfig::DaemonRestart::kRideThrough) {
    return refuse("--on-daemon-restart ride-through",
                  "it is about tprdzvd restarting without its state; etcd "
                  "keeps the run's keys across member restarts");
  }
  return absl::OkStatus();
}

absl::Status StoreTopology::ConnectToEtcd(const TopologyPlan& plan,
                                          const TopologyInputs& inputs) {
  run_id_ = plan.run_id;
  etcd_endpoints_ = plan.etcd_endpoints;
  worker_rdzv_url_ = EtcdEndpointsUrl(plan.etcd_endpoints);
  const std::string members = Members(plan.etcd_endpoints);
  if (plan.local_addr.empty()) {
    // The interface towards the first member: the nodes of one job reach the
    // cluster the same way they reach each other.
    auto addr = RoutableAddressTowards(plan.etcd_endpoints.front());
    if (!addr.ok()) return addr.status();
    local_addr_ = *addr;
  } else {
    local_addr_ = plan.local_addr;
  }
  const EtcdStoreOptions main = MainStoreOptions(plan);
  LauncherLogger().info(
      "connecting to etcd at {} (run {} under /tplaunch/v1/{}/, up to {})",
      members, run_id_, run_id_, absl::FormatDuration(main.rpc_timeout));
  absl::StatusOr<std::unique_ptr<Store>> connected;
  {
    ExitOnSignalWhileBlocked exit_on_signal(inputs.signal_fd, nullptr);
    connected = ConnectEtcdStore(main);
  }
  const auto failed = [&](const absl::Status& status) {
    return absl::Status(status.code(),
                        absl::StrCat("cannot reach the etcd rendezvous at ",
                                     members, ": ", status.message()));
  };
  if (!connected.ok()) return failed(connected.status());
  store_ = *std::move(connected);
  // Heartbeats and failure reports get a deadline no longer than their
  // interval (a second store: deadlines are per store), and a member that
  // does not answer is left within it.
  EtcdStoreOptions live = main;
  live.rpc_timeout = plan.heartbeat_interval;
  live.attempt_timeout = std::min(live.attempt_timeout, live.rpc_timeout);
  connected = ConnectEtcdStore(live);
  if (!connected.ok()) return failed(connected.status());
  liveness_store_ = *std::move(connected);
  multi_node_ = true;
  worker_rdzv_endpoint_ = plan.etcd_endpoints.front();
  SetLeaveOptions(plan);
  return absl::OkStatus();
}

// Every node reports that it left; the first member of the last attempt then
// waits for the others (as a self-hosting node does, job_leave.h) and removes
// the run's keys. When that cannot happen (the attempt has no end record, the
// first member died) the run's lease removes them a TTL after the last
// launcher is gone.
void StoreTopology::LeaveEtcd() {
  Store& store = *liveness_store_;
  absl::StatusOr<std::optional<FinalAttempt>> final =
      FindFinalAttempt(store, leave_);
  if (!final.ok() || !final->has_value() || !(*final)->ended) return;
  const FinalAttempt& f = **final;
  if (absl::Status left = ReportLeft(store, leave_, f); !left.ok()) {
    LauncherLogger().debug("could not report leaving: {}", left.ToString());
  }
  if (!f.self || f.closed.members.empty()) return;
  const int first =
      std::min_element(
          f.closed.members.begin(), f.closed.members.end(),
          [](const auto& a, const auto& b) { return a.slot < b.slot; })
          ->slot;
  if (f.self->slot != first) return;
  absl::StatusOr<LingerOutcome> out = WaitForMembersToLeave(store, leave_, f);
  if (!out.ok() || !out->still_there.empty()) {
    LauncherLogger().info(
        "leaving the run's keys in etcd to its lease: {} node(s) may still "
        "use them",
        out.ok() ? out->still_there.size() : f.closed.members.size() - 1);
    return;
  }
  EtcdStoreOptions o;
  o.endpoints = etcd_endpoints_;
  o.run_id = run_id_;
  o.rpc_timeout = absl::Seconds(10);
  if (absl::Status deleted = DeleteEtcdRun(o); !deleted.ok()) {
    LauncherLogger().warn(
        "could not remove the run's keys from etcd (its lease removes them "
        "later): {}",
        deleted.ToString());
    return;
  }
  LauncherLogger().info("removed run {}'s keys from etcd at {}", run_id_,
                        Members(etcd_endpoints_));
}

}  // namespace tplaunch
