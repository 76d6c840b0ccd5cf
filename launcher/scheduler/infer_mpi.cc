// MPI: mpirun / mpiexec started every rank; one tplaunch per worker, as with
// Slurm's one task per worker. MPI says nothing about where rank 0 runs, so
// across hosts the user names the endpoint.
#include <string>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "launcher/scheduler/infer_internal.h"

namespace tplaunch {
namespace scheduler_internal {
namespace {

constexpr int64_t kMaxRanks = 10000000;

// One MPI implementation's names for the same four values.
struct MpiNames {
  const char* origin;
  const char* rank;
  const char* size;
  const char* local_rank;
  const char* local_size;
};

constexpr MpiNames kImplementations[] = {
    {"Open MPI", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE",
     "OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE"},
    {"MVAPICH", "MV2_COMM_WORLD_RANK", "MV2_COMM_WORLD_SIZE",
     "MV2_COMM_WORLD_LOCAL_RANK", "MV2_COMM_WORLD_LOCAL_SIZE"},
    // MPICH's and Intel MPI's Hydra.
    {"MPICH/Intel MPI", "PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID",
     "MPI_LOCALNRANKS"},
};

}  // namespace

absl::StatusOr<SchedulerInference> InferMpi(const SchedulerInputs& in) {
  EnvReader env(in.env);
  SchedulerInference r;
  const MpiNames* names = nullptr;
  for (const MpiNames& n : kImplementations) {
    if (env.Has({n.rank}) && env.Has({n.size})) {
      names = &n;
      break;
    }
  }
  if (names == nullptr) {
    if (env.Has({"PMIX_RANK"})) {
      return absl::InvalidArgumentError(absl::StrCat(
          "PMIX_RANK=", in.env.at("PMIX_RANK"),
          " without the world size and local rank (OMPI_COMM_WORLD_*, "
          "PMI_SIZE/MPI_LOCALRANKID): start the ranks with a launcher that "
          "exports them (mpirun, srun), or use --scheduler none and give "
          "the values as options"));
    }
    return r;
  }
  ASSIGN_OR_RETURN(int64_t size, env.RequiredInt({names->size}, 1, kMaxRanks,
                                                 "the MPI world size"));
  ASSIGN_OR_RETURN(int64_t rank, env.RequiredInt({names->rank}, 0, size - 1,
                                                 "this process's MPI rank"));
  ASSIGN_OR_RETURN(std::optional<int64_t> local_rank,
                   env.Int({names->local_rank}, 0, size - 1));
  ASSIGN_OR_RETURN(std::optional<int64_t> local_size,
                   env.Int({names->local_size}, 1, size));
  if (!local_rank || !local_size) {
    return absl::InvalidArgumentError(
        absl::StrCat(names->origin, ": ", names->rank, " is set but ",
                     names->local_rank, " or ", names->local_size, " is not"));
  }
  if (*local_rank >= *local_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        names->origin, " variables disagree: ", names->local_rank, "=",
        *local_rank, " with ", names->local_size, "=", *local_size));
  }
  r.kind = SchedulerKind::kMpi;
  r.origin = names->origin;
  r.mode = LaunchMode::kPerTask;
  r.task_rank = static_cast<int>(rank);
  r.task_count = static_cast<int>(size);
  const std::string size_src = absl::StrCat(names->size, "=", size);
  r.options.push_back(Binding("--nnodes", absl::StrCat(size), size_src,
                              "every MPI rank is one rendezvous node"));
  r.options.push_back(Binding("--node-rank", absl::StrCat(rank),
                              absl::StrCat(names->rank, "=", rank)));
  r.options.push_back(
      Binding("--nproc-per-node", "1", size_src,
              "under MPI every rank is one worker; start fewer ranks instead"));
  TaskPlacement t;
  t.local_rank = static_cast<int>(*local_rank);
  t.local_world_size = static_cast<int>(*local_size);
  r.task = t;

  // A job id every rank shares, on every host: Open MPI exports one; MPICH's
  // Hydra does not, and the ranks on one host share their parent (the local
  // proxy) instead.
  std::optional<EnvValue> job =
      env.First({"OMPI_MCA_ess_base_jobid", "PMIX_NAMESPACE"});
  const bool one_host = *local_size == size;
  if (in.given.count("--rdzv-endpoint") > 0) {
    if (job) {
      r.options.push_back(Chosen("--rdzv-id", absl::StrCat("mpi-", job->value),
                                 job->Describe()));
    }
  } else if (one_host) {
    const std::string key =
        job ? job->value : absl::StrCat("ppid-", in.parent_pid);
    r.options.push_back(Chosen(
        "--rdzv-endpoint",
        absl::StrCat("127.0.0.1:", HashedRendezvousPort(key)),
        absl::StrCat("all ", size, " ranks on this host (", names->local_size,
                     "=", *local_size, "), port from ",
                     job ? job->name : "the parent process id")));
    r.options.push_back(Chosen("--rdzv-id", absl::StrCat("mpi-", key),
                               job ? job->Describe() : "the parent process"));
    r.hosts_rendezvous = rank == 0;
  } else if (auto it = in.given.find("--master-addr"); it != in.given.end()) {
    // Global rank 0 belongs on MASTER_ADDR, so rank 0 hosts there.
    const int port =
        job ? HashedRendezvousPort(job->value) : kDefaultMpiRendezvousPort;
    r.options.push_back(
        Chosen("--rdzv-endpoint", absl::StrCat(it->second, ":", port),
               absl::StrCat("--master-addr ", it->second, ", port from ",
                            job ? job->name : "the default")));
    if (job) {
      r.options.push_back(Chosen("--rdzv-id", absl::StrCat("mpi-", job->value),
                                 job->Describe()));
    }
    r.hosts_rendezvous = rank == 0;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        names->origin, ": ", size, " ranks on more than one host (",
        names->local_size, "=", *local_size,
        ") and MPI does not say where rank 0 runs: give --rdzv-endpoint "
        "HOST:PORT (or --master-addr HOST) naming rank 0's host"));
  }
  r.variables = env.used();
  return r;
}

}  // namespace scheduler_internal
}  // namespace tplaunch
