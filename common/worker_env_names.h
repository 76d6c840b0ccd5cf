// worker_env_names: the environment variables through which the launcher tells
// a worker who it is and where its rendezvous is. The launcher writes them
// (launcher/worker_env.cc) and worker_lib reads them
// (worker_lib/init_config.cc); both sides name them only through these
// constants, so the contract cannot drift. Values and meanings:
// docs/launcher.md and docs/worker_lib.md.
#ifndef TPLAUNCH_COMMON_WORKER_ENV_NAMES_H_
#define TPLAUNCH_COMMON_WORKER_ENV_NAMES_H_

namespace tplaunch {
namespace worker_env {

// torchrun's variables, with torchrun's meanings (PyTorch reads them too).
inline constexpr char kRank[] = "RANK";
inline constexpr char kLocalRank[] = "LOCAL_RANK";
inline constexpr char kGroupRank[] = "GROUP_RANK";
inline constexpr char kRoleRank[] = "ROLE_RANK";
inline constexpr char kRoleName[] = "ROLE_NAME";
inline constexpr char kLocalWorldSize[] = "LOCAL_WORLD_SIZE";
inline constexpr char kWorldSize[] = "WORLD_SIZE";
inline constexpr char kGroupWorldSize[] = "GROUP_WORLD_SIZE";
inline constexpr char kRoleWorldSize[] = "ROLE_WORLD_SIZE";
inline constexpr char kMasterAddr[] = "MASTER_ADDR";
inline constexpr char kMasterPort[] = "MASTER_PORT";
inline constexpr char kRestartCount[] = "TORCHELASTIC_RESTART_COUNT";
inline constexpr char kMaxRestarts[] = "TORCHELASTIC_MAX_RESTARTS";
inline constexpr char kTorchRunId[] = "TORCHELASTIC_RUN_ID";
inline constexpr char kUseAgentStore[] = "TORCHELASTIC_USE_AGENT_STORE";
inline constexpr char kErrorFile[] = "TORCHELASTIC_ERROR_FILE";

// tplaunch's own: what worker_lib's init_method env:// needs.
// "host:port" of the rendezvous daemon (Endpoint::ToString()).
inline constexpr char kRdzvEndpoint[] = "TPLAUNCH_RDZV_ENDPOINT";
// The job's run id: the daemon's job and the first part of every key.
inline constexpr char kRunId[] = "TPLAUNCH_RUN_ID";
// The attempt (decimal); keys of attempt N live under "<run_id>/a<N>/".
inline constexpr char kAttempt[] = "TPLAUNCH_ATTEMPT";
// The daemon's bearer token; unset when the daemon has no auth.
inline constexpr char kRdzvToken[] = "TPLAUNCH_RDZV_TOKEN";
// The address this node's workers bind and advertise (Gloo pairs).
inline constexpr char kLocalAddr[] = "TPLAUNCH_LOCAL_ADDR";

}  // namespace worker_env
}  // namespace tplaunch

#endif  // TPLAUNCH_COMMON_WORKER_ENV_NAMES_H_
