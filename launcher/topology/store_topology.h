// store_topology: which store this launcher meets the other nodes in, and what
// it tells its workers about it, decided from the LaunchConfig.
//
//   standalone  an embedded RendezvousServer on 127.0.0.1 (port 0, a random
//               128-bit token); this node is alone and meets itself in a
//               MemoryStore; the workers get the server as
//               TPLAUNCH_RDZV_ENDPOINT.
//   multi-node  a GrpcStore client of tprdzvd at --rdzv-endpoint (job = run
//               id, token from --token-file); the workers get the same
//               token and, as their endpoint, this node's store proxy
//               (local_proxy.h) over that client. One IncarnationTracker,
//               shared by its stores, learns the daemon's incarnation from
//               every reply.
//   self-hosted multi-node where no tprdzvd serves --rdzv-endpoint HOST:PORT
//               and HOST is this node's (launcher/topology/hosting.h): this
//               tplaunch binds HOST:PORT and serves it (the token from
//               --token-file, or none, with a warning), then meets the others
//               there as a client like they do; it publishes HostedServerKey,
//               and Leave keeps it serving until the others left
//               (job_leave.h).
//   etcd        --rdzv-backend etcd-v3: EtcdStore clients of the etcd cluster
//               at --rdzv-endpoint's members (run id = the etcd run under
//               /tplaunch/v1/<run_id>/); the workers get
//               TPLAUNCH_RDZV_ENDPOINT=etcd-v3://H1:P1,H2:P2 and no token.
//               Leave: the first member of the last attempt removes the
//               run's keys once the others left (store_topology_etcd.cc).
//
// With --torch-store agent the workers' MASTER_ADDR/MASTER_PORT name a TCPStore
// listener instead of a rank: the embedded server's (standalone), tprdzvd's
// --torch-store-endpoint, or the self-hosted server's (its port published
// under HostedServerKey), emptied before every attempt.
//
// The decision (PlanStoreTopology) is pure; StoreTopology::SetUp carries it
// out. ApplyTo hands the tracker to the agent unless --on-daemon-restart
// ride-through: a new incarnation (a daemon restarted without --state-dir) then
// ends the attempt (docs/reliability.md#daemon-restarts-and---state-dir).
// This package holds the one launcher target that may link the daemon
// (//rendezvous:server): rendezvous/BUILD's visibility says so.
#ifndef TPLAUNCH_LAUNCHER_TOPOLOGY_STORE_TOPOLOGY_H_
#define TPLAUNCH_LAUNCHER_TOPOLOGY_STORE_TOPOLOGY_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "launcher/agent.h"
#include "launcher/launch_config.h"
#include "launcher/topology/job_leave.h"
#include "launcher/worker_board.h"
#include "store/endpoint.h"
#include "store/grpc/grpc_store_options.h"
#include "store/grpc/incarnation.h"
#include "store/store.h"

