// agent: the launcher's state machine for one node.
//
//   rendezvous -> start workers -> monitor (worker exits, peer failure,
//   heartbeats, signals) -> stop -> restart as a new attempt (within
//   --max-restarts) or exit
//
// It ties node_rendezvous (stores) and process_supervisor (processes) together,
// puts each attempt's files where run_logs says, and reports to the user
// through the "launcher" logger (texts from failure_report). Run it on the main
// thread: the workers' PR_SET_PDEATHSIG is tied to the thread that starts them.
#ifndef TPLAUNCH_LAUNCHER_AGENT_H_
#define TPLAUNCH_LAUNCHER_AGENT_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "launcher/launch_config.h"
#include "launcher/process_supervisor.h"
#include "launcher/worker_board.h"
#include "launcher/worker_env.h"
#include "store/endpoint.h"
#include "store/store.h"

namespace tplaunch {

// What the agent needs from process supervision: start one attempt's workers
// and hand back the group it then waits on, signals and stops. Errors as
// StartWorkers'.
using WorkerStarter =
    std::function<absl::StatusOr<std::unique_ptr<WorkerGroup>>(
        std::vector<WorkerSpec> specs)>;

struct AgentOptions {
  LaunchConfig config;  // nproc_per_node already resolved.
  // Store the nodes meet in; must outlive the agent.
  Store* store = nullptr;
  // The same store with every call bounded by the heartbeat interval, for
  // heartbeats, failure reports and probes while it does not answer (a frozen
  // daemon must not hold them for a whole RPC deadline). Null: `store`.
  Store* liveness_store = nullptr;
  // The store's daemon incarnation as last reported ("" unknown); empty: not
  // tracked. A change during an attempt ends it as failed naming the daemon
  // restart, restarted as a new attempt when --max-restarts allows.
  std::function<std::string()> store_incarnation;
  // Multi-node mode: heartbeats, failure watching and the exit barrier. Off for
  // standalone, where this node is alone.
  bool multi_node = false;
  std::string run_id;
  std::string host;        // This host's name.
  std::string local_addr;  // Advertised address (TPLAUNCH_LOCAL_ADDR,
                           // MASTER_ADDR on node 0).
  // What workers get as TPLAUNCH_RDZV_ENDPOINT / TPLAUNCH_RDZV_TOKEN.
  Endpoint worker_rdzv_endpoint;
  std::string worker_rdzv_token;
  // When set, what workers get as TPLAUNCH_RDZV_ENDPOINT instead, and how
  // messages name the store: "etcd-v3://H1:P1,H2:P2" over etcd.
  std::string worker_rdzv_url;
  // Multi-node: the daemon errors name ("tprdzvd at ..."); the workers'
  // endpoint is this node's store proxy. Empty: worker_rdzv_endpoint.
  Endpoint daemon_endpoint;
  // With --torch-store agent: the TCPStore listener workers connect to as
  // MASTER_ADDR/MASTER_PORT (the embedded server's, or tprdzvd's from
  // --torch-store-endpoint); nullopt with --torch-store worker, where rank 0
  // hosts PyTorch's store.
  std::optional<Endpoint> agent_store;
  // With --torch-store agent, run by node 0 for every attempt before the
  // attempt's assignment is published (so before any node starts a worker):
  // empties the listener (keys of an earlier attempt, or of an earlier job in
  // a shared tprdzvd listener). An error fails the rendezvous. May be empty.
  std::function<absl::Status(int attempt)> prepare_agent_store;
  // tplaunch --http-port: told each attempt's workers, for the live view
  // (not owned; nullptr: none).
  WorkerBoard* worker_board = nullptr;
  // The launcher's environment; workers inherit it.
  EnvMap base_env;
  // A signalfd for config.signals_to_forward (blocked by the caller), or -1.
  int signal_fd = -1;
  SupervisorOptions supervisor;
  // Starts the workers; empty: real processes (StartWorkers with
  // `supervisor`). Tests pass a fake.
  WorkerStarter start_workers;
};

// tplaunch's exit code when it cannot keep the logs asked for: --log-dir cannot
// be created or written, or a log file write failed while the workers
// succeeded. Not 126, which means PROGRAM cannot be executed.
inline constexpr int kLogsLostExit = 125;

// Runs the job on this node. Returns tplaunch's exit code: 0 when every worker
// of the final attempt succeeded, the first failure's shell-style code
// otherwise (also for a failure on another node), 128+N after signal N, 1 for
// launcher errors (rendezvous timeout, unreachable store), 125 when the logs
// cannot be kept (kLogsLostExit), 126/127 when PROGRAM cannot be
// executed/found.
int RunAgent(const AgentOptions& options);

}  // namespace tplaunch

#endif  // TPLAUNCH_LAUNCHER_AGENT_H_
