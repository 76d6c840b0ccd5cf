// launch_config: what tplaunch was asked to do, as the command line (cli.h)
// leaves it for the agent and main(). Plain data: every value is already
// parsed and checked (endpoints are typed, enums are enums), so no consumer
// parses text again.
#ifndef TPLAUNCH_LAUNCHER_LAUNCH_CONFIG_H_
#define TPLAUNCH_LAUNCHER_LAUNCH_CONFIG_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "launcher/scheduler/scheduler_types.h"
#include "store/endpoint.h"

namespace tplaunch {

// The standard streams of a worker a setting applies to; torchrun's Std
// values 0..3.
enum class StdStreams { kNone = 0, kOut = 1, kErr = 2, kAll = 3 };

inline bool HasStdout(StdStreams s) { return static_cast<int>(s) & 1; }
inline bool HasStderr(StdStreams s) { return static_cast<int>(s) & 2; }

// A --tee/--redirects value: one StdStreams for every local rank ("3"), or
// torchrun's per-local-rank map ("0:1,1:2"), in which a local rank the map
// does not name gets kNone (torchrun's to_map).
struct StdStreamsByRank {
  StdStreams all = StdStreams::kNone;  // Used when by_local_rank is empty.
  std::map<int, StdStreams> by_local_rank;

  StdStreams For(int local_rank) const {
    if (by_local_rank.empty()) return all;
    auto it = by_local_rank.find(local_rank);
    return it == by_local_rank.end() ? StdStreams::kNone : it->second;
  }
  // Whether some local rank has the stream.
  bool AnyStdout() const { return Any(1); }
  bool AnyStderr() const { return Any(2); }
  // A value for every rank equals that StdStreams; a map equals none.
  bool operator==(StdStreams s) const {
    return by_local_rank.empty() && all == s;
  }

 private:
  bool Any(int bit) const {
    if (by_local_rank.empty()) return static_cast<int>(all) & bit;
    for (const auto& [rank, s] : by_local_rank) {
      if (static_cast<int>(s) & bit) return true;
    }
    return false;
  }
};

// How --nproc-per-node was given; kCount is a plain number.
enum class NprocMode { kCount, kAuto, kGpu, kCpu, kXpu };

// --torch-store: who hosts PyTorch's TCPStore for the workers.
enum class TorchStoreHost {
  kWorker,  // Rank 0, PyTorch's default (MASTER_ADDR/PORT = node 0).
  kAgent,   // The rendezvous server's TCPStore listener (embedded or
            // tprdzvd's); workers get TORCHELASTIC_USE_AGENT_STORE=True.
};

// --numa-binding: which CPUs near its GPU a worker is bound to (torchrun
// 2.8+'s AffinityMode).
enum class NumaBinding {
  kNone,         // Not given: the launcher's own affinity.
  kNode,         // Every CPU of the GPU's NUMA node.
  kSocket,       // Every CPU of the NUMA nodes of the GPU's socket.
  kExclusive,    // An exclusive share of the node's physical cores.
  kCoreComplex,  // One L3 cache domain of the node, a different one per GPU.
};

// --rdzv-backend: which store the nodes meet in.
enum class RdzvBackend {
  kTprdzv,  // c10d, static, tprdzv: tprdzvd (or a self-hosted server).
  kEtcdV3,  // etcd-v3 (alias etcd): an etcd cluster through its v3 gRPC API
            // (docs/etcd.md).
};

// What tplaunch was asked to do.
enum class CliAction {
  kRun,      // Launch PROGRAM.
  kStatus,   // `tplaunch status`: show a job's rendezvous state.
  kHelp,     // --help: print usage, exit 0.
  kVersion,  // --version: print the version, exit 0.
};

// Every option has a field except those checked and then ignored
// (--start-method, --logs-specs, --event-log-handler).
// Defaults are torchrun's where it has the option.
struct LaunchConfig {
  CliAction action = CliAction::kRun;