namespace tplaunch {

class RendezvousServer;
class LocalProxy;  // launcher/topology/local_proxy.h
struct ServerOptions;

// Where the nodes meet.
enum class TopologyKind {
  kEmbeddedServer,  // Standalone: an in-process server, a MemoryStore.
  kRemoteDaemon,    // Multi-node: a GrpcStore client of tprdzvd.
  kEtcd,            // Multi-node: EtcdStore clients of an etcd cluster.
};

// Which TCPStore listener --torch-store agent points the workers at.
enum class AgentStoreSource {
  kNone,              // --torch-store worker: rank 0 hosts PyTorch's store.
  kEmbeddedListener,  // The embedded server's listener (port 0).
  kRemoteListener,    // tprdzvd's, at --torch-store-endpoint.
  kHostedListener,    // The self-hosted server's: HOST of --rdzv-endpoint,
                      // the port published under HostedServerKey.
};

// What PlanStoreTopology decided; no I/O has happened yet.
struct TopologyPlan {
  TopologyKind kind = TopologyKind::kEmbeddedServer;
  AgentStoreSource agent_store = AgentStoreSource::kNone;
  // kRemoteDaemon: --rdzv-endpoint, parsed.
  Endpoint rdzv_endpoint;
  // kEtcd: the cluster's members (rdzv_endpoint is the first).
  std::vector<Endpoint> etcd_endpoints;
  // kRemoteListener: --torch-store-endpoint, parsed.
  Endpoint torch_store_listener;
  // The file holding tprdzvd's token; "" for none (standalone mints one).
  std::string token_file;
  // The job's run id; "" when standalone should pick a random one.
  std::string run_id;
  // The advertised address; "" when it is the one routing to rdzv_endpoint.
  std::string local_addr;
  // How long connecting to tprdzvd may take (--rdzv-timeout).
  absl::Duration connect_timeout = absl::Seconds(600);
  // kRemoteDaemon: the deadline of every call of the second connection the
  // liveness monitor uses (--heartbeat-interval), so a frozen daemon is seen
  // within one interval.
  absl::Duration heartbeat_interval = absl::Seconds(1);
  // --on-daemon-restart ride-through: a new incarnation does not end the
  // attempt (the nodes re-assert its keys). Never with an agent store on a
  // remote daemon.
  bool ride_through_daemon_restart = false;
  // kRemoteDaemon: --rdzv-conf is_host (nullopt: host when HOST is this
  // node's and its port is free).
  std::optional<bool> is_host;
  // --heartbeat-timeout and --exit-barrier-timeout: how Leave waits for the
  // other nodes of a self-hosted job.
  absl::Duration heartbeat_timeout = absl::Seconds(5);
  absl::Duration exit_barrier_timeout = absl::Seconds(300);
  // --http-port / --http-host: the embedded server's live view (-1 off). A
  // node that turns out to host nothing fails SetUp with InvalidArgument.
  int http_port = -1;
  std::string http_host;
  // GrpcStoreOptions::caller_label of this launcher's connections.
  std::string caller_label;

  bool multi_node() const { return kind != TopologyKind::kEmbeddedServer; }
};

// PlanStoreTopology's part for --rdzv-backend etcd-v3
// (store_topology_etcd.cc): InvalidArgument for what etcd cannot do
// (--torch-store agent, --token-file, is_host, ride-through).
absl::Status PlanEtcdTopology(const LaunchConfig& config, TopologyPlan& plan);

// Decides the topology. Errors: InvalidArgument (a usage error) when a
// multi-node config lacks --rdzv-endpoint (the cli never produces it), or
// --on-daemon-restart ride-through meets --torch-store agent on a multi-node
// launch (the workers' own store would be emptied under them).
absl::StatusOr<TopologyPlan> PlanStoreTopology(const LaunchConfig& config);

// What SetUp needs beyond the plan.
struct TopologyInputs {
  // --token-file's contents (main reads it), sent to tprdzvd.
  std::string token;
  // A terminating signal on it exits at once while connecting; -1: none.
  int signal_fd = -1;
};

// The store and servers of one launch; lives as long as the agent runs.
class StoreTopology final {
 public:
  // Carries out the plan: starts the embedded server, or hosts --rdzv-endpoint
  // when it is this node's and free, then finds the routable address and
  // connects to it. Errors, each naming what failed: whatever
  // StartRendezvousServer, RoutableAddressTowards or ConnectGrpcStore
  // returned (Unavailable when the endpoint cannot be reached in time, naming
  // the node that should host it; FailedPrecondition when is_host=true cannot
  // bind it), Unauthenticated when the endpoint rejects the token, NotFound
  // when --torch-store agent finds no published TCPStore listener.
  static absl::StatusOr<std::unique_ptr<StoreTopology>> SetUp(
      const TopologyPlan& plan, const TopologyInputs& inputs);
  ~StoreTopology();
  StoreTopology(const StoreTopology&) = delete;
  StoreTopology& operator=(const StoreTopology&) = delete;

  // Fills in the agent's store, run id, addresses, worker rendezvous
  // endpoint/token, the agent store fields and (multi-node, unless riding
  // through daemon restarts) the daemon's incarnation. The topology must
  // outlive the agent.
  void ApplyTo(AgentOptions& options) const;

  // After the agent returned, multi-node only: tells a self-hosted job's
  // other nodes that this one left, and on the hosting node keeps the server
  // up until they all left (bounded; job_leave.h). A terminating signal on
  // `signal_fd` ends the wait at once (exit 128+N).
  void Leave(int signal_fd);

