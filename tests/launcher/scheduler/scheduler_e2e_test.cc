// End to end: the real tplaunch started as Slurm, mpirun and a PyTorchJob
// would start it (their variables, one process per task or node), against a
// real tprdzvd (the endpoint given explicitly), and a static PyTorchJob whose
// pod 0 hosts the endpoint the inference names. Self-hosting under srun
// itself is slurm_e2e_test's.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/launcher/tplaunch_command.h"
#include "tests/testing/processes.h"

namespace tplaunch {
namespace {

using testing::Daemon;
using testing::Runfile;
using testing::Subprocess;
using testing::SubprocessOptions;
using testing::Tplaunch;

using Env = std::map<std::string, std::string>;

const char kWorker[] = "tests/launcher/scheduler/print_ranks.sh";

// Only the scheduler variables a test sets reach tplaunch.
SubprocessOptions Isolated(const Env& env) {
  SubprocessOptions o;
  o.env = env;
  o.unset_prefixes = {"SLURM_",      "PET_",      "OMPI_",
                      "PMI",         "MV2_",      "MPI_",
                      "KUBERNETES_", "TPLAUNCH_", "MASTER_",
                      "WORLD_SIZE",  "RANK",      "JOB_COMPLETION_INDEX"};
  return o;
}

std::string Ranks(int rank, int local_rank, int world, int local_world,
                  int group, int groups) {
  return absl::StrCat("ranks RANK=", rank, " LOCAL_RANK=", local_rank,
                      " WORLD_SIZE=", world, " LOCAL_WORLD_SIZE=", local_world,
                      " GROUP_RANK=", group, " GROUP_WORLD_SIZE=", groups);
}

// Task `task` of `srun -N1 -n2` in job `job` on host vm.
Env SlurmTask(int job, int task) {
  return {{"SLURM_JOB_ID", absl::StrCat(job)},
          {"SLURM_STEP_ID", "0"},
          {"SLURM_STEP_NUM_NODES", "1"},
          {"SLURM_STEP_NUM_TASKS", "2"},
          {"SLURM_NODEID", "0"},
          {"SLURM_PROCID", absl::StrCat(task)},
          {"SLURM_LOCALID", absl::StrCat(task)},
          {"SLURM_STEP_NODELIST", "vm"},
          {"SLURM_STEP_TASKS_PER_NODE", "2"}};
}

TEST_CASE("srun -n2: two tasks, one worker each, Slurm's ranks") {
  Daemon d;
  std::vector<std::unique_ptr<Subprocess>> tasks;
  for (int t = 0; t < 2; ++t) {
    tasks.push_back(std::make_unique<Subprocess>(
        Tplaunch({"--rdzv-endpoint", d.endpoint(), Runfile(kWorker)}),
        Isolated(SlurmTask(71, t))));
  }
  for (int t = 0; t < 2; ++t) {
    REQUIRE(tasks[t]->Wait(absl::Seconds(60)) == 0);
    INFO(tasks[t]->out() << tasks[t]->err());
    CHECK_THAT(tasks[t]->out(), Catch::Contains(Ranks(t, t, 2, 2, 0, 1)));
    CHECK_THAT(tasks[t]->err(),
               Catch::Contains(absl::StrCat("Slurm job 71 step 0: task ", t,
                                            " of 2, one worker per "
                                            "task (local rank ",
                                            t, " of 2, node 0 of 1)")));
  }
}

TEST_CASE("srun -N2 --ntasks-per-node=1: two nodes of two workers") {
  Daemon d;
  std::vector<std::unique_ptr<Subprocess>> nodes;
  for (int n = 0; n < 2; ++n) {
    Env env = {{"SLURM_JOB_ID", "72"},
               {"SLURM_STEP_ID", "0"},
               {"SLURM_STEP_NUM_NODES", "2"},
               {"SLURM_STEP_NUM_TASKS", "2"},
               {"SLURM_NODEID", absl::StrCat(n)},
               {"SLURM_PROCID", absl::StrCat(n)},
               {"SLURM_LOCALID", "0"},
               {"SLURM_STEP_NODELIST", "gpu[01-02]"},
               {"SLURM_STEP_TASKS_PER_NODE", "1(x2)"}};
    nodes.push_back(std::make_unique<Subprocess>(
        Tplaunch({"--nproc", "2", "--rdzv-endpoint", d.endpoint(),
                  Runfile(kWorker)}),
        Isolated(env)));
  }
  for (int n = 0; n < 2; ++n) {
    REQUIRE(nodes[n]->Wait(absl::Seconds(60)) == 0);
    INFO(nodes[n]->out() << nodes[n]->err());
    for (int l = 0; l < 2; ++l) {
      CHECK_THAT(nodes[n]->out(),
                 Catch::Contains(Ranks(2 * n + l, l, 4, 2, n, 2)));
    }
    CHECK_THAT(nodes[n]->err(),
               Catch::Contains(absl::StrCat("Slurm job 72 step 0: 2 nodes, "
                                            "node rank ",
                                            n, ", endpoint ", d.endpoint())));
  }
}

// A port free on 127.0.0.1 a moment ago (bind port 0, read it, close).
int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a = {};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&a), len) == 0 &&
                  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0;
  close(fd);
  return ok ? ntohs(a.sin_port) : 0;
}

