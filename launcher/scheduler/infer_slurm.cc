// Slurm: srun's per-task variables -> one tplaunch per node (as many tasks as
// nodes) or one per worker (more tasks than nodes).
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"
#include "launcher/scheduler/hostlist.h"
#include "launcher/scheduler/infer_internal.h"

namespace tplaunch {
namespace scheduler_internal {
namespace {

constexpr int64_t kMaxTasks = 10000000;
// Slurm's step ids are 32-bit; the special ones (batch, extern, interactive)
// are never an srun step's.
constexpr int64_t kMaxStepId = 0xFFFFFFF0;

absl::Status Inconsistent(const std::string& a, const std::string& b) {
  return absl::InvalidArgumentError(
      absl::StrCat("Slurm variables disagree: ", a, " with ", b));
}

// The tasks on node `node_id`: from the step's (else the job's) run-length
// list, else an even split.
absl::StatusOr<int> TasksOnNode(EnvReader& env, int64_t node_id, int64_t nnodes,
                                int64_t ntasks) {
  std::optional<EnvValue> list =
      env.First({"SLURM_STEP_TASKS_PER_NODE", "SLURM_TASKS_PER_NODE"});
  if (list) {
    absl::StatusOr<std::vector<int>> counts = ExpandTasksPerNode(list->value);
    if (!counts.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(list->name, ": ", counts.status().message()));
    }
    if (node_id < static_cast<int64_t>(counts->size())) {
      return (*counts)[node_id];
    }
  }
  if (ntasks % nnodes != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot tell the tasks on node ", node_id,
                     ": SLURM_STEP_TASKS_PER_NODE is not set and ", ntasks,
                     " tasks do not divide evenly over ", nnodes, " nodes"));
  }
  return static_cast<int>(ntasks / nnodes);
}

// "0,1,4-5" (a list of GPU indices, ranges allowed) -> 4.
absl::StatusOr<int> CountIndices(const EnvValue& v) {
  int n = 0;
  for (absl::string_view item : absl::StrSplit(v.value, ',')) {
    std::pair<absl::string_view, absl::string_view> range =
        absl::StrSplit(item, absl::MaxSplits('-', 1));
    int first = 0;
    int last = 0;
    if (!absl::SimpleAtoi(range.first, &first) ||
        !absl::SimpleAtoi(range.second.empty() ? range.first : range.second,
                          &last) ||
        first < 0 || last < first || last - first > 4096) {
      return absl::InvalidArgumentError(
          absl::StrCat(v.Describe(), ": not a list of GPU indices (0,1,4-5)"));
    }
    n += last - first + 1;
  }
  return n;
}

// The GPUs this step has on this node, for --nproc auto/gpu: the step's own
// (SLURM_STEP_GPUS), else the job's on this node (SLURM_GPUS_ON_NODE), else
// the CUDA_VISIBLE_DEVICES srun set (items are opaque; CUDA stops at the
// first that starts with '-'). nullopt when none says a positive count.
absl::StatusOr<std::optional<int>> StepGpus(EnvReader& env) {
  if (std::optional<EnvValue> v = env.First({"SLURM_STEP_GPUS"})) {
    if (!v->value.empty()) {
      ASSIGN_OR_RETURN(int n, CountIndices(*v));
      return std::optional<int>(n);
    }
  }
  ASSIGN_OR_RETURN(std::optional<int64_t> on_node,
                   env.Int({"SLURM_GPUS_ON_NODE"}, 0, 4096));
  if (on_node.has_value() && *on_node > 0) {
    return std::optional<int>(static_cast<int>(*on_node));
  }
  if (std::optional<EnvValue> v = env.First({"CUDA_VISIBLE_DEVICES"})) {
    int n = 0;
    for (absl::string_view item :
         absl::StrSplit(v->value, ',', absl::SkipWhitespace())) {
      if (absl::StartsWith(absl::StripAsciiWhitespace(item), "-")) break;
      ++n;
    }
    if (n > 0) return std::optional<int>(n);
  }
  return std::optional<int>();
}

}  // namespace

