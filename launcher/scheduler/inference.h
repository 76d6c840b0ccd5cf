// inference: what the scheduler that started this process says about the
// job, decided from the environment alone (srun's SLURM_*, Kubeflow's PET_*
// and pod variables, mpirun's OMPI_* / PMI_* / MV2_*), before any option is
// applied. Pure: InferScheduler reads only its inputs.
//
// The result is a list of option values in the text tplaunch's own option
// parsers take ("--nnodes" = "2", "--rdzv-endpoint" = "gpu01:25017"), so that
// apply.h can give each to its option row exactly as if the user had typed
// it, plus what no option expresses: the one-task-per-worker placement and
// whether this node should host the rendezvous. docs/schedulers.md lists every
// variable read.
#ifndef TPLAUNCH_LAUNCHER_SCHEDULER_INFERENCE_H_
#define TPLAUNCH_LAUNCHER_SCHEDULER_INFERENCE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "launcher/scheduler/scheduler_types.h"

namespace tplaunch {

enum class SchedulerKind { kNone, kSlurm, kKubernetes, kMpi };

enum class LaunchMode {
  // One tplaunch per node, starting --nproc-per-node workers (srun
  // --ntasks-per-node=1, a PyTorchJob pod).
  kPerNode,
  // One tplaunch per worker: the scheduler started every process (srun
  // --ntasks-per-node=8, mpirun -np 8). Each is a one-worker rendezvous node
  // whose node rank is its task rank; see TaskPlacement.
  kPerTask,
};

// A value one of tplaunch's options takes from the scheduler.
struct InferredOption {
  std::string option;  // Canonical name: "--nnodes".
  std::string value;   // As the option's parser takes it: "2", "1:4".
  // The variables it came from, for messages: "SLURM_STEP_NUM_NODES=2".
  std::string source;
  // A fact of the allocation (nodes, node rank, one worker per task): an
  // explicit value that differs is a usage error, not an override.
  bool binding = false;
  // For a binding option: why the scheduler's value cannot change, appended
  // to the conflict message ("" for none).
  std::string hint;
};

struct SchedulerInference {
  SchedulerKind kind = SchedulerKind::kNone;
  // Who said it, the start of the summary line: "Slurm job 4242 step 0",
  // "Kubeflow PyTorchJob (elastic)", "Open MPI".
  std::string origin;
  LaunchMode mode = LaunchMode::kPerNode;
  std::vector<InferredOption> options;
  // kPerTask: the worker's local and group values.
  std::optional<TaskPlacement> task;
  // Whether this node should host the rendezvous server at the endpoint
  // (Slurm node 0 or task 0, pod 0, MPI rank 0); nullopt: the scheduler does
  // not say, the endpoint's address decides.
  std::optional<bool> hosts_rendezvous;
  // Slurm, one task per node: the GPUs the step has on this node
  // (SLURM_STEP_GPUS, SLURM_GPUS_ON_NODE, or srun's CUDA_VISIBLE_DEVICES),
  // which --nproc auto and gpu count instead of the host's; nullopt: not said.
  std::optional<int> gpus_on_node;
  // kPerTask: this task's rank and the tasks of the job, for the summary.
  int task_rank = 0;
  int task_count = 1;
  // Static PyTorchJob and Trainer: MASTER_ADDR/PORT (or PET_MASTER_ADDR/PORT)
  // became the rendezvous endpoint, so values of --master-addr/--master-port
  // that came from those variables must not also name the workers' store.
  bool master_is_endpoint = false;
  // Every variable the inference used, "NAME", in the order read.
  std::vector<std::string> variables;
  // Said once at start although nothing was inferred ("SLURM_JOB_ID is set
  // but this is not an srun step ..."); "" for nothing.
  std::string note;
};

// Everything InferScheduler reads.
struct SchedulerInputs {
  std::map<std::string, std::string> env;
  SchedulerChoice choice = SchedulerChoice::kAuto;
  // This host's name: a pod compares it with the endpoint host to know
  // whether it is the one that hosts.
  std::string hostname;
  // The parent process: every rank mpirun starts on one host shares it (the
  // local daemon), so it keys the job when MPI exports no job id.
  int64_t parent_pid = 0;
  // The options the user gave explicitly (canonical name -> value): an
  // Indexed Job needs --nnodes and --rdzv-endpoint from the user, MPI across
  // hosts --rdzv-endpoint or --master-addr.
  std::map<std::string, std::string> given;
};

// What the environment says. kind kNone (perhaps with a note) when no
// scheduler's variables are present or choice is kNone. Errors
// (InvalidArgument, naming the variable and its value): a variable that does
// not parse or contradicts another (SLURM_NODEID 3 in a 2-node step), an
// explicit choice whose scheduler is absent ("--scheduler slurm" outside
// srun), MPI across hosts with neither --rdzv-endpoint nor --master-addr.
absl::StatusOr<SchedulerInference> InferScheduler(const SchedulerInputs& in);

// The rendezvous ports a scheduler's endpoint gets when it names none:
// kSchedulerPortBase .. kSchedulerPortBase + kSchedulerPortSpan - 1, below
// Linux's ephemeral range (32768+, so no outgoing connection holds one) and
// clear of torchrun's 29400/29500 defaults.
inline constexpr int kSchedulerPortBase = 25000;
inline constexpr int kSchedulerPortSpan = 4000;
// MPI across hosts with --master-addr and no job id to derive a port from:
// torchrun's c10d default, so the endpoint is where a torchrun user expects.
inline constexpr int kDefaultMpiRendezvousPort = 29400;

// Slurm: 4 ports per job id, one per step id modulo 4, so that the steps of
// one job and jobs with nearby ids (the ones sharing a node at one time) never
// collide; ids kSchedulerPortSpan / 4 apart share ports.
int SlurmRendezvousPort(uint64_t job_id, uint64_t step_id);

// A port from any text naming a job (an MPI job id, a parent pid): FNV-1a
// folded into the range.
int HashedRendezvousPort(absl::string_view key);

}  // namespace tplaunch

#endif  // TPLAUNCH_LAUNCHER_SCHEDULER_INFERENCE_H_
