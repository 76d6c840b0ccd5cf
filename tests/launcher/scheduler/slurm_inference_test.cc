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

// Task 1 of `srun -N1 -n2 env` on a real slurmd (Slurm 22.05, Debian 12): its
// SLURM_* variables exactly as printed.
const Env kSrunOneNodeTwoTasks = {
    {"SLURMD_NODENAME", "vm"},
    {"SLURM_CLUSTER_NAME", "tpl"},
    {"SLURM_CPUS_ON_NODE", "2"},
    {"SLURM_GTIDS", "0,1"},
    {"SLURM_JOBID", "1"},
    {"SLURM_JOB_CPUS_PER_NODE", "2"},
    {"SLURM_JOB_GID", "0"},
    {"SLURM_JOB_ID", "1"},
    {"SLURM_JOB_NAME", "env"},
    {"SLURM_JOB_NODELIST", "vm"},
    {"SLURM_JOB_NUM_NODES", "1"},
    {"SLURM_JOB_PARTITION", "debug"},
    {"SLURM_JOB_UID", "0"},
    {"SLURM_JOB_USER", "root"},
    {"SLURM_LAUNCH_NODE_IPADDR", "127.0.0.1"},
    {"SLURM_LOCALID", "1"},
    {"SLURM_NNODES", "1"},
    {"SLURM_NODEID", "0"},
    {"SLURM_NODELIST", "vm"},
    {"SLURM_NPROCS", "2"},
    {"SLURM_NTASKS", "2"},
    {"SLURM_PRIO_PROCESS", "0"},
    {"SLURM_PROCID", "1"},
    {"SLURM_SRUN_COMM_HOST", "127.0.0.1"},
    {"SLURM_SRUN_COMM_PORT", "44813"},
    {"SLURM_STEPID", "0"},
    {"SLURM_STEP_ID", "0"},
    {"SLURM_STEP_LAUNCHER_PORT", "44813"},
    {"SLURM_STEP_NODELIST", "vm"},
    {"SLURM_STEP_NUM_NODES", "1"},
    {"SLURM_STEP_NUM_TASKS", "2"},
    {"SLURM_STEP_TASKS_PER_NODE", "2"},
    {"SLURM_SUBMIT_DIR", "/tmp/sched_slurm"},
    {"SLURM_SUBMIT_HOST", "vm"},
    {"SLURM_TASKS_PER_NODE", "2"},
    {"SLURM_TASK_PID", "16771"},
    {"SLURM_TOPOLOGY_ADDR", "vm"},
    {"SLURM_TOPOLOGY_ADDR_PATTERN", "node"},
    {"SLURM_UMASK", "0022"},
    {"SLURM_WORKING_CLUSTER", "tpl:127.0.0.1:16817:9728:109"},
};

// Node 1 of `srun -N2 --ntasks-per-node=1` in job 4242 on gpu01 and gpu02:
// the same variables with a two-node step's values.
const Env kSrunTwoNodes =
    With(kSrunOneNodeTwoTasks, {{"SLURMD_NODENAME", "gpu02"},
                                {"SLURM_JOBID", "4242"},
                                {"SLURM_JOB_ID", "4242"},
                                {"SLURM_JOB_NODELIST", "gpu[01-02]"},
                                {"SLURM_NODELIST", "gpu[01-02]"},
                                {"SLURM_JOB_NUM_NODES", "2"},
                                {"SLURM_NNODES", "2"},
                                {"SLURM_STEP_NUM_NODES", "2"},
                                {"SLURM_NTASKS", "2"},
                                {"SLURM_NPROCS", "2"},
                                {"SLURM_STEP_NUM_TASKS", "2"},
                                {"SLURM_NODEID", "1"},
                                {"SLURM_PROCID", "1"},
                                {"SLURM_LOCALID", "0"},
                                {"SLURM_GTIDS", "1"},
                                {"SLURM_STEP_NODELIST", "gpu[01-02]"},
                                {"SLURM_STEP_TASKS_PER_NODE", "1(x2)"},
                                {"SLURM_TASKS_PER_NODE", "1(x2)"},
                                {"SLURM_LAUNCH_NODE_IPADDR", "10.0.0.250"},
                                {"SLURM_TOPOLOGY_ADDR", "gpu02"}});

