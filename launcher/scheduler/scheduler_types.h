// scheduler_types: the scheduler values a LaunchConfig carries
// (launch_config.h includes this header, which needs only absl::Status), so
// that the config stays plain data while launcher/scheduler/ decides them.
#ifndef TPLAUNCH_LAUNCHER_SCHEDULER_SCHEDULER_TYPES_H_
#define TPLAUNCH_LAUNCHER_SCHEDULER_SCHEDULER_TYPES_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace tplaunch {

// --scheduler: whose variables fill in what the command line leaves open.
enum class SchedulerChoice {
  kAuto,        // The first scheduler whose variables are present.
  kSlurm,       // Slurm's, and an error when tplaunch is not in an srun step.
  kKubernetes,  // Kubeflow's PyTorchJob / Trainer, or an Indexed Job's.
  kMpi,         // Open MPI's, MPICH's / Intel MPI's, MVAPICH's, PMIx's.
  kNone,        // None: every scheduler variable is ignored.
};

// "auto", "slurm", "kubernetes" (or "k8s"), "mpi", "none", any case, into
// *choice. InvalidArgument "expected auto, slurm, kubernetes, mpi or none".
absl::Status ParseSchedulerChoice(absl::string_view text,
                                  SchedulerChoice* choice);

// One worker per scheduler task (srun --ntasks-per-node=8, mpirun -np 8): the
// worker variables the scheduler decides rather than the rendezvous. RANK and
// WORLD_SIZE still come from the rendezvous, where every task is a one-worker
// node whose node rank is its task rank.
struct TaskPlacement {
  int local_rank = 0;        // LOCAL_RANK: the task's index on its host.
  int local_world_size = 1;  // LOCAL_WORLD_SIZE: the tasks on its host.
  // GROUP_RANK: the index of the task's host among the job's hosts; -1 where
  // the scheduler does not say (MPI), and the rendezvous' value is kept.
  int group_rank = -1;
  // GROUP_WORLD_SIZE: the job's hosts; 0 where the scheduler does not say.
  int group_world_size = 0;
};

}  // namespace tplaunch

#endif  // TPLAUNCH_LAUNCHER_SCHEDULER_SCHEDULER_TYPES_H_
