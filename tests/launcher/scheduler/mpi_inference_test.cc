#include <catch2/catch.hpp>

#include "launcher/scheduler/inference.h"
#include "tests/launcher/scheduler/inference_testing.h"

namespace tplaunch {
namespace {

using testing::Env;
using testing::Infer;
using testing::InferError;
using testing::IsBinding;
using testing::Options;
using testing::OptionValues;
using testing::With;

// Rank 1 of `mpirun -np 3` (Open MPI 4.1, Debian 12) on one host: its OMPI_*
// and PMIX_* rank variables exactly as printed.
const Env kOpenMpiRank1 = {
    {"OMPI_APP_CTX_NUM_PROCS", "3"},
    {"OMPI_COMM_WORLD_LOCAL_RANK", "1"},
    {"OMPI_COMM_WORLD_LOCAL_SIZE", "3"},
    {"OMPI_COMM_WORLD_NODE_RANK", "1"},
    {"OMPI_COMM_WORLD_RANK", "1"},
    {"OMPI_COMM_WORLD_SIZE", "3"},
    {"OMPI_FIRST_RANKS", "0"},
    {"OMPI_MCA_ess_base_jobid", "584187905"},
    {"OMPI_MCA_ess_base_vpid", "1"},
    {"OMPI_MCA_orte_ess_node_rank", "1"},
    {"OMPI_MCA_orte_ess_num_procs", "3"},
    {"OMPI_NUM_APP_CTX", "1"},
    {"OMPI_UNIVERSE_SIZE", "2"},
    {"PMIX_HOSTNAME", "vm"},
    {"PMIX_ID", "584187905.1"},
    {"PMIX_NAMESPACE", "584187905"},
    {"PMIX_RANK", "1"},
};

// Rank 1 of `mpirun.mpich -np 3` (MPICH 4.0 Hydra, Debian 12) on one host.
const Env kMpichRank1 = {
    {"HYDI_CONTROL_FD", "7"},
    {"MPI_LOCALNRANKS", "3"},
    {"MPI_LOCALRANKID", "1"},
    {"PMI_FD", "8"},
    {"PMI_RANK", "1"},
    {"PMI_SIZE", "3"},
    {"MPIR_CVAR_CH3_INTERFACE_HOSTNAME", "vm"},
};

// MVAPICH2's mpirun_rsh: rank 5 of 8, four per host.
const Env kMvapichRank5 = {
    {"MV2_COMM_WORLD_RANK", "5"},
    {"MV2_COMM_WORLD_SIZE", "8"},
    {"MV2_COMM_WORLD_LOCAL_RANK", "1"},
    {"MV2_COMM_WORLD_LOCAL_SIZE", "4"},
};

TEST_CASE("Open MPI on one host: one worker per rank, endpoint on localhost") {
  SchedulerInference r = Infer(kOpenMpiRank1);
  CHECK(r.kind == SchedulerKind::kMpi);
  CHECK(r.origin == "Open MPI");
  CHECK(r.mode == LaunchMode::kPerTask);
  const std::string port = std::to_string(HashedRendezvousPort("584187905"));
  CHECK(Options(r) == OptionValues{{"--nnodes", "3"},
                                   {"--node-rank", "1"},
                                   {"--nproc-per-node", "1"},
                                   {"--rdzv-endpoint", "127.0.0.1:" + port},
                                   {"--rdzv-id", "mpi-584187905"}});
  CHECK(IsBinding(r, "--nproc-per-node"));
  REQUIRE(r.task.has_value());
  CHECK(r.task->local_rank == 1);
  CHECK(r.task->local_world_size == 3);
  // OMPI_COMM_WORLD_NODE_RANK is a rank on the node, not the node's index:
  // MPI gives no GROUP_RANK.
  CHECK(r.task->group_rank == -1);
  CHECK(r.hosts_rendezvous == false);
  CHECK(Infer(With(kOpenMpiRank1, {{"OMPI_COMM_WORLD_RANK", "0"},
                                   {"OMPI_COMM_WORLD_LOCAL_RANK", "0"}}))
            .hosts_rendezvous == true);
}

TEST_CASE("MPICH/Intel MPI on one host: keyed by the shared parent process") {
  SchedulerInference r = Infer(kMpichRank1);
  CHECK(r.origin == "MPICH/Intel MPI");
  // The helper's parent pid is 4321.
  const std::string port = std::to_string(HashedRendezvousPort("ppid-4321"));
  CHECK(Options(r).at("--rdzv-endpoint") == "127.0.0.1:" + port);
  CHECK(Options(r).at("--rdzv-id") == "mpi-ppid-4321");
  CHECK(r.task->local_rank == 1);
  CHECK(r.task->local_world_size == 3);
}

TEST_CASE(
    "MPI across hosts needs the endpoint or master address from the user") {
  CHECK_THAT(InferError(kMvapichRank5),
             Catch::Contains("MVAPICH: 8 ranks on more than one host"));
  CHECK_THAT(
      InferError(kMvapichRank5),
      Catch::Contains("give --rdzv-endpoint HOST:PORT (or --master-addr"));
  SchedulerInference with_endpoint =
      Infer(kMvapichRank5, SchedulerChoice::kAuto, "",
            {{"--rdzv-endpoint", "n1:29400"}, {"--rdzv-id", "j"}});
  CHECK(Options(with_endpoint) == OptionValues{{"--nnodes", "8"},
                                               {"--node-rank", "5"},
                                               {"--nproc-per-node", "1"}});
  CHECK_FALSE(with_endpoint.hosts_rendezvous.has_value());
  SchedulerInference with_master = Infer(kMvapichRank5, SchedulerChoice::kAuto,
                                         "", {{"--master-addr", "n1"}});
  CHECK(Options(with_master).at("--rdzv-endpoint") ==
        "n1:" + std::to_string(kDefaultMpiRendezvousPort));
  CHECK(with_master.hosts_rendezvous == false);
  // Open MPI's job id keys both the port and the run id across hosts.
  SchedulerInference ompi =
      Infer(With(kOpenMpiRank1, {{"OMPI_COMM_WORLD_LOCAL_SIZE", "2"}}),
            SchedulerChoice::kAuto, "", {{"--master-addr", "n1"}});
  CHECK(Options(ompi).at("--rdzv-id") == "mpi-584187905");
}

TEST_CASE(
    "MPI variables that do not parse or disagree are errors naming them") {
  CHECK_THAT(InferError(With(kOpenMpiRank1, {{"OMPI_COMM_WORLD_RANK", "3"}})),
             Catch::Contains("OMPI_COMM_WORLD_RANK '3'"));
  CHECK_THAT(InferError(With(kMpichRank1, {{"MPI_LOCALRANKID", "3"}})),
             Catch::Contains("MPI_LOCALRANKID"));
  Env no_local = kMpichRank1;
  no_local.erase("MPI_LOCALNRANKS");
  CHECK_THAT(InferError(no_local), Catch::Contains("MPI_LOCALNRANKS"));
  CHECK_THAT(InferError({{"PMIX_RANK", "2"}, {"PMIX_NAMESPACE", "x"}}),
             Catch::Contains("PMIX_RANK=2 without the world size"));
}

TEST_CASE("mpirun inside a Slurm allocation: MPI's ranks win over the step's") {
  // The ranks inherit the SLURM_* of the daemons' step (one task per node).
  const Env mixed = With(kOpenMpiRank1, {{"SLURM_JOB_ID", "77"},
                                         {"SLURM_STEP_ID", "0"},
                                         {"SLURM_STEP_NUM_NODES", "1"},
                                         {"SLURM_STEP_NUM_TASKS", "1"},
                                         {"SLURM_NODEID", "0"},
                                         {"SLURM_PROCID", "0"},
                                         {"SLURM_LOCALID", "0"},
                                         {"SLURM_STEP_NODELIST", "vm"}});
  CHECK(Infer(mixed).kind == SchedulerKind::kMpi);
  // srun --mpi=pmix: Slurm and PMIx agree, and Slurm knows the hosts.
  const Env agreeing = With(mixed, {{"SLURM_STEP_NUM_TASKS", "3"},
                                    {"SLURM_PROCID", "1"},
                                    {"SLURM_LOCALID", "1"},
                                    {"SLURM_STEP_TASKS_PER_NODE", "3"}});
  CHECK(Infer(agreeing).kind == SchedulerKind::kSlurm);
  CHECK(Infer(agreeing, SchedulerChoice::kMpi).kind == SchedulerKind::kMpi);
}

}  // namespace
}  // namespace tplaunch
