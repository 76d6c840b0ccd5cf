#include "launcher/worker_env.h"

#include "absl/strings/str_cat.h"
#include "common/worker_env_names.h"

namespace tplaunch {

bool WillDefaultOmpThreads(const WorkerEnvInputs& in) {
  return in.local_world_size > 1 && in.base.count("OMP_NUM_THREADS") == 0;
}

EnvMap BuildWorkerEnv(const WorkerEnvInputs& in) {
  EnvMap env = in.base;
  const int rank = in.rank_offset + in.local_rank;
  env[worker_env::kRank] = absl::StrCat(rank);
  env[worker_env::kLocalRank] = absl::StrCat(in.local_rank);
  env[worker_env::kGroupRank] = absl::StrCat(in.node_rank);
  // One role per job: role ranks and sizes equal the global ones, as in
  // torchrun.
  env[worker_env::kRoleRank] = absl::StrCat(rank);
  env[worker_env::kRoleName] = in.role;
  env[worker_env::kLocalWorldSize] = absl::StrCat(in.local_world_size);
  env[worker_env::kWorldSize] = absl::StrCat(in.world_size);
  env[worker_env::kGroupWorldSize] = absl::StrCat(in.num_nodes);
  env[worker_env::kRoleWorldSize] = absl::StrCat(in.world_size);
  if (in.task) {
    env[worker_env::kLocalRank] = absl::StrCat(in.task->local_rank);
    env[worker_env::kLocalWorldSize] = absl::StrCat(in.task->local_world_size);
    if (in.task->group_rank >= 0) {
      env[worker_env::kGroupRank] = absl::StrCat(in.task->group_rank);
      env[worker_env::kGroupWorldSize] =
          absl::StrCat(in.task->group_world_size);
    }
  }
  env[worker_env::kMasterAddr] = in.master_addr;
  env[worker_env::kMasterPort] = absl::StrCat(in.master_port);
  env[worker_env::kRestartCount] = absl::StrCat(in.attempt);
  env[worker_env::kMaxRestarts] = absl::StrCat(in.max_restarts);
  env[worker_env::kTorchRunId] = in.run_id;
  if (in.use_agent_store) {
    env[worker_env::kUseAgentStore] = "True";
  } else {
    // A stale value inherited from an outer launcher would make PyTorch connect
    // to a store nobody hosts.
    env.erase(worker_env::kUseAgentStore);
  }
  if (in.error_file.empty()) {
    env.erase(worker_env::kErrorFile);
  } else {
    env[worker_env::kErrorFile] = in.error_file;
  }
  // NCCL watchdog error handling, so a dead peer fails the collective instead
  // of hanging it: PyTorch >= 2.2 reads the TORCH_ name, older releases the
  // other (torchrun sets the one its release reads). A user's value wins.
  env.emplace("TORCH_NCCL_ASYNC_ERROR_HANDLING", "1");
  env.emplace("NCCL_ASYNC_ERROR_HANDLING", "1");
  // torchrun runs Python workers with `-u`; without it, a worker stopped by a
  // signal loses the output still in its buffers. A user's value wins.
  env.emplace("PYTHONUNBUFFERED", "1");
  if (WillDefaultOmpThreads(in)) env["OMP_NUM_THREADS"] = "1";
  env[worker_env::kRdzvEndpoint] = in.rdzv_endpoint;
  env[worker_env::kRunId] = in.run_id;
  env[worker_env::kAttempt] = absl::StrCat(in.attempt);
  if (in.rdzv_token.empty()) {
    env.erase(worker_env::kRdzvToken);
  } else {
    env[worker_env::kRdzvToken] = in.rdzv_token;
  }
  env[worker_env::kLocalAddr] = in.local_addr;
  return env;
}

}  // namespace tplaunch