absl::StatusOr<SchedulerInference> InferSlurm(const SchedulerInputs& in) {
  EnvReader env(in.env);
  SchedulerInference r;
  if (!env.Has({"SLURM_JOB_ID", "SLURM_JOBID"})) return r;
  if (!env.Has({"SLURM_STEP_ID", "SLURM_STEPID"})) {
    // sbatch's script or an salloc shell: the allocation's variables, but
    // only this one process; its nodes get nothing unless srun starts them.
    std::optional<EnvValue> job = env.First({"SLURM_JOB_ID", "SLURM_JOBID"});
    r.note = absl::StrCat(
        "Slurm job ", job->value,
        " but not an srun step (SLURM_STEP_ID is unset): running as a "
        "single node; start tplaunch with srun to use the job's nodes");
    return r;
  }
  ASSIGN_OR_RETURN(int64_t job_id,
                   env.RequiredInt({"SLURM_JOB_ID", "SLURM_JOBID"}, 0,
                                   INT64_MAX / 8, "Slurm job id"));
  ASSIGN_OR_RETURN(int64_t step_id,
                   env.RequiredInt({"SLURM_STEP_ID", "SLURM_STEPID"}, 0,
                                   kMaxStepId, "Slurm step id"));
  ASSIGN_OR_RETURN(int64_t nnodes,
                   env.RequiredInt({"SLURM_STEP_NUM_NODES", "SLURM_NNODES"}, 1,
                                   kMaxTasks, "Slurm step's node count"));
  ASSIGN_OR_RETURN(
      int64_t ntasks,
      env.RequiredInt({"SLURM_STEP_NUM_TASKS", "SLURM_NTASKS", "SLURM_NPROCS"},
                      1, kMaxTasks, "Slurm step's task count"));
  ASSIGN_OR_RETURN(int64_t node_id,
                   env.RequiredInt({"SLURM_NODEID"}, 0, kMaxTasks,
                                   "this task's node index"));
  ASSIGN_OR_RETURN(
      int64_t proc_id,
      env.RequiredInt({"SLURM_PROCID"}, 0, kMaxTasks, "this task's rank"));
  if (node_id >= nnodes) {
    return Inconsistent(absl::StrCat("SLURM_NODEID=", node_id),
                        absl::StrCat("a step of ", nnodes, " nodes"));
  }
  if (proc_id >= ntasks || ntasks < nnodes) {
    return Inconsistent(absl::StrCat("SLURM_PROCID=", proc_id),
                        absl::StrCat(ntasks, " tasks on ", nnodes, " nodes"));
  }
  r.kind = SchedulerKind::kSlurm;
  r.origin = absl::StrCat("Slurm job ", job_id, " step ", step_id);
  r.task_rank = static_cast<int>(proc_id);
  r.task_count = static_cast<int>(ntasks);
  r.mode = ntasks > nnodes ? LaunchMode::kPerTask : LaunchMode::kPerNode;
  const std::string run_id = absl::StrCat("slurm-", job_id, "-", step_id);

  // The endpoint is the step's first host: node 0, where SLURM_NODEID 0 and
  // SLURM_PROCID 0 run. Never SLURM_LAUNCH_NODE_IPADDR (srun's host, often
  // the login node).
  std::optional<EnvValue> nodelist = env.First(
      {"SLURM_STEP_NODELIST", "SLURM_JOB_NODELIST", "SLURM_NODELIST"});
  if (!nodelist) {
    return absl::InvalidArgumentError(
        "Slurm step without a node list: SLURM_STEP_NODELIST, "
        "SLURM_JOB_NODELIST and SLURM_NODELIST are unset");
  }
  absl::StatusOr<std::vector<std::string>> hosts =
      ExpandHostlist(nodelist->value);
  if (!hosts.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(nodelist->name, ": ", hosts.status().message()));
  }
  if (hosts->empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(nodelist->name, " is empty"));
  }
  const std::string endpoint =
      absl::StrCat(hosts->front(), ":", SlurmRendezvousPort(job_id, step_id));
  const std::string endpoint_src =
      absl::StrCat("the first host of ", nodelist->Describe(),
                   ", port from SLURM_JOB_ID and SLURM_STEP_ID");
  const std::string id_src =
      absl::StrCat("SLURM_JOB_ID=", job_id, ", SLURM_STEP_ID=", step_id);

  if (r.mode == LaunchMode::kPerNode) {
    r.options.push_back(Binding("--nnodes", absl::StrCat(nnodes),
                                absl::StrCat("SLURM_STEP_NUM_NODES=", nnodes)));
    r.options.push_back(Binding("--node-rank", absl::StrCat(node_id),
                                absl::StrCat("SLURM_NODEID=", node_id)));
    if (nnodes > 1) {
      r.options.push_back(Chosen("--rdzv-endpoint", endpoint, endpoint_src));
      r.options.push_back(Chosen("--rdzv-id", run_id, id_src));
      r.hosts_rendezvous = node_id == 0;
    }
    ASSIGN_OR_RETURN(r.gpus_on_node, StepGpus(env));
  } else {
    ASSIGN_OR_RETURN(int local_tasks,
                     TasksOnNode(env, node_id, nnodes, ntasks));
    ASSIGN_OR_RETURN(int64_t local_id,
                     env.RequiredInt({"SLURM_LOCALID"}, 0, kMaxTasks,
                                     "this task's index on its node"));
    if (local_id >= local_tasks) {
      return Inconsistent(
          absl::StrCat("SLURM_LOCALID=", local_id),
          absl::StrCat(local_tasks, " tasks on node ", node_id));
    }
    const std::string tasks_src =
        absl::StrCat("SLURM_STEP_NUM_TASKS=", ntasks, " on ", nnodes, " nodes");
    r.options.push_back(Binding("--nnodes", absl::StrCat(ntasks), tasks_src,
                                "every task is one rendezvous node"));
    r.options.push_back(Binding("--node-rank", absl::StrCat(proc_id),
                                absl::StrCat("SLURM_PROCID=", proc_id)));
    r.options.push_back(Binding(
        "--nproc-per-node", "1",
        absl::StrCat(local_tasks, " tasks on this node"),
        "with several tasks per node every task is one worker (more would "
        "oversubscribe the GPUs); for one tplaunch per node use srun "
        "--ntasks-per-node=1"));
    r.options.push_back(Chosen("--rdzv-endpoint", endpoint, endpoint_src));
    r.options.push_back(Chosen("--rdzv-id", run_id, id_src));
    r.hosts_rendezvous = proc_id == 0;
    TaskPlacement t;
    t.local_rank = static_cast<int>(local_id);
    t.local_world_size = local_tasks;
    t.group_rank = static_cast<int>(node_id);
    t.group_world_size = static_cast<int>(nnodes);
    r.task = t;
  }
  r.variables = env.used();
  return r;
}

}  // namespace scheduler_internal
}  // namespace tplaunch