  // --nproc-per-node: workers on this node. With kAuto/kGpu/kCpu/kXpu,
  // nproc_per_node is 0 until ResolveNprocPerNode fills it in.
  NprocMode nproc_mode = NprocMode::kCount;
  int nproc_per_node = 1;
  // --nnodes N or MIN:MAX.
  int min_nodes = 1;
  int max_nodes = 1;
  // --node-rank; -1 lets the rendezvous assign ranks in a stable order.
  int node_rank = -1;

  // --rdzv-endpoint HOST[:PORT] (port 29400 when omitted), parsed once by the
  // cli; empty means standalone (embedded server).
  std::optional<Endpoint> rdzv_endpoint;
  // --rdzv-backend: c10d/static/tprdzv all mean tprdzvd.
  RdzvBackend rdzv_backend = RdzvBackend::kTprdzv;
  // kEtcdV3: every member of --rdzv-endpoint's comma list (port 2379 when
  // omitted); rdzv_endpoint is then the first of them, so that the checks of
  // a multi-node launch read it as for tprdzvd.
  std::vector<Endpoint> etcd_endpoints;
  // --rdzv-id: the job's run id. Standalone picks a random one when empty.
  std::string rdzv_id;
  // --standalone (explicit); also implied by no --rdzv-endpoint.
  bool standalone = false;
  // --rdzv-timeout: how long joining the rendezvous may take.
  absl::Duration rdzv_timeout = absl::Seconds(600);
  // --rdzv-last-call: with --nnodes MIN:MAX, how long to wait for more nodes
  // once MIN have joined.
  absl::Duration rdzv_last_call = absl::Seconds(30);
  // --rdzv-conf use_libuv=0|1: passed to the workers as USE_LIBUV (PyTorch
  // 2.x's TCPStore reads it); nullopt leaves the inherited value alone.
  std::optional<bool> use_libuv;

  // --max-restarts: how many times a failed job is restarted as a new attempt.
  int max_restarts = 0;
  // --monitor-interval: accepted for torchrun compatibility; tplaunch reacts to
  // worker exits immediately and does not poll.
  absl::Duration monitor_interval = absl::Milliseconds(100);

  // --log-dir: per attempt and rank log files; empty: none (unless
  // --tee/--redirects ask for files, then a temporary directory is used).
  std::string log_dir;
  // --tee: streams written both to the console and to files.
  StdStreamsByRank tee;
  // --redirects: streams written to files only (not to the console, unless
  // also in --tee).
  StdStreamsByRank redirects;
  // --local-ranks-filter: the local ranks whose console output is shown;
  // empty: every rank.
  std::vector<int> local_ranks_filter;
  // --log-prefix: console line prefix template (see docs/cli.md); used when
  // has_log_prefix (an empty template then means no prefix), else the default.
  bool has_log_prefix = false;
  std::string log_prefix;
  // --duplicate-stdout-filters/--duplicate-stderr-filters: console lines of
  // streams that also go to files (--tee, or every stream under --log-dir)
  // containing any of these are copied to
  // <root>/attempt_<N>/filtered_{stdout,stderr}.log; empty: none.
  std::vector<std::string> duplicate_stdout_filters;
  std::vector<std::string> duplicate_stderr_filters;

  // --role: ROLE_NAME of the workers.
  std::string role = "default";
  // --scheduler: whose variables fill in what the command line leaves open
  // (launcher/scheduler/apply.h, docs/schedulers.md).
  SchedulerChoice scheduler = SchedulerChoice::kAuto;
  // Set by the scheduler's inference: the line printed at start ("" for
  // none); whether this node hosts the rendezvous at rdzv_endpoint (Slurm node
  // or task 0, pod 0; nullopt: the scheduler does not say). scheduler/apply
  // also gives it to rdzv_is_host when the scheduler named the endpoint and
  // the user set neither is_host nor the endpoint.
  std::string scheduler_summary;
  std::optional<bool> scheduler_hosts_rendezvous;
  // One worker per scheduler task (srun --ntasks-per-node=8, mpirun): the
  // workers' LOCAL_RANK, LOCAL_WORLD_SIZE, GROUP_RANK, GROUP_WORLD_SIZE as the
  // scheduler counts them; nullopt otherwise.
  std::optional<TaskPlacement> task_placement;
  // --master-addr/--master-port: explicit MASTER_ADDR/MASTER_PORT for the
  // workers; empty/0: node 0 reserves a free port per attempt and publishes its
  // address.
  std::string master_addr;
  int master_port = 0;
  // --local-addr: the address other nodes reach this one at; empty: the address
  // of the interface that routes to the rendezvous endpoint.
  std::string local_addr;
  // --virtual-local-rank: every worker gets LOCAL_RANK=0 and
  // CUDA_VISIBLE_DEVICES narrowed to its own device (torchrun 2.x).
  bool virtual_local_rank = false;
  // --numa-binding: bind each worker's CPUs near its GPU (launcher/
  // numa_binding.h); kNone leaves the launcher's affinity.
  NumaBinding numa_binding = NumaBinding::kNone;

