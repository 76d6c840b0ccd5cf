// cli: tplaunch's command line (and TPLAUNCH_<NAME> environment) ->
// LaunchConfig.
//
// Pure: no I/O except what the caller passes in. Option names follow
// torchrun's, with dashes; torchrun's underscore spellings are accepted as
// aliases so pasted torchrun lines work. Every problem is reported as
// InvalidArgument whose message names the option (or environment variable), the
// bad value and what was expected; tplaunch's main() prints the usage plus that
// message and exits with code 2.
#ifndef TPLAUNCH_LAUNCHER_CLI_H_
#define TPLAUNCH_LAUNCHER_CLI_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tplaunch {

// Which standard streams of a worker a setting applies to (torchrun's Std:
// 0..3).
enum class StdStreams { kNone = 0, kOut = 1, kErr = 2, kAll = 3 };

inline bool HasStdout(StdStreams s) { return static_cast<int>(s) & 1; }
inline bool HasStderr(StdStreams s) { return static_cast<int>(s) & 2; }

// How --nproc-per-node was given; kCount is a plain number.
enum class NprocMode { kCount, kAuto, kGpu, kCpu };

// What tplaunch was asked to do.
enum class CliAction {
  kRun,      // Launch PROGRAM.
  kStatus,   // `tplaunch status`: show a job's rendezvous state.
  kHelp,     // --help: print usage, exit 0.
  kVersion,  // --version: print the version, exit 0.
};

struct LaunchConfig {
  CliAction action = CliAction::kRun;

  // --nproc-per-node: workers on this node. With kAuto/kGpu/kCpu,
  // nproc_per_node is 0 until ResolveNprocPerNode fills it in.
  NprocMode nproc_mode = NprocMode::kCount;
  int nproc_per_node = 1;
  // --nnodes N or MIN:MAX.
  int min_nodes = 1;
  int max_nodes = 1;
  // --node-rank; -1 lets the rendezvous assign ranks in a stable order.
  int node_rank = -1;

  // --rdzv-endpoint HOST[:PORT]; empty means standalone (embedded server).
  std::string rdzv_endpoint;
  // --rdzv-id: the job's run id. Standalone picks a random one when empty.
  std::string rdzv_id;
  // --standalone (explicit); also implied by no --rdzv-endpoint.
  bool standalone = false;
  // --rdzv-timeout: how long joining the rendezvous may take.
  absl::Duration rdzv_timeout = absl::Seconds(600);
  // --rdzv-last-call: with --nnodes MIN:MAX, how long to wait for more nodes
  // once MIN have joined.
  absl::Duration rdzv_last_call = absl::Seconds(30);

  // --max-restarts: how many times a failed job is restarted as a new attempt.
  int max_restarts = 0;
  // --monitor-interval: accepted for torchrun compatibility; tplaunch reacts to
  // worker exits immediately and does not poll.
  absl::Duration monitor_interval = absl::Milliseconds(100);

  // --log-dir: per attempt and rank log files; empty: none (unless
  // --tee/--redirects ask for files, then a temporary directory is used).
  std::string log_dir;
  // --tee: streams written both to the console and to files.
  StdStreams tee = StdStreams::kNone;
  // --redirects: streams written to files only (not to the console).
  StdStreams redirects = StdStreams::kNone;
  // --local-ranks-filter: local ranks whose output reaches the console; empty =
  // all.
  std::vector<int> local_ranks_filter;
  // --log-prefix: console line prefix template (see docs/cli.md); used when
  // has_log_prefix (an empty template then means no prefix), else the default.
  bool has_log_prefix = false;
  std::string log_prefix;

  // --role: ROLE_NAME of the workers.
  std::string role = "default";
  // --master-addr/--master-port: explicit MASTER_ADDR/MASTER_PORT for the
  // workers; empty/0: node 0 reserves a free port per attempt and publishes its
  // address.
  std::string master_addr;
  int master_port = 0;
  // --local-addr: the address other nodes reach this one at; empty: the address
  // of the interface that routes to the rendezvous endpoint.
  std::string local_addr;

  // --grace-period: between SIGTERM and SIGKILL when stopping workers.
  absl::Duration grace_period = absl::Seconds(30);
  // --signals-to-forward: signals tplaunch forwards to every worker's process
  // group.
  std::vector<int> signals_to_forward;
  // --heartbeat-interval/--heartbeat-timeout: node liveness.
  absl::Duration heartbeat_interval = absl::Seconds(1);
  absl::Duration heartbeat_timeout = absl::Seconds(5);
  // --exit-barrier-timeout: on success, how long to wait for the other nodes.
  absl::Duration exit_barrier_timeout = absl::Seconds(300);
  // --token-file: file holding the rendezvous daemon's bearer token.
  std::string token_file;
  // --torch-store worker|agent: who hosts PyTorch's TCPStore (agent: the
  // rendezvous server's TCPStore listener, embedded or tprdzvd's).
  std::string torch_store = "worker";
  // --torch-store-endpoint: "host:port" of tprdzvd's TCPStore listener;
  // required with --torch-store agent and --rdzv-endpoint, empty otherwise.
  std::string torch_store_endpoint;

  // --no-python was given (a no-op: tplaunch always runs PROGRAM as given).
  bool no_python = false;

  // PROGRAM and its arguments, verbatim.
  std::vector<std::string> program;
};

// Parses argv (argv[0] is the program name) and the environment
// (TPLAUNCH_<NAME> variables; the command line wins). InvalidArgument names the
// problem.
absl::StatusOr<LaunchConfig> ParseCommandLine(
    const std::vector<std::string>& argv,
    const std::map<std::string, std::string>& env);

// The usage text printed by --help and before every command line error.
std::string UsageText();

// The version line printed by --version.
std::string VersionText();

// Fills in nproc_per_node for auto/gpu/cpu. FailedPrecondition for `gpu` with
// no GPU.
absl::Status ResolveNprocPerNode(LaunchConfig& config, int cpu_count,
                                 int gpu_count);

}  // namespace tplaunch

#endif  // TPLAUNCH_LAUNCHER_CLI_H_