TEST_CASE("Slurm, one task per node: nodes, node rank, endpoint, run id") {
  const int port = SlurmRendezvousPort(4242, 0);
  CHECK(port == 25000 + (4242 * 4) % 4000);
  SchedulerInference r = Infer(kSrunTwoNodes);
  CHECK(r.kind == SchedulerKind::kSlurm);
  CHECK(r.mode == LaunchMode::kPerNode);
  CHECK(r.origin == "Slurm job 4242 step 0");
  CHECK(Options(r) ==
        OptionValues{{"--nnodes", "2"},
                     {"--node-rank", "1"},
                     {"--rdzv-endpoint", "gpu01:" + std::to_string(port)},
                     {"--rdzv-id", "slurm-4242-0"}});
  CHECK(IsBinding(r, "--nnodes"));
  CHECK(IsBinding(r, "--node-rank"));
  CHECK_FALSE(IsBinding(r, "--rdzv-endpoint"));
  CHECK(r.hosts_rendezvous == false);
  CHECK_FALSE(r.task.has_value());

  SchedulerInference node0 = Infer(
      With(kSrunTwoNodes, {{"SLURM_NODEID", "0"}, {"SLURM_PROCID", "0"}}));
  CHECK(node0.hosts_rendezvous == true);
  CHECK(Options(node0).at("--node-rank") == "0");
}

TEST_CASE("Slurm's endpoint is the step's first host, never the launch node") {
  // A step on part of the job's nodes: the step's list wins.
  SchedulerInference r =
      Infer(With(kSrunTwoNodes, {{"SLURM_JOB_NODELIST", "gpu[01-04]"},
                                 {"SLURM_STEP_NODELIST", "gpu[03-04]"}}));
  CHECK(Options(r).at("--rdzv-endpoint").rfind("gpu03:", 0) == 0);
  // Without a step list, the job's.
  Env no_step_list = kSrunTwoNodes;
  no_step_list.erase("SLURM_STEP_NODELIST");
  no_step_list["SLURM_JOB_NODELIST"] = "a[1-2]-b[3-4]";
  CHECK(Options(Infer(no_step_list)).at("--rdzv-endpoint").rfind("a1-b3:", 0) ==
        0);
}

TEST_CASE("steps of one job and neighbouring jobs get different ports") {
  CHECK(SlurmRendezvousPort(4242, 0) != SlurmRendezvousPort(4242, 1));
  CHECK(SlurmRendezvousPort(4242, 0) != SlurmRendezvousPort(4243, 0));
  for (uint64_t job : {0ull, 1ull, 999ull, 123456789ull}) {
    for (uint64_t step : {0ull, 3ull, 7ull}) {
      int p = SlurmRendezvousPort(job, step);
      CHECK(p >= kSchedulerPortBase);
      CHECK(p < kSchedulerPortBase + kSchedulerPortSpan);
    }
  }
  SchedulerInference step1 = Infer(
      With(kSrunTwoNodes, {{"SLURM_STEP_ID", "1"}, {"SLURM_STEPID", "1"}}));
  CHECK(step1.origin == "Slurm job 4242 step 1");
  CHECK(Options(step1).at("--rdzv-id") == "slurm-4242-1");
}

