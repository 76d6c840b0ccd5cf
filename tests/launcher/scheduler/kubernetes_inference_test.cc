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

// What every pod sees from Kubernetes itself.
const Env kPod = {
    {"KUBERNETES_SERVICE_HOST", "10.96.0.1"},
    {"KUBERNETES_SERVICE_PORT", "443"},
    {"PATH", "/usr/local/bin:/usr/bin:/bin"},
};

// training-operator v1's ElasticEnvVarGenerator (elastic.go) for a job
// "elastic" with an elasticPolicy {minReplicas 1, maxReplicas 3,
// maxRestarts 3, nProcPerNode 2, rdzvConf timeout=900}: the pod worker-1.
const Env kElasticWorker1 =
    With(kPod, {
                   {"PYTHONUNBUFFERED", "0"},
                   {"PET_RDZV_ENDPOINT", "elastic-worker-0:23456"},
                   {"PET_RDZV_BACKEND", "c10d"},
                   {"PET_NNODES", "1:3"},
                   {"PET_MAX_RESTARTS", "3"},
                   {"PET_N_PROC_PER_NODE", "2"},
                   {"PET_RDZV_CONF", "timeout=900"},
               });

// setPodEnv (envvar.go, v1.7+) without an elasticPolicy, master + 2 workers,
// nprocPerNode "auto": the pod worker-0 (RANK 1).
const Env kStaticWorker0 = With(kPod, {
                                          {"PYTHONUNBUFFERED", "0"},
                                          {"MASTER_PORT", "23456"},
                                          {"MASTER_ADDR", "static-master-0"},
                                          {"WORLD_SIZE", "3"},
                                          {"RANK", "1"},
                                          {"PET_NPROC_PER_NODE", "auto"},
                                          {"PET_NODE_RANK", "1"},
                                          {"PET_NNODES", "3"},
                                      });

// Trainer v2's Torch plugin (torch.go) for TrainJob "mnist" with numNodes 2:
// node 1 of the JobSet's replicated job "node".
const Env kTrainJobNode1 =
    With(kPod, {
                   {"PET_NNODES", "2"},
                   {"PET_NPROC_PER_NODE", "auto"},
                   {"PET_NODE_RANK", "1"},
                   {"PET_MASTER_ADDR", "mnist-node-0-0.mnist"},
                   {"PET_MASTER_PORT", "29500"},
                   {"JOB_COMPLETION_INDEX", "1"},
               });

TEST_CASE("elastic PyTorchJob: endpoint, node range, restarts, nproc") {
  SchedulerInference r =
      Infer(kElasticWorker1, SchedulerChoice::kAuto, "elastic-worker-1");
  CHECK(r.kind == SchedulerKind::kKubernetes);
  CHECK(r.origin == "Kubeflow PyTorchJob (elastic)");
  CHECK(r.mode == LaunchMode::kPerNode);
  CHECK(Options(r) ==
        OptionValues{{"--rdzv-endpoint", "elastic-worker-0:23456"},
                     {"--nnodes", "1:3"},
                     {"--rdzv-id", "k8s-elastic-worker-0"},
                     {"--nproc-per-node", "2"},
                     {"--max-restarts", "3"},
                     {"--rdzv-conf", "timeout=900"}});
  CHECK(IsBinding(r, "--nnodes"));
  // The endpoint's pod hosts; ranks come from the rendezvous.
  CHECK(r.hosts_rendezvous == false);
  CHECK(Infer(kElasticWorker1, SchedulerChoice::kAuto, "elastic-worker-0")
            .hosts_rendezvous == true);
  // An address endpoint cannot be compared with the pod's name: left to
  // the address (hosting.h), neither forced on nor off.
  CHECK_FALSE(
      Infer(With(kElasticWorker1, {{"PET_RDZV_ENDPOINT", "10.244.1.7:23456"}}),
            SchedulerChoice::kAuto, "elastic-worker-0")
          .hosts_rendezvous.has_value());
  CHECK_FALSE(
      Infer(With(kElasticWorker1, {{"PET_RDZV_ENDPOINT", "[fd00::7]:23456"}}),
            SchedulerChoice::kAuto, "elastic-worker-0")
          .hosts_rendezvous.has_value());
  CHECK(
      Infer(With(kElasticWorker1, {{"PET_RDZV_ID", "run7"}})).options.size() ==
      6);
  CHECK(Options(Infer(With(kElasticWorker1, {{"PET_RDZV_ID", "run7"}})))
            .at("--rdzv-id") == "run7");
}

TEST_CASE(
    "elastic PyTorchJob with a master: the pod's WORLD_SIZE/RANK are not "
    "read") {
  SchedulerInference r =
      Infer(With(kElasticWorker1, {{"MASTER_ADDR", "elastic-master-0"},
                                   {"MASTER_PORT", "23456"},
                                   {"WORLD_SIZE", "3"},
                                   {"RANK", "2"}}));
  CHECK(r.origin == "Kubeflow PyTorchJob (elastic)");
  CHECK(Options(r).count("--node-rank") == 0);
  CHECK(std::find(r.variables.begin(), r.variables.end(), "RANK") ==
        r.variables.end());
}

