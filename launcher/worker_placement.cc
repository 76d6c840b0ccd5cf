#include "launcher/worker_placement.h"

#include <unistd.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "launcher/host_topology.h"
#include "launcher/numa_binding.h"

namespace tplaunch {
namespace {

std::string EnvOr(const EnvMap& env, const char* name, std::string fallback) {
  auto it = env.find(name);
  return it != env.end() && !it->second.empty() ? it->second : fallback;
}

}  // namespace

absl::StatusOr<std::vector<std::vector<int>>> PlanWorkerPlacement(
    const LaunchConfig& c, const EnvMap& base_env, spdlog::logger& log) {
  if (c.virtual_local_rank) {
    absl::Status devices = CheckVirtualLocalRank(base_env, c.nproc_per_node);
    if (!devices.ok()) return devices;
  }
  if (c.numa_binding == NumaBinding::kNone) {
    return std::vector<std::vector<int>>();
  }
  absl::StatusOr<CpuTopology> topology = ReadHostTopology(base_env);
  if (!topology.ok()) return topology.status();
  absl::StatusOr<NumaPlacement> plan =
      PlanNumaBinding(*topology, c.numa_binding, c.nproc_per_node);
  if (!plan.ok()) return plan.status();
  if (plan->by_local_rank) {
    log.warn(
        "--numa-binding {}: {}; binding workers by local rank round-robin "
        "across the NUMA nodes instead of near their GPUs",
        NumaBindingName(c.numa_binding), topology->no_gpu_reason);
  }
  std::vector<std::string> parts;
  for (size_t lr = 0; lr < plan->cpus.size(); ++lr) {
    parts.push_back(absl::StrCat("local rank ", lr, " -> CPUs ",
                                 FormatCpuList(plan->cpus[lr]), " (node ",
                                 plan->node[lr], ")"));
  }
  log.info("--numa-binding {}: {}", NumaBindingName(c.numa_binding),
           absl::StrJoin(parts, ", "));
  return std::move(plan->cpus);
}

absl::StatusOr<std::unique_ptr<FileTimerServer>> CreateAttemptFileTimer(
    const EnvMap& base_env, const std::string& run_id, int attempt,
    spdlog::logger& log) {
  auto enabled = base_env.find("TORCHELASTIC_ENABLE_FILE_TIMER");
  if (enabled == base_env.end() || enabled->second != "1") return nullptr;
  FileTimerServerOptions o;
  o.path = EnvOr(base_env, "TORCHELASTIC_TIMER_FILE", "");
  if (o.path.empty()) {
    o.path = absl::StrCat(EnvOr(base_env, "TMPDIR", "/tmp"), "/tplaunch_timer_",
                          run_id, "_a", attempt, "_", getpid());
  }
  o.on_notice = [&log](const std::string& line) { log.warn("{}", line); };
  auto server = FileTimerServer::Create(std::move(o));
  if (server.ok()) {
    log.info("file timer (TORCHELASTIC_ENABLE_FILE_TIMER=1) on {}",
             (*server)->path());
  }
  return server;
}

}  // namespace tplaunch
