#include "launcher/worker_env.h"

#include "absl/strings/str_cat.h"

namespace tplaunch {

bool WillDefaultOmpThreads(const WorkerEnvInputs& in) {
  return in.local_world_size > 1 && in.base.count("OMP_NUM_THREADS") == 0;
}

EnvMap BuildWorkerEnv(const WorkerEnvInputs& in) {
  EnvMap env = in.base;
  const int rank = in.rank_offset + in.local_rank;
  env["RANK"] = absl::StrCat(rank);
  env["LOCAL_RANK"] = absl::StrCat(in.local_rank);
  env["GROUP_RANK"] = absl::StrCat(in.node_rank);
  // One role per job: role ranks and sizes equal the global ones, as in
  // torchrun.
  env["ROLE_RANK"] = absl::StrCat(rank);
  env["ROLE_NAME"] = in.role;
  env["LOCAL_WORLD_SIZE"] = absl::StrCat(in.local_world_size);
  env["WORLD_SIZE"] = absl::StrCat(in.world_size);
  env["GROUP_WORLD_SIZE"] = absl::StrCat(in.num_nodes);
  env["ROLE_WORLD_SIZE"] = absl::StrCat(in.world_size);
  env["MASTER_ADDR"] = in.master_addr;
  env["MASTER_PORT"] = absl::StrCat(in.master_port);
  env["TORCHELASTIC_RESTART_COUNT"] = absl::StrCat(in.attempt);
  env["TORCHELASTIC_MAX_RESTARTS"] = absl::StrCat(in.max_restarts);
  env["TORCHELASTIC_RUN_ID"] = in.run_id;
  if (in.use_agent_store) {
    env["TORCHELASTIC_USE_AGENT_STORE"] = "True";
  } else {
    // A stale value inherited from an outer launcher would make PyTorch connect
    // to a store nobody hosts.
    env.erase("TORCHELASTIC_USE_AGENT_STORE");
  }
  if (in.error_file.empty()) {
    env.erase("TORCHELASTIC_ERROR_FILE");
  } else {
    env["TORCHELASTIC_ERROR_FILE"] = in.error_file;
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
  env["TPLAUNCH_RDZV_ENDPOINT"] = in.rdzv_endpoint;
  env["TPLAUNCH_RUN_ID"] = in.run_id;
  env["TPLAUNCH_ATTEMPT"] = absl::StrCat(in.attempt);
  if (in.rdzv_token.empty()) {
    env.erase("TPLAUNCH_RDZV_TOKEN");
  } else {
    env["TPLAUNCH_RDZV_TOKEN"] = in.rdzv_token;
  }
  env["TPLAUNCH_LOCAL_ADDR"] = in.local_addr;
  return env;
}

}  // namespace tplaunch
