#include "launcher/scheduler/apply.h"

#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"

namespace tplaunch {
namespace {

// The option's row and its place in the table: inferred values are applied
// in table order, so --node-rank's bound check sees --nnodes.
const OptionDef* FindRow(const std::string& option, size_t* index) {
  const std::vector<OptionDef>& defs = CommandLineOptions();
  for (size_t i = 0; i < defs.size(); ++i) {
    if (CanonicalName(defs[i]) == option) {
      *index = i;
      return &defs[i];
    }
  }
  return nullptr;
}

// PET_* variables are set by the operator, not typed by the user, and a
// variable the inference itself read cannot contradict it.
bool FromScheduler(const RawValue& raw, const SchedulerInference& inference) {
  if (absl::StartsWith(raw.source, "PET_")) return true;
  return std::find(inference.variables.begin(), inference.variables.end(),
                   raw.source) != inference.variables.end();
}

// Whether two configs agree on what a binding option fixes.
bool SameFacts(const std::string& option, const LaunchConfig& a,
               const LaunchConfig& b) {
  if (option == "--nnodes") {
    return a.min_nodes == b.min_nodes && a.max_nodes == b.max_nodes;
  }
  if (option == "--node-rank") return a.node_rank == b.node_rank;
  if (option == "--nproc-per-node") {
    return a.nproc_mode == b.nproc_mode && a.nproc_per_node == b.nproc_per_node;
  }
  return true;
}

// "SLURM_NODEID=1" -> "SLURM_NODEID" when its value is the option's, so a
// row's message reads "SLURM_NODEID '1': ..."; longer sources stay whole.
std::string RowSource(const InferredOption& o) {
  size_t eq = o.source.find('=');
  if (eq != std::string::npos && o.source.substr(eq + 1) == o.value &&
      o.source.find(' ') == std::string::npos) {
    return o.source.substr(0, eq);
  }
  return absl::StrCat(o.source, ":");
}

absl::Status Conflict(const RawValue& raw, const InferredOption& o,
                      const SchedulerInference& inference) {
  std::string hint = o.hint.empty() ? "" : absl::StrCat(" (", o.hint, ")");
  return absl::InvalidArgumentError(absl::StrCat(
      raw.source, " ", raw.value, " contradicts ", inference.origin, ": ",
      o.source, " means ", o.option, " ", o.value, hint, "; drop ", raw.source,
      " or use --scheduler none"));
}

}  // namespace

absl::Status ApplySchedulerInference(const SchedulerInference& inference,
                                     const GivenOptionValues& given,
                                     LaunchConfig& config) {
  config.scheduler_summary.clear();
  config.task_placement.reset();
  config.scheduler_hosts_rendezvous.reset();
  if (inference.kind == SchedulerKind::kNone) {
    config.scheduler_summary = SchedulerSummary(inference, config);
    return absl::OkStatus();
  }
  auto explicit_value = [&](const std::string& option) -> const RawValue* {
    auto it = given.find(option);
    if (it == given.end() || FromScheduler(it->second, inference)) {
      return nullptr;
    }
    return &it->second;
  };

  std::vector<std::pair<size_t, const InferredOption*>> ordered;
  for (const InferredOption& o : inference.options) {
    size_t index = 0;
    if (FindRow(o.option, &index) == nullptr) {
      return absl::InternalError(
          absl::StrCat("scheduler inference names unknown option ", o.option));
    }
    ordered.emplace_back(index, &o);
  }
  std::stable_sort(
      ordered.begin(), ordered.end(),
      [](const auto& a, const auto& b) { return a.first < b.first; });

  const RawValue* standalone = explicit_value("--standalone");
  bool inferred_endpoint = false;
  bool endpoint_applied = false;
  for (const auto& [index, o] : ordered) {
    const OptionDef& row = CommandLineOptions()[index];
    RawValue inferred{o->value, RowSource(*o)};
    const bool is_endpoint = o->option == "--rdzv-endpoint";
    inferred_endpoint |= is_endpoint;
    if (const RawValue* raw = explicit_value(o->option)) {
      if (!o->binding) continue;  // An explicit choice wins.
      LaunchConfig probe = config;
      if (!row.apply(inferred, probe).ok() ||
          !SameFacts(o->option, probe, config)) {
        return Conflict(*raw, *o, inference);
      }
      continue;
    }
    if (is_endpoint && standalone != nullptr) continue;
    RETURN_IF_ERROR(row.apply(inferred, config));
    endpoint_applied |= is_endpoint;
  }
  if (standalone != nullptr && config.max_nodes > 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        standalone->source, " contradicts ", inference.origin, ": ",
        config.max_nodes, " nodes; drop it or use --scheduler none"));
  }
  if (inference.master_is_endpoint) {
    // PET_MASTER_ADDR/PORT named the rendezvous endpoint; the workers' store
    // gets node 0's own port, or it would collide with the server there.
    for (const char* option : {"--master-addr", "--master-port"}) {
      auto it = given.find(option);
      if (it != given.end() && FromScheduler(it->second, inference)) {
        if (std::string(option) == "--master-addr") config.master_addr.clear();
        if (std::string(option) == "--master-port") config.master_port = 0;
      }
    }
  }
  config.task_placement = inference.task;
  // --nproc auto/gpu inside a GPU step: the step's GPUs, not whatever
  // /proc/driver/nvidia lists (all of a shared node's without cgroups).
  if (inference.gpus_on_node.has_value() &&
      (config.nproc_mode == NprocMode::kAuto ||
       config.nproc_mode == NprocMode::kGpu)) {
    config.nproc_per_node = *inference.gpus_on_node;
    config.nproc_mode = NprocMode::kCount;
  }
  if (!inferred_endpoint || endpoint_applied) {
    config.scheduler_hosts_rendezvous = inference.hosts_rendezvous;
  }
  // Where the scheduler also named the endpoint, its decision is the
  // self-hosted endpoint's is_host, as if --rdzv-conf is_host were given: a
  // pod whose endpoint is a Service name (never one of its own addresses)
  // still hosts as pod 0, and the other tasks of Slurm's or MPI's node 0 do
  // not race task 0 for the port. Not for an endpoint the user's
  // --rdzv-endpoint or --master-addr named: a tprdzvd may serve it.
  if (endpoint_applied && explicit_value("--master-addr") == nullptr &&
      !config.rdzv_is_host.has_value()) {
    config.rdzv_is_host = inference.hosts_rendezvous;
  }
  config.scheduler_summary = SchedulerSummary(inference, config);
  return absl::OkStatus();
}