// Pod `rank` of a static PyTorchJob (no elasticPolicy) of two pods, as an
// older training-operator sets it: MASTER_ADDR/PORT, and WORLD_SIZE/RANK
// counting pods; no PET_RDZV_ENDPOINT.
Env StaticPod(int rank, int port) {
  return {{"KUBERNETES_SERVICE_HOST", "10.96.0.1"},
          {"HOSTNAME",
           absl::StrCat("static-", rank == 0 ? "master-0" : "worker-0")},
          {"MASTER_ADDR", "localhost"},
          {"MASTER_PORT", absl::StrCat(port)},
          {"WORLD_SIZE", "2"},
          {"RANK", absl::StrCat(rank)},
          {"PET_NPROC_PER_NODE", "2"}};
}

TEST_CASE(
    "a static PyTorchJob of two pods: pod 0 hosts, workers get "
    "process ranks") {
  std::vector<std::unique_ptr<Subprocess>> pods;
  // A port taken between FreePort and pod 0's bind is a failed attempt:
  // retried with another.
  for (int attempt = 0; attempt < 3; ++attempt) {
    const int port = FreePort();
    REQUIRE(port > 0);
    pods.clear();
    for (int p = 0; p < 2; ++p) {
      pods.push_back(std::make_unique<Subprocess>(
          Tplaunch({Runfile(kWorker)}), Isolated(StaticPod(p, port))));
    }
    if (pods[0]->Wait(absl::Seconds(60)) != 1 ||
        !absl::StrContains(pods[0]->err(), "cannot host")) {
      break;
    }
  }
  for (int p = 0; p < 2; ++p) {
    const std::optional<int> rc = pods[p]->Wait(absl::Seconds(60));
    INFO(pods[p]->out() << pods[p]->err());
    REQUIRE(rc == std::optional<int>(0));
    // WORLD_SIZE/RANK of the pod were node values: the workers' are 2x2.
    for (int l = 0; l < 2; ++l) {
      CHECK_THAT(pods[p]->out(),
                 Catch::Contains(Ranks(2 * p + l, l, 4, 2, p, 2)));
    }
    CHECK_THAT(pods[p]->err(),
               Catch::Contains(absl::StrCat("Kubeflow PyTorchJob: 2 nodes, "
                                            "node rank ",
                                            p, ", endpoint localhost:")));
  }
  CHECK_THAT(pods[0]->err(),
             Catch::Contains("hosting the rendezvous endpoint localhost:"));
  CHECK_THAT(pods[1]->err(), !Catch::Contains("hosting the rendezvous"));
}

TEST_CASE("mpirun -np 2 on one host: Open MPI's local ranks") {
  Daemon d;
  std::vector<std::unique_ptr<Subprocess>> ranks;
  for (int r = 0; r < 2; ++r) {
    Env env = {{"OMPI_COMM_WORLD_RANK", absl::StrCat(r)},
               {"OMPI_COMM_WORLD_SIZE", "2"},
               {"OMPI_COMM_WORLD_LOCAL_RANK", absl::StrCat(r)},
               {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"},
               {"OMPI_MCA_ess_base_jobid", "73"}};
    ranks.push_back(std::make_unique<Subprocess>(
        Tplaunch({"--rdzv-endpoint", d.endpoint(), Runfile(kWorker)}),
        Isolated(env)));
  }
  for (int r = 0; r < 2; ++r) {
    REQUIRE(ranks[r]->Wait(absl::Seconds(60)) == 0);
    INFO(ranks[r]->out() << ranks[r]->err());
    // MPI names no node index: GROUP_RANK is the rank's rendezvous place.
    CHECK_THAT(ranks[r]->out(), Catch::Contains(Ranks(r, r, 2, 2, r, 2)));
    CHECK_THAT(ranks[r]->err(),
               Catch::Contains(absl::StrCat("Open MPI: task ", r, " of 2")));
  }
}

TEST_CASE(
    "a flag contradicting the step exits 2 naming both; none ignores it") {
  Env env = SlurmTask(74, 1);
  Subprocess bad(Tplaunch({"--nproc", "4", Runfile(kWorker)}), Isolated(env));
  REQUIRE(bad.Wait(absl::Seconds(10)) == 2);
  CHECK_THAT(bad.err(), Catch::Contains("Usage: tplaunch"));
  CHECK_THAT(bad.err(),
             Catch::Contains("--nproc-per-node 4 contradicts Slurm job 74 "
                             "step 0: 2 tasks on this node"));
  Subprocess none(Tplaunch({"--scheduler", "none", Runfile(kWorker)}),
                  Isolated(env));
  REQUIRE(none.Wait(absl::Seconds(30)) == 0);
  INFO(none.err());
  CHECK_THAT(none.out(), Catch::Contains(Ranks(0, 0, 1, 1, 0, 1)));
  CHECK_THAT(none.err(), !Catch::Contains("Slurm job"));
}

}  // namespace
}  // namespace tplaunch
