// The scheduler's inference applied through the real command line parser:
// what is filled in, what explicit options override, what contradicts.
#include "launcher/scheduler/apply.h"

#include <catch2/catch.hpp>

#include "launcher/cli.h"
#include "launcher/scheduler/inference.h"
#include "launcher/worker_env.h"
#include "tests/launcher/scheduler/inference_testing.h"

namespace tplaunch {
namespace {

using testing::Env;
using testing::With;

// Node 1 of `srun -N2 --ntasks-per-node=1` in job 4242 on gpu[01-02]
// (slurm_inference_test.cc has the whole environment; these are the
// variables read).
const Env kTwoNodes = {
    {"SLURM_JOB_ID", "4242"},
    {"SLURM_STEP_ID", "0"},
    {"SLURM_STEP_NUM_NODES", "2"},
    {"SLURM_STEP_NUM_TASKS", "2"},
    {"SLURM_NODEID", "1"},
    {"SLURM_PROCID", "1"},
    {"SLURM_LOCALID", "0"},
    {"SLURM_STEP_NODELIST", "gpu[01-02]"},
    {"SLURM_STEP_TASKS_PER_NODE", "1(x2)"},
};

// Task 1 of `srun -N1 -n2` on host vm.
const Env kTwoTasks = {
    {"SLURM_JOB_ID", "1"},
    {"SLURM_STEP_ID", "0"},
    {"SLURM_STEP_NUM_NODES", "1"},
    {"SLURM_STEP_NUM_TASKS", "2"},
    {"SLURM_NODEID", "0"},
    {"SLURM_PROCID", "1"},
    {"SLURM_LOCALID", "1"},
    {"SLURM_STEP_NODELIST", "vm"},
    {"SLURM_STEP_TASKS_PER_NODE", "2"},
};

absl::StatusOr<LaunchConfig> Parse(std::vector<std::string> args,
                                   const Env& env) {
  args.insert(args.begin(), "tplaunch");
  return ParseCommandLine(args, env);
}

LaunchConfig ParseOk(std::vector<std::string> args, const Env& env) {
  absl::StatusOr<LaunchConfig> c = Parse(std::move(args), env);
  INFO(c.status().ToString());
  REQUIRE(c.ok());
  return *c;
}

std::string ParseError(std::vector<std::string> args, const Env& env) {
  absl::StatusOr<LaunchConfig> c = Parse(std::move(args), env);
  REQUIRE_FALSE(c.ok());
  CHECK(absl::IsInvalidArgument(c.status()));
  return std::string(c.status().message());
}

TEST_CASE("srun, one task per node: the command line needs only PROGRAM") {
  LaunchConfig c = ParseOk({"--nproc", "8", "train"}, kTwoNodes);
  CHECK(c.min_nodes == 2);
  CHECK(c.max_nodes == 2);
  CHECK(c.node_rank == 1);
  CHECK(c.nproc_per_node == 8);
  REQUIRE(c.rdzv_endpoint.has_value());
  const int port = SlurmRendezvousPort(4242, 0);
  CHECK(c.rdzv_endpoint->ToString() == "gpu01:" + std::to_string(port));
  CHECK(c.rdzv_id == "slurm-4242-0");
  CHECK_FALSE(c.standalone);
  CHECK(c.scheduler_hosts_rendezvous == false);
  CHECK_FALSE(c.task_placement.has_value());
  CHECK(c.scheduler_summary ==
        "Slurm job 4242 step 0: 2 nodes, node rank 1, endpoint gpu01:" +
            std::to_string(port) +
            " (hosted by another node); from SLURM_JOB_ID, SLURM_STEP_ID, "
            "SLURM_STEP_NUM_NODES, SLURM_STEP_NUM_TASKS, SLURM_NODEID, "
            "SLURM_PROCID, SLURM_STEP_NODELIST");
  LaunchConfig node0 =
      ParseOk({"train"},
              With(kTwoNodes, {{"SLURM_NODEID", "0"}, {"SLURM_PROCID", "0"}}));
  CHECK(node0.scheduler_hosts_rendezvous == true);
  CHECK_THAT(node0.scheduler_summary,
             Catch::Contains("node rank 0, endpoint gpu01:" +
                             std::to_string(port) + " (hosted here)"));
}

TEST_CASE("explicit options win over the scheduler's choices") {
  LaunchConfig c = ParseOk(
      {"--rdzv-endpoint", "rdzv.example:4000", "--rdzv-id", "mine", "train"},
      kTwoNodes);
  CHECK(c.rdzv_endpoint->ToString() == "rdzv.example:4000");
  CHECK(c.rdzv_id == "mine");
  // Hosting was decided for the scheduler's endpoint, not the user's.
  CHECK_FALSE(c.scheduler_hosts_rendezvous.has_value());
  CHECK(c.node_rank == 1);
  // Through TPLAUNCH_* the same.
  LaunchConfig e =
      ParseOk({"train"}, With(kTwoNodes, {{"TPLAUNCH_RDZV_ID", "env-id"}}));
  CHECK(e.rdzv_id == "env-id");
  // Agreeing with a binding value is no conflict.
  CHECK(ParseOk({"--nnodes", "2", "--node-rank", "1", "train"}, kTwoNodes)
            .max_nodes == 2);
}

TEST_CASE(
    "an option contradicting the allocation is a usage error naming both") {
  CHECK_THAT(ParseError({"--nnodes", "4", "train"}, kTwoNodes),
             Catch::Contains("--nnodes 4 contradicts Slurm job 4242 step 0: "
                             "SLURM_STEP_NUM_NODES=2 means --nnodes 2"));
  CHECK_THAT(ParseError({"train"}, With(kTwoNodes, {{"TPLAUNCH_NNODES", "4"}})),
             Catch::Contains("TPLAUNCH_NNODES 4 contradicts"));
  CHECK_THAT(ParseError({"--node-rank", "0", "train"}, kTwoNodes),
             Catch::Contains("--node-rank 0 contradicts Slurm job 4242 step 0: "
                             "SLURM_NODEID=1 means --node-rank 1"));
  CHECK_THAT(ParseError({"--standalone", "train"}, kTwoNodes),
             Catch::Contains("--standalone contradicts Slurm job 4242 step 0: "
                             "2 nodes"));
}

TEST_CASE("srun, one task per worker: nproc 1 and the scheduler's placement") {
  LaunchConfig c = ParseOk({"python3", "train.py"}, kTwoTasks);
  CHECK(c.nproc_per_node == 1);
  CHECK(c.max_nodes == 2);
  CHECK(c.node_rank == 1);
  REQUIRE(c.task_placement.has_value());
  CHECK(c.task_placement->local_rank == 1);
  CHECK(c.task_placement->local_world_size == 2);
  CHECK(c.task_placement->group_rank == 0);
  CHECK(c.task_placement->group_world_size == 1);
  CHECK(c.scheduler_hosts_rendezvous == false);
  CHECK_THAT(c.scheduler_summary,
             Catch::StartsWith("Slurm job 1 step 0: task 1 of 2, one worker "
                               "per task (local rank 1 of 2, node 0 of 1), "
                               "endpoint vm:"));
  CHECK_THAT(c.scheduler_summary, Catch::Contains("(hosted by task 0)"));
  CHECK(ParseOk({"--nproc", "1", "train"}, kTwoTasks).nproc_per_node == 1);
  CHECK_THAT(ParseError({"--nproc", "8", "train"}, kTwoTasks),
             Catch::Contains("--nproc-per-node 8 contradicts Slurm job 1 step "
                             "0: 2 tasks on this node means --nproc-per-node "
                             "1 (with several tasks per node every task is "
                             "one worker (more would oversubscribe the GPUs)"));
}

TEST_CASE("--scheduler none and TPLAUNCH_SCHEDULER=none ignore the scheduler") {
  LaunchConfig c = ParseOk({"--scheduler", "none", "train"}, kTwoNodes);
  CHECK(c.standalone);
  CHECK(c.max_nodes == 1);
  CHECK(c.node_rank == -1);
  CHECK(c.scheduler_summary.empty());
  CHECK(ParseOk({"train"}, With(kTwoNodes, {{"TPLAUNCH_SCHEDULER", "none"}}))
            .standalone);
  CHECK(ParseOk({"--scheduler", "slurm", "train"}, kTwoNodes).max_nodes == 2);
  CHECK_THAT(ParseError({"--scheduler", "pbs", "train"}, kTwoNodes),
             Catch::Contains("--scheduler 'pbs': expected auto, slurm, "
                             "kubernetes, mpi or none"));
  CHECK_THAT(ParseError({"--scheduler", "kubernetes", "train"}, kTwoNodes),
             Catch::Contains("--scheduler kubernetes: no PyTorchJob"));
}

TEST_CASE("without a scheduler nothing changes; sbatch's script says why") {
  LaunchConfig plain = ParseOk({"train"}, {{"PATH", "/usr/bin"}});
  CHECK(plain.standalone);
  CHECK(plain.scheduler_summary.empty());
  LaunchConfig batch =
      ParseOk({"train"}, {{"SLURM_JOB_ID", "9"}, {"SLURM_NNODES", "2"}});
  CHECK(batch.standalone);
  CHECK_THAT(batch.scheduler_summary,
             Catch::Contains("Slurm job 9 but not an srun step"));
}

TEST_CASE("an inferred value the option row rejects names its variable") {
  const Env elastic = {{"PET_RDZV_ENDPOINT", "job-worker-0:23456"},
                       {"PET_NNODES", "3:1"}};
  CHECK_THAT(ParseError({"train"}, elastic),
             Catch::Contains("PET_NNODES '3:1': expected N or MIN:MAX"));
  CHECK_THAT(
      ParseError({"train"}, With(elastic, {{"PET_NNODES", "1:3"},
                                           {"PET_RDZV_CONF", "bogus=1"}})),
      Catch::Contains("PET_RDZV_CONF 'bogus=1': unknown key 'bogus'"));
}

TEST_CASE("a PyTorchJob pod: nodes are pods, the endpoint is the master's") {
  const Env pod = {{"KUBERNETES_SERVICE_HOST", "10.96.0.1"},
                   {"MASTER_ADDR", "job-master-0"},
                   {"MASTER_PORT", "23456"},
                   {"WORLD_SIZE", "3"},
                   {"RANK", "2"},
                   {"PET_NPROC_PER_NODE", "4"}};
  LaunchConfig c = ParseOk({"train"}, pod);
  CHECK(c.max_nodes == 3);
  CHECK(c.node_rank == 2);
  CHECK(c.nproc_per_node == 4);
  CHECK(c.rdzv_endpoint->ToString() == "job-master-0:23456");
  CHECK(c.rdzv_id == "k8s-job-master-0");
  // The workers' MASTER_ADDR/PORT are node 0's own, not the pod's.
  CHECK(c.master_addr.empty());
  CHECK(c.master_port == 0);
}

TEST_CASE(
    "PET_MASTER_ADDR/PORT that reached --master-addr become the endpoint "
    "only") {
  // As the PET_ fallback (#11) leaves a TrainJob pod's options: given with
  // PET_ sources.
  SchedulerInputs in;
  in.env = {{"PET_NNODES", "2"},
            {"PET_NODE_RANK", "0"},
            {"PET_MASTER_ADDR", "mnist-node-0-0.mnist"},
            {"PET_MASTER_PORT", "29500"}};
  absl::StatusOr<SchedulerInference> inference = InferScheduler(in);
  REQUIRE(inference.ok());
  LaunchConfig c;
  c.master_addr = "mnist-node-0-0.mnist";
  c.master_port = 29500;
  GivenOptionValues given = {
      {"--master-addr", RawValue{"mnist-node-0-0.mnist", "PET_MASTER_ADDR"}},
      {"--master-port", RawValue{"29500", "PET_MASTER_PORT"}},
      {"--nnodes", RawValue{"2", "PET_NNODES"}}};
  REQUIRE(ApplySchedulerInference(*inference, given, c).ok());
  CHECK(c.master_addr.empty());
  CHECK(c.master_port == 0);
  CHECK(c.rdzv_endpoint->ToString() == "mnist-node-0-0.mnist:29500");
  CHECK(c.scheduler_hosts_rendezvous == true);
  CHECK_THAT(c.scheduler_summary,
             Catch::StartsWith("Kubeflow TrainJob: 2 nodes, node rank 0, "
                               "endpoint mnist-node-0-0.mnist:29500 (hosted "
                               "here)"));
}

TEST_CASE("--nproc auto and gpu in a GPU step count the step's GPUs") {
  const Env gpus = With(kTwoNodes, {{"SLURM_GPUS_ON_NODE", "4"},
                                    {"CUDA_VISIBLE_DEVICES", "0,1,2,3"}});
  CHECK(ParseOk({"--nproc", "auto", "train"}, gpus).nproc_per_node == 4);
  CHECK(ParseOk({"--nproc-per-node", "gpu", "train"}, gpus).nproc_per_node ==
        4);
  CHECK(ParseOk({"--nproc", "auto", "train"},
                With(kTwoNodes, {{"SLURM_STEP_GPUS", "2,3"}}))
            .nproc_per_node == 2);
  // An explicit count, and `cpu`, are the user's.
  CHECK(ParseOk({"--nproc", "3", "train"}, gpus).nproc_per_node == 3);
  CHECK(ParseOk({"--nproc", "cpu", "train"}, gpus).nproc_mode ==
        NprocMode::kCpu);
  // No GPU variable: auto stays for the host to resolve.
  CHECK(ParseOk({"--nproc", "auto", "train"}, kTwoNodes).nproc_mode ==
        NprocMode::kAuto);
  // --scheduler none reads none of them.
  CHECK(ParseOk({"--scheduler", "none", "--nproc", "auto", "train"}, gpus)
            .nproc_mode == NprocMode::kAuto);
}

TEST_CASE("the scheduler's hosting decision is the endpoint's is_host") {
  // Slurm: node 0 hosts, node 1 dials, whatever gpu01 resolves to here.
  CHECK(ParseOk({"train"}, kTwoNodes).rdzv_is_host == false);
  CHECK(ParseOk({"train"},
                With(kTwoNodes, {{"SLURM_NODEID", "0"}, {"SLURM_PROCID", "0"}}))
            .rdzv_is_host == true);
  // One task per worker: task 1 shares task 0's host but must not host.
  CHECK(ParseOk({"train"}, kTwoTasks).rdzv_is_host == false);
  // A static PyTorchJob's endpoint is a Service name, never a pod address:
  // pod 0 hosts it all the same.
  const Env pod0 = {{"KUBERNETES_SERVICE_HOST", "10.96.0.1"},
                    {"MASTER_ADDR", "job-master-0"},
                    {"MASTER_PORT", "23456"},
                    {"WORLD_SIZE", "2"},
                    {"RANK", "0"},
                    {"PET_NPROC_PER_NODE", "2"}};
  CHECK(ParseOk({"train"}, pod0).rdzv_is_host == true);
  CHECK(ParseOk({"train"}, With(pod0, {{"RANK", "1"}})).rdzv_is_host == false);
  // An explicit is_host wins; the user's endpoint (a tprdzvd, perhaps) is
  // left to its address.
  CHECK(ParseOk({"--rdzv-conf", "is_host=false", "train"},
                With(kTwoNodes, {{"SLURM_NODEID", "0"}, {"SLURM_PROCID", "0"}}))
            .rdzv_is_host == false);
  CHECK_FALSE(
      ParseOk({"--rdzv-endpoint", "rdzv.example:4000", "train"},
              With(kTwoNodes, {{"SLURM_NODEID", "0"}, {"SLURM_PROCID", "0"}}))
          .rdzv_is_host.has_value());
  CHECK_FALSE(
      ParseOk({"train"}, With(kTwoNodes, {{"TPLAUNCH_SCHEDULER", "none"}}))
          .rdzv_is_host.has_value());
}

TEST_CASE("a task's workers get the scheduler's local and group values") {
  WorkerEnvInputs in;
  in.local_rank = 0;
  in.local_world_size = 1;
  in.rank_offset = 5;
  in.world_size = 16;
  in.node_rank = 5;
  in.num_nodes = 16;
  TaskPlacement t;
  t.local_rank = 5;
  t.local_world_size = 8;
  t.group_rank = 0;
  t.group_world_size = 2;
  in.task = t;
  EnvMap env = BuildWorkerEnv(in);
  CHECK(env.at("RANK") == "5");
  CHECK(env.at("WORLD_SIZE") == "16");
  CHECK(env.at("LOCAL_RANK") == "5");
  CHECK(env.at("LOCAL_WORLD_SIZE") == "8");
  CHECK(env.at("GROUP_RANK") == "0");
  CHECK(env.at("GROUP_WORLD_SIZE") == "2");
  // MPI names no node: GROUP_* stay the rendezvous'.
  in.task->group_rank = -1;
  in.task->group_world_size = 0;
  EnvMap mpi = BuildWorkerEnv(in);
  CHECK(mpi.at("GROUP_RANK") == "5");
  CHECK(mpi.at("GROUP_WORLD_SIZE") == "16");
}

}  // namespace
}  // namespace tplaunch