absl::Status ApplyScheduler(const std::map<std::string, std::string>& env,
                            const GivenOptionValues& given,
                            LaunchConfig& config) {
  SchedulerInputs in;
  in.env = env;
  in.choice = config.scheduler;
  if (auto it = env.find("HOSTNAME"); it != env.end() && !it->second.empty()) {
    in.hostname = it->second;
  } else {
    char name[256] = {};
    if (gethostname(name, sizeof(name) - 1) == 0) in.hostname = name;
  }
  in.parent_pid = getppid();
  for (const auto& [option, raw] : given) in.given[option] = raw.value;
  ASSIGN_OR_RETURN(SchedulerInference inference, InferScheduler(in));
  return ApplySchedulerInference(inference, given, config);
}

std::string SchedulerSummary(const SchedulerInference& inference,
                             const LaunchConfig& config) {
  if (inference.kind == SchedulerKind::kNone) return inference.note;
  std::string s = absl::StrCat(inference.origin, ": ");
  const bool per_task = inference.mode == LaunchMode::kPerTask;
  if (per_task && config.task_placement) {
    const TaskPlacement& t = *config.task_placement;
    absl::StrAppend(&s, "task ", inference.task_rank, " of ",
                    inference.task_count, ", one worker per task (local rank ",
                    t.local_rank, " of ", t.local_world_size);
    if (t.group_rank >= 0) {
      absl::StrAppend(&s, ", node ", t.group_rank, " of ", t.group_world_size);
    }
    absl::StrAppend(&s, ")");
  } else {
    if (config.min_nodes == config.max_nodes) {
      absl::StrAppend(&s, config.max_nodes,
                      config.max_nodes == 1 ? " node" : " nodes");
    } else {
      absl::StrAppend(&s, config.min_nodes, ":", config.max_nodes, " nodes");
    }
    if (config.node_rank >= 0) {
      absl::StrAppend(&s, ", node rank ", config.node_rank);
    } else {
      absl::StrAppend(&s, ", node rank from the rendezvous");
    }
  }
  if (config.rdzv_endpoint) {
    absl::StrAppend(&s, ", endpoint ", config.rdzv_endpoint->ToString());
    if (config.scheduler_hosts_rendezvous.has_value()) {
      absl::StrAppend(&s, *config.scheduler_hosts_rendezvous
                              ? " (hosted here)"
                              : (per_task ? " (hosted by task 0)"
                                          : " (hosted by another node)"));
    }
  } else {
    absl::StrAppend(&s, ", standalone");
  }
  if (!inference.variables.empty()) {
    absl::StrAppend(&s, "; from ", absl::StrJoin(inference.variables, ", "));
  }
  if (!inference.note.empty()) absl::StrAppend(&s, "; ", inference.note);
  return s;
}

}  // namespace tplaunch