TEST_CASE("a one-node, one-task step is standalone") {
  Env one = With(kSrunOneNodeTwoTasks, {{"SLURM_NTASKS", "1"},
                                        {"SLURM_NPROCS", "1"},
                                        {"SLURM_STEP_NUM_TASKS", "1"},
                                        {"SLURM_PROCID", "0"},
                                        {"SLURM_LOCALID", "0"},
                                        {"SLURM_STEP_TASKS_PER_NODE", "1"},
                                        {"SLURM_TASKS_PER_NODE", "1"}});
  SchedulerInference r = Infer(one);
  CHECK(r.mode == LaunchMode::kPerNode);
  CHECK(Options(r) == OptionValues{{"--nnodes", "1"}, {"--node-rank", "0"}});
  CHECK_FALSE(r.hosts_rendezvous.has_value());
}

TEST_CASE("Slurm, one task per worker: the real srun -N1 -n2 environment") {
  SchedulerInference r = Infer(kSrunOneNodeTwoTasks);
  CHECK(r.mode == LaunchMode::kPerTask);
  CHECK(r.task_rank == 1);
  CHECK(r.task_count == 2);
  CHECK(Options(r) ==
        OptionValues{{"--nnodes", "2"},
                     {"--node-rank", "1"},
                     {"--nproc-per-node", "1"},
                     {"--rdzv-endpoint",
                      "vm:" + std::to_string(SlurmRendezvousPort(1, 0))},
                     {"--rdzv-id", "slurm-1-0"}});
  CHECK(IsBinding(r, "--nproc-per-node"));
  REQUIRE(r.task.has_value());
  CHECK(r.task->local_rank == 1);
  CHECK(r.task->local_world_size == 2);
  CHECK(r.task->group_rank == 0);
  CHECK(r.task->group_world_size == 1);
  CHECK(r.hosts_rendezvous == false);
  CHECK(Infer(With(kSrunOneNodeTwoTasks,
                   {{"SLURM_PROCID", "0"}, {"SLURM_LOCALID", "0"}}))
            .hosts_rendezvous == true);
}

TEST_CASE("Slurm per task on uneven nodes: tasks on this node from 2(x3),1") {
  // srun -n7 on 4 nodes, block distribution: task 6 alone on node 3.
  SchedulerInference r =
      Infer(With(kSrunTwoNodes, {{"SLURM_STEP_NUM_NODES", "4"},
                                 {"SLURM_NNODES", "4"},
                                 {"SLURM_STEP_NUM_TASKS", "7"},
                                 {"SLURM_NTASKS", "7"},
                                 {"SLURM_STEP_NODELIST", "gpu[01-04]"},
                                 {"SLURM_STEP_TASKS_PER_NODE", "2(x3),1"},
                                 {"SLURM_NODEID", "3"},
                                 {"SLURM_PROCID", "6"},
                                 {"SLURM_LOCALID", "0"}}));
  CHECK(r.mode == LaunchMode::kPerTask);
  REQUIRE(r.task.has_value());
  CHECK(r.task->local_world_size == 1);
  CHECK(r.task->group_rank == 3);
  CHECK(r.task->group_world_size == 4);
  CHECK(Options(r).at("--nnodes") == "7");
  CHECK(Options(r).at("--node-rank") == "6");
}