TEST_CASE("static PyTorchJob: pods are nodes, the master pod hosts") {
  SchedulerInference r = Infer(kStaticWorker0);
  CHECK(r.origin == "Kubeflow PyTorchJob");
  CHECK(r.master_is_endpoint);
  CHECK(Options(r) == OptionValues{{"--nnodes", "3"},
                                   {"--node-rank", "1"},
                                   {"--rdzv-endpoint", "static-master-0:23456"},
                                   {"--rdzv-id", "k8s-static-master-0"},
                                   {"--nproc-per-node", "auto"}});
  CHECK(r.hosts_rendezvous == false);
  CHECK(Infer(With(kStaticWorker0, {{"RANK", "0"}, {"PET_NODE_RANK", "0"}}))
            .hosts_rendezvous == true);
  // v1.7+ counts WORLD_SIZE in processes (pods x nproc): PET_NNODES wins.
  CHECK(Options(Infer(With(kStaticWorker0, {{"WORLD_SIZE", "24"}})))
            .at("--nnodes") == "3");
}

TEST_CASE(
    "static PyTorchJob of an older operator: WORLD_SIZE/RANK count pods") {
  Env old = kStaticWorker0;
  old.erase("PET_NNODES");
  old.erase("PET_NODE_RANK");
  old.erase("PET_NPROC_PER_NODE");
  SchedulerInference r = Infer(old);
  CHECK(Options(r) == OptionValues{{"--nnodes", "3"},
                                   {"--node-rank", "1"},
                                   {"--rdzv-endpoint", "static-master-0:23456"},
                                   {"--rdzv-id", "k8s-static-master-0"}});
  CHECK_THAT(InferError(With(old, {{"RANK", "3"}})),
             Catch::Contains("RANK=3 but the job has 3 nodes"));
}

TEST_CASE("MASTER_ADDR/RANK inside another launcher's worker are not a pod's") {
  SchedulerInference r =
      Infer(With(kStaticWorker0, {{"TORCHELASTIC_RUN_ID", "outer"}}));
  CHECK(r.kind == SchedulerKind::kNone);
  Env outside_k8s = kStaticWorker0;
  outside_k8s.erase("KUBERNETES_SERVICE_HOST");
  CHECK(Infer(outside_k8s).kind == SchedulerKind::kNone);
}

TEST_CASE("Trainer v2 TrainJob: PET_MASTER_ADDR/PORT become the endpoint") {
  SchedulerInference r = Infer(kTrainJobNode1);
  CHECK(r.origin == "Kubeflow TrainJob");
  CHECK(r.master_is_endpoint);
  CHECK(Options(r) ==
        OptionValues{{"--nnodes", "2"},
                     {"--node-rank", "1"},
                     {"--rdzv-endpoint", "mnist-node-0-0.mnist:29500"},
                     {"--rdzv-id", "k8s-mnist-node-0-0"},
                     {"--nproc-per-node", "auto"}});
  CHECK(r.hosts_rendezvous == false);
  CHECK(
      Infer(With(kTrainJobNode1, {{"PET_NODE_RANK", "0"}})).hosts_rendezvous ==
      true);
  CHECK_THAT(InferError(With(kTrainJobNode1, {{"PET_NODE_RANK", "two"}})),
             Catch::Contains("PET_NODE_RANK 'two'"));
}

TEST_CASE(
    "Indexed Job: JOB_COMPLETION_INDEX with the user's nnodes and endpoint") {
  const Env indexed = With(kPod, {{"JOB_COMPLETION_INDEX", "2"}});
  SchedulerInference r =
      Infer(indexed, SchedulerChoice::kAuto, "train-2",
            {{"--nnodes", "4"}, {"--rdzv-endpoint", "train-0.train:29400"}});
  CHECK(r.origin == "Kubernetes Indexed Job");
  CHECK(Options(r) ==
        OptionValues{{"--node-rank", "2"}, {"--rdzv-id", "k8s-train"}});
  CHECK(r.hosts_rendezvous == false);
  // Without them the index alone is not used (auto) or is an error (explicit).
  SchedulerInference alone = Infer(indexed);
  CHECK(alone.kind == SchedulerKind::kNone);
  CHECK_THAT(alone.note, Catch::Contains("JOB_COMPLETION_INDEX"));
  CHECK_THAT(InferError(indexed, SchedulerChoice::kKubernetes),
             Catch::Contains("give --nnodes N and --rdzv-endpoint"));
  CHECK_THAT(InferError(indexed, SchedulerChoice::kKubernetes,
                        {{"--nnodes", "2"}, {"--rdzv-endpoint", "x:1"}}),
             Catch::Contains("JOB_COMPLETION_INDEX=2 but the job has 2 nodes"));
}

TEST_CASE("--scheduler kubernetes outside a pod is an error; none ignores it") {
  CHECK_THAT(InferError(kPod, SchedulerChoice::kKubernetes),
             Catch::Contains("--scheduler kubernetes: no PyTorchJob"));
  CHECK(Infer(kTrainJobNode1, SchedulerChoice::kNone).kind ==
        SchedulerKind::kNone);
}

}  // namespace
}  // namespace tplaunch
