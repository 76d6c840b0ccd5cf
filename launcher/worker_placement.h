// worker_placement: the agent's glue for torchrun 2.x's per-worker placement
// features, so that agent.cc only calls them: --virtual-local-rank's check,
// the --numa-binding plan (numa_binding.h over host_topology.h) and the file
// timer of each attempt (file_timer_server.h).
#ifndef TPLAUNCH_LAUNCHER_WORKER_PLACEMENT_H_
#define TPLAUNCH_LAUNCHER_WORKER_PLACEMENT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "launcher/file_timer_server.h"
#include "launcher/launch_config.h"
#include "launcher/worker_env.h"
#include "spdlog/spdlog.h"

namespace tplaunch {

// Once per run, before the rendezvous: checks that --virtual-local-rank has a
// device for every worker and plans --numa-binding, logging the plan (and,
// without GPU topology, that workers are spread by local rank). Returns each
// local rank's CPUs; empty without --numa-binding. Errors: InvalidArgument
// naming what does not fit (VirtualLocalDevice, PlanNumaBinding), Internal
// when hwloc cannot read the machine.
absl::StatusOr<std::vector<std::vector<int>>> PlanWorkerPlacement(
    const LaunchConfig& config, const EnvMap& base_env, spdlog::logger& log);

// TORCHELASTIC_ENABLE_FILE_TIMER=1 in `base_env`: this attempt's timer
// server on TORCHELASTIC_TIMER_FILE when set, else on a new FIFO in TMPDIR
// (or /tmp) named after the run, attempt and launcher pid. nullptr when the
// file timer is off. Errors: FileTimerServer::Create's.
absl::StatusOr<std::unique_ptr<FileTimerServer>> CreateAttemptFileTimer(
    const EnvMap& base_env, const std::string& run_id, int attempt,
    spdlog::logger& log);

}  // namespace tplaunch

#endif  // TPLAUNCH_LAUNCHER_WORKER_PLACEMENT_H_
