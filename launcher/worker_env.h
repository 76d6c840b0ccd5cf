// worker_env: the environment each worker process starts with (torchrun's
// variables plus tplaunch's own). Pure: a function of its inputs only.
#ifndef TPLAUNCH_LAUNCHER_WORKER_ENV_H_
#define TPLAUNCH_LAUNCHER_WORKER_ENV_H_

#include <map>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "launcher/scheduler/scheduler_types.h"

namespace tplaunch {

using EnvMap = std::map<std::string, std::string>;

// Everything one worker's environment depends on.
struct WorkerEnvInputs {
  // The launcher's own environment, inherited by workers.
  EnvMap base;
  std::string role = "default";
  int local_rank = 0;
  int local_world_size = 1;  // Workers on this node.
  int rank_offset = 0;       // Global rank of this node's local rank 0.
  int world_size = 1;
  int node_rank = 0;  // GROUP_RANK.
  int num_nodes = 1;  // GROUP_WORLD_SIZE.
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  int attempt = 0;  // TORCHELASTIC_RESTART_COUNT, TPLAUNCH_ATTEMPT.
  int max_restarts = 0;
  std::string run_id;
  std::string error_file;     // TORCHELASTIC_ERROR_FILE; omitted when empty.
  std::string rdzv_endpoint;  // TPLAUNCH_RDZV_ENDPOINT ("host:port").
  std::string rdzv_token;  // TPLAUNCH_RDZV_TOKEN; omitted when empty (no auth).
  std::string local_addr;  // TPLAUNCH_LOCAL_ADDR.
  // When set, workers use the agent's TCPStore:
  // TORCHELASTIC_USE_AGENT_STORE=True.
  bool use_agent_store = false;
  // --virtual-local-rank (torchrun 2.x): LOCAL_RANK=0 and CUDA_VISIBLE_DEVICES
  // narrowed to this worker's one device (VirtualLocalDevice). The caller
  // checks CheckVirtualLocalRank first.
  bool virtual_local_rank = false;
  // TORCHELASTIC_TIMER_FILE: the file timer's FIFO; omitted when empty (an
  // inherited value stays).
  std::string timer_file;
  // One worker per scheduler task: LOCAL_RANK, LOCAL_WORLD_SIZE, GROUP_RANK
  // and GROUP_WORLD_SIZE as the scheduler counts them (RANK stays rank_offset
  // + local_rank: the task's rendezvous place).
  std::optional<TaskPlacement> task;
};

// base plus the worker variables (ours override base, except
// TORCH_NCCL_ASYNC_ERROR_HANDLING and OMP_NUM_THREADS, which are only
// defaults).
EnvMap BuildWorkerEnv(const WorkerEnvInputs& in);

// With --virtual-local-rank, the one device local rank `local_rank` sees, as
// torchrun 2.x picks it: item `local_rank` of the inherited
// CUDA_VISIBLE_DEVICES (items are opaque: indices, GPU-/MIG- UUIDs), or the
// local rank itself when the variable is unset. InvalidArgument when the list
// has fewer items than local_rank + 1, naming the variable's value.
absl::StatusOr<std::string> VirtualLocalDevice(const EnvMap& base,
                                               int local_rank);

// OK when every one of `local_world_size` workers has a device for
// --virtual-local-rank; else VirtualLocalDevice's error for the first that has
// none, with how many workers need one. Checked before any worker starts.
absl::Status CheckVirtualLocalRank(const EnvMap& base, int local_world_size);

// Whether BuildWorkerEnv sets OMP_NUM_THREADS=1 for these inputs (the launcher
// says so once, as torchrun does).
bool WillDefaultOmpThreads(const WorkerEnvInputs& in);

}  // namespace tplaunch

#endif  // TPLAUNCH_LAUNCHER_WORKER_ENV_H_