TEST_CASE("a GPU step's GPUs on this node: step's, node's, then CUDA's") {
  // None said: the host's count decides.
  CHECK_FALSE(Infer(kSrunTwoNodes).gpus_on_node.has_value());
  // srun --gpus-per-node=4 sets all three; the step's list wins.
  CHECK(Infer(With(kSrunTwoNodes, {{"SLURM_STEP_GPUS", "0,1,4-5"},
                                   {"SLURM_GPUS_ON_NODE", "8"},
                                   {"CUDA_VISIBLE_DEVICES", "0,1,2"}}))
            .gpus_on_node == 4);
  CHECK(Infer(With(kSrunTwoNodes, {{"SLURM_GPUS_ON_NODE", "8"},
                                   {"CUDA_VISIBLE_DEVICES", "0,1,2"}}))
            .gpus_on_node == 8);
  CHECK(Infer(With(kSrunTwoNodes, {{"SLURM_GPUS_ON_NODE", "0"},
                                   {"CUDA_VISIBLE_DEVICES", "GPU-a1,GPU-b2"}}))
            .gpus_on_node == 2);
  // CUDA stops at the first entry that starts with '-'.
  CHECK(Infer(With(kSrunTwoNodes, {{"CUDA_VISIBLE_DEVICES", "3,-1,4"}}))
            .gpus_on_node == 1);
  CHECK_FALSE(Infer(With(kSrunTwoNodes, {{"CUDA_VISIBLE_DEVICES", "-1"}}))
                  .gpus_on_node.has_value());
  CHECK_THAT(InferError(With(kSrunTwoNodes, {{"SLURM_STEP_GPUS", "0,x"}})),
             Catch::Contains("SLURM_STEP_GPUS=0,x: not a list of GPU "
                             "indices"));
  // One task per worker: each task is one worker whatever the GPUs.
  CHECK_FALSE(Infer(With(kSrunOneNodeTwoTasks, {{"SLURM_GPUS_ON_NODE", "2"}}))
                  .gpus_on_node.has_value());
}

TEST_CASE("sbatch's script and salloc's shell are not steps") {
  // What the batch script of `sbatch -N1 -n2` saw: no SLURM_STEP_ID.
  Env batch = kSrunOneNodeTwoTasks;
  batch.erase("SLURM_STEP_ID");
  batch.erase("SLURM_STEPID");
  SchedulerInference r = Infer(batch);
  CHECK(r.kind == SchedulerKind::kNone);
  CHECK_THAT(r.note, Catch::Contains("not an srun step"));
  CHECK_THAT(InferError(batch, SchedulerChoice::kSlurm),
             Catch::Contains("--scheduler slurm: no srun step"));
}

TEST_CASE(
    "Slurm variables that do not parse or disagree are errors naming them") {
  CHECK_THAT(InferError(With(kSrunTwoNodes, {{"SLURM_NODEID", "2"}})),
             Catch::Contains("SLURM_NODEID=2"));
  CHECK_THAT(InferError(With(kSrunTwoNodes, {{"SLURM_NODEID", "x"}})),
             Catch::Contains("SLURM_NODEID 'x'"));
  CHECK_THAT(
      InferError(With(kSrunTwoNodes, {{"SLURM_STEP_NODELIST", "gpu[01-"}})),
      Catch::Contains("SLURM_STEP_NODELIST: hostlist 'gpu[01-'"));
  CHECK_THAT(InferError(With(kSrunOneNodeTwoTasks,
                             {{"SLURM_STEP_TASKS_PER_NODE", "2(x"}})),
             Catch::Contains("SLURM_STEP_TASKS_PER_NODE"));
  CHECK_THAT(InferError(With(kSrunOneNodeTwoTasks, {{"SLURM_LOCALID", "2"}})),
             Catch::Contains("SLURM_LOCALID=2"));
}

TEST_CASE("--scheduler none ignores Slurm; another choice does not see it") {
  CHECK(Infer(kSrunTwoNodes, SchedulerChoice::kNone).kind ==
        SchedulerKind::kNone);
  CHECK_THAT(InferError(kSrunTwoNodes, SchedulerChoice::kMpi),
             Catch::Contains("--scheduler mpi"));
}

TEST_CASE("the variables read are listed for the summary") {
  SchedulerInference r = Infer(kSrunTwoNodes);
  for (const char* v : {"SLURM_JOB_ID", "SLURM_STEP_ID", "SLURM_STEP_NUM_NODES",
                        "SLURM_NODEID", "SLURM_STEP_NODELIST"}) {
    CHECK(std::find(r.variables.begin(), r.variables.end(), v) !=
          r.variables.end());
  }
  CHECK(std::find(r.variables.begin(), r.variables.end(),
                  "SLURM_LAUNCH_NODE_IPADDR") == r.variables.end());
}

}  // namespace
}  // namespace tplaunch