  // --grace-period: between SIGTERM and SIGKILL when stopping workers.
  absl::Duration grace_period = absl::Seconds(30);
  // --signals-to-forward: forwarded to every worker's process group; the cli
  // fills in TERM,INT,HUP,QUIT,USR1,USR2 when the option is not given.
  std::vector<int> signals_to_forward;
  // --heartbeat-interval/--heartbeat-timeout: node liveness.
  absl::Duration heartbeat_interval = absl::Seconds(1);
  absl::Duration heartbeat_timeout = absl::Seconds(5);
  // --store-outage-timeout: how long the workers keep running while the
  // rendezvous store does not answer (a restarting or frozen daemon is not a
  // dead peer) before every node fails naming the store.
  absl::Duration store_outage_timeout = absl::Seconds(60);
  // --on-daemon-restart: what a node does when tprdzvd comes back without the
  // job's state (a new incarnation, i.e. restarted without --state-dir).
  enum class DaemonRestart {
    kRestart,     // End the attempt on every node; a new attempt within
                  // --max-restarts, else fail naming the restart.
    kRideThrough  // Keep running; the nodes re-assert the attempt's keys.
  };
  DaemonRestart on_daemon_restart = DaemonRestart::kRestart;
  // --exit-barrier-timeout: on success, how long to wait for the other nodes.
  absl::Duration exit_barrier_timeout = absl::Seconds(300);
  // --token-file: file holding the rendezvous daemon's bearer token.
  std::string token_file;
  // --torch-store worker|agent: who hosts PyTorch's TCPStore.
  TorchStoreHost torch_store = TorchStoreHost::kWorker;
  // --torch-store-endpoint HOST:PORT (no default port) of tprdzvd's TCPStore
  // listener; set only when torch_store is kAgent and rdzv_endpoint is set
  // (without it a self-hosted endpoint's listener is used).
  std::optional<Endpoint> torch_store_endpoint;
  // --rdzv-conf is_host=true|false: whether this node hosts --rdzv-endpoint's
  // rendezvous server itself; nullopt: it does when HOST is one of its
  // addresses and nothing serves the port yet (launcher/topology/hosting.h).
  std::optional<bool> rdzv_is_host;
  // --http-port N / --http-host H: the live view (docs/observability.md) of
  // the rendezvous server this launcher embeds (standalone or hosting): -1
  // off, 0 picks a free port; "" binds the server's own address.
  int http_port = -1;
  std::string http_host;

  // How PROGRAM is run (launcher/program.h): --no-python runs it exactly as
  // given; -m/--module runs `PYTHON -u -m PROGRAM`; --run-path runs it as a
  // Python script whatever its name (torchrun: it wins over --no-python).
  bool no_python = false;
  bool module = false;
  bool run_path = false;
  // PROGRAM and its arguments as given. main() replaces them with the command
  // every worker executes (ResolveWorkerCommand) before the agent starts.
  std::vector<std::string> program;

  // What the parse noticed that is not an error (PET_* variables naming no
  // option); main() logs each once.
  std::vector<std::string> warnings;
};

}  // namespace tplaunch

#endif  // TPLAUNCH_LAUNCHER_LAUNCH_CONFIG_H_