  // Whether this launcher serves --rdzv-endpoint itself.
  bool hosting() const { return hosting_; }

  // The workers the live view shows (--http-port); nullptr without it.
  const std::shared_ptr<WorkerBoard>& worker_board() const {
    return worker_board_;
  }

 private:
  StoreTopology() = default;
  absl::Status StartEmbeddedServer(const TopologyPlan& plan);
  absl::Status ConnectToDaemon(const TopologyPlan& plan,
                               const TopologyInputs& inputs);
  // Empties the agent store's listener before every attempt.
  void PrepareAgentStore(absl::Duration timeout);
  // Self-hosting (store_topology_hosted.cc): decides, and starts server_ on
  // --rdzv-endpoint when this node hosts it.
  absl::Status HostIfMine(const TopologyPlan& plan,
                          const TopologyInputs& inputs);
  // After ConnectToDaemon: the host publishes HostedServerKey; every node
  // checks its token and, with kHostedListener, finds the listener.
  absl::Status AfterConnect(const TopologyPlan& plan,
                            const TopologyInputs& inputs);
  // How Leave waits for the other nodes (self-hosted and etcd jobs alike).
  void SetLeaveOptions(const TopologyPlan& plan);
  // kEtcd (store_topology_etcd.cc): connects the stores; Leave's part.
  absl::Status ConnectToEtcd(const TopologyPlan& plan,
                             const TopologyInputs& inputs);
  void LeaveEtcd();
  // HostIfMine on a node that hosts nothing: InvalidArgument with
  // --http-port (it has no server to serve), else OK.
  absl::Status HttpNeedsServer(const TopologyPlan& plan) const;
  // ConnectToDaemon's error on a node that does not host, saying who should.
  absl::Status ClientConnectError(const TopologyPlan& plan,
                                  const absl::Status& status) const;

  // ServerOptions for the embedded server's live view (--http-port); prints
  // where it listens once started, and with `minted_token` (standalone: a
  // token only this process knows) the URL that opens it.
  void AddHttp(const TopologyPlan& plan, ServerOptions& options);
  void SayHttpListening(const std::string& minted_token) const;

  // --http-port: this launcher's workers, for the live view.
  std::shared_ptr<WorkerBoard> worker_board_;
  // The embedded server: standalone, or the self-hosted endpoint.
  std::unique_ptr<RendezvousServer> server_;
  bool hosting_ = false;
  // Why this node does not host --rdzv-endpoint, for ClientConnectError.
  std::string client_reason_;
  // What Leave needs.
  LeaveOptions leave_;
  std::unique_ptr<Store> store_;
  // Multi-node: store_'s daemon, calls bounded by the heartbeat interval.
  std::unique_ptr<Store> liveness_store_;
  // Multi-node: the workers' store proxy, over store_ (so declared after it,
  // destroyed before it).
  std::unique_ptr<LocalProxy> local_proxy_;
  bool multi_node_ = false;
  // Multi-node: told by store_ and liveness_store_ (one daemon, one
  // reference incarnation).
  std::shared_ptr<IncarnationTracker> incarnation_;
  bool ride_through_daemon_restart_ = false;
  std::string run_id_;
  std::string local_addr_;
  Endpoint worker_rdzv_endpoint_;
  // kEtcd: "etcd-v3://H1:P1,..." for the workers, and what DeleteEtcdRun
  // needs at the end of the run.
  std::string worker_rdzv_url_;
  std::vector<Endpoint> etcd_endpoints_;
  Endpoint daemon_endpoint_;  // Multi-node: --rdzv-endpoint.
  std::string worker_rdzv_token_;
  std::optional<Endpoint> agent_store_;
  // With an agent store: the daemon that serves its listener, for DeleteJob
  // (the embedded server, or tprdzvd).
  GrpcStoreOptions listener_daemon_;
  std::function<absl::Status(int attempt)> prepare_agent_store_;
};

}  // namespace tplaunch

#endif  // TPLAUNCH_LAUNCHER_TOPOLOGY_STORE_TOPOLOGY_H_
