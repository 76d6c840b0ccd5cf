#include "launcher/worker_env.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/worker_env_names.h"

namespace tplaunch {

bool WillDefaultOmpThreads(const WorkerEnvInputs& in) {
  return in.local_world_size > 1 && in.base.count("OMP_NUM_THREADS") == 0;
}

namespace {
constexpr char kCudaVisibleDevices[] = "CUDA_VISIBLE_DEVICES";
constexpr char kTimerFile[] = "TORCHELASTIC_TIMER_FILE";
}  // namespace

absl::StatusOr<std::string> VirtualLocalDevice(const EnvMap& base,
                                               int local_rank) {
  auto visible = base.find(kCudaVisibleDevices);
  if (visible == base.end()) return absl::StrCat(local_rank);
  // An empty value hides every device (CUDA's meaning), so it has no items;
  // torchrun would hand rank 0 the empty string.
  std::vector<std::string> devices;
  if (!absl::StripAsciiWhitespace(visible->second).empty()) {
    devices = absl::StrSplit(visible->second, ',');
  }
  if (local_rank >= static_cast<int>(devices.size())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--virtual-local-rank: local rank ", local_rank,
        " has no device of its own: CUDA_VISIBLE_DEVICES='", visible->second,
        "' lists ", devices.size(), " device(s)"));
  }
  return std::string(absl::StripAsciiWhitespace(devices[local_rank]));
}

absl::Status CheckVirtualLocalRank(const EnvMap& base, int local_world_size) {
  if (local_world_size < 1) return absl::OkStatus();
  absl::StatusOr<std::string> last =
      VirtualLocalDevice(base, local_world_size - 1);
  if (last.ok()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(last.status().message(), ", but --nproc-per-node ",
                   local_world_size, " needs one per worker"));
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
  if (in.virtual_local_rank) {
    // Every worker sees its one device as device 0; LOCAL_WORLD_SIZE and the
    // ranks stay (torchrun 2.x). CheckVirtualLocalRank ran before any start.
    env[worker_env::kLocalRank] = "0";
    absl::StatusOr<std::string> device =
        VirtualLocalDevice(in.base, in.local_rank);
    if (device.ok()) env[kCudaVisibleDevices] = *device;
  }
  if (!in.timer_file.empty()) env[kTimerFile] = in.timer_file;
  return env;
}

}  // namespace tplaunch
