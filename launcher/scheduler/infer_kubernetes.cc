// Kubernetes: Kubeflow's PyTorchJob (training-operator v1, elastic and
// static), Kubeflow Trainer v2's TrainJob, and a plain Indexed Job / JobSet.
// One tplaunch per pod; a pod is a node.
#include <arpa/inet.h>

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "launcher/scheduler/infer_internal.h"

namespace tplaunch {
namespace scheduler_internal {
namespace {

constexpr int64_t kMaxPods = 100000;

// "a.b.c:29400" -> "a"; "[::1]:1" -> "::1". Only for comparing with a pod's
// host name, which is the first label of its DNS name.
std::string FirstLabel(absl::string_view endpoint) {
  if (absl::StartsWith(endpoint, "[")) {
    return std::string(endpoint.substr(1, endpoint.find(']') - 1));
  }
  absl::string_view host = endpoint.substr(0, endpoint.rfind(':'));
  return std::string(host.substr(0, host.find('.')));
}

// "10.0.0.5:29400", "[fd00::5]:29400": the host is an address, not a name.
bool IsAddressLiteral(absl::string_view endpoint) {
  std::string host;
  if (absl::StartsWith(endpoint, "[")) {
    host = std::string(endpoint.substr(1, endpoint.find(']') - 1));
  } else {
    host = std::string(endpoint.substr(0, endpoint.rfind(':')));
  }
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 ||
         inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// Whether this pod is the endpoint's host: a PyTorchJob's endpoint is the
// pod's own name ("<job>-worker-0"), a TrainJob's "<pod>.<service>".
std::optional<bool> IsEndpointHost(const SchedulerInputs& in,
                                   absl::string_view endpoint) {
  if (in.hostname.empty()) return std::nullopt;
  // An IP literal says nothing about a name: the address decides
  // (hosting.h).
  if (IsAddressLiteral(endpoint)) return std::nullopt;
  const std::string host = FirstLabel(endpoint);
  std::string own(in.hostname.substr(0, in.hostname.find('.')));
  return own == host;
}

// PET_NPROC_PER_NODE (torchrun's and Trainer's spelling) or
// PET_N_PROC_PER_NODE (training-operator's elastic generator).
void AddNproc(EnvReader& env, SchedulerInference& r) {
  if (auto n = env.First({"PET_NPROC_PER_NODE", "PET_N_PROC_PER_NODE"})) {
    r.options.push_back(Chosen("--nproc-per-node", n->value, n->Describe()));
  }
}

// The optional PET_* every flavour may carry.
void AddCommon(EnvReader& env, SchedulerInference& r) {
  AddNproc(env, r);
  if (auto v = env.First({"PET_MAX_RESTARTS"})) {
    r.options.push_back(Chosen("--max-restarts", v->value, v->Describe()));
  }
  if (auto v = env.First({"PET_RDZV_CONF"})) {
    r.options.push_back(Chosen("--rdzv-conf", v->value, v->Describe()));
  }
}

// Run ids: PET_RDZV_ID when the job sets one, else one derived from the
// endpoint host, which names the job and is the same in every pod.
void AddRunId(EnvReader& env, absl::string_view endpoint,
              SchedulerInference& r) {
  if (auto id = env.First({"PET_RDZV_ID"})) {
    r.options.push_back(Chosen("--rdzv-id", id->value, id->Describe()));
    return;
  }
  r.options.push_back(Chosen("--rdzv-id",
                             absl::StrCat("k8s-", FirstLabel(endpoint)),
                             absl::StrCat("the endpoint host ", endpoint)));
}

absl::StatusOr<int64_t> NodeRank(EnvReader& env,
                                 std::initializer_list<const char*> names,
                                 int64_t max_nodes) {
  ASSIGN_OR_RETURN(int64_t rank,
                   env.RequiredInt(names, 0, kMaxPods, "the pod's node rank"));
  if (rank >= max_nodes) {
    std::optional<EnvValue> v = env.First(names);
    return absl::InvalidArgumentError(
        absl::StrCat(v->Describe(), " but the job has ", max_nodes, " nodes"));
  }
  return rank;
}

// PET_NNODES "N" or "MIN:MAX" -> MAX, for bounds checks; the option row
// parses it for real.
int64_t MaxOf(absl::string_view nnodes) {
  int64_t max = 0;
  absl::string_view last = nnodes.substr(nnodes.rfind(':') + 1);
  if (!absl::SimpleAtoi(last, &max)) return kMaxPods;
  return max;
}

// training-operator v1 with an elasticPolicy: PET_RDZV_ENDPOINT
// ("<job>-worker-0:PORT"), PET_NNODES, ranks from the rendezvous.
absl::StatusOr<SchedulerInference> Elastic(const SchedulerInputs& in,
                                           EnvReader& env) {
  SchedulerInference r;
  r.kind = SchedulerKind::kKubernetes;
  r.origin = "Kubeflow PyTorchJob (elastic)";
  std::optional<EnvValue> endpoint = env.First({"PET_RDZV_ENDPOINT"});
  r.options.push_back(
      Chosen("--rdzv-endpoint", endpoint->value, endpoint->Describe()));
  if (auto n = env.First({"PET_NNODES"})) {
    r.options.push_back(Binding("--nnodes", n->value, n->Describe()));
    if (env.Has({"PET_NODE_RANK"})) {
      ASSIGN_OR_RETURN(int64_t rank,
                       NodeRank(env, {"PET_NODE_RANK"}, MaxOf(n->value)));
      r.options.push_back(Binding("--node-rank", absl::StrCat(rank),
                                  absl::StrCat("PET_NODE_RANK=", rank)));
    }
  }
  AddRunId(env, endpoint->value, r);
  AddCommon(env, r);
  r.hosts_rendezvous = IsEndpointHost(in, endpoint->value);
  return r;
}

// MASTER_ADDR:MASTER_PORT (or PET_MASTER_*) become the rendezvous endpoint,
// hosted by node 0; the workers' store gets a port of its own.
absl::StatusOr<SchedulerInference> Static(
    EnvReader& env, const char* origin, const char* addr_var,
    const char* port_var, std::initializer_list<const char*> nnodes_vars,
    std::initializer_list<const char*> rank_vars) {
  SchedulerInference r;
  r.kind = SchedulerKind::kKubernetes;
  r.origin = origin;
  r.master_is_endpoint = true;
  std::optional<EnvValue> addr = env.First({addr_var});
  ASSIGN_OR_RETURN(std::optional<int64_t> port, env.Int({port_var}, 1, 65535));
  // torchrun's --master-port default.
  const int64_t p = port.value_or(29500);
  const std::string endpoint = absl::StrCat(addr->value, ":", p);
  std::optional<EnvValue> nnodes = env.First(nnodes_vars);
  if (!nnodes) {
    return absl::InvalidArgumentError(
        absl::StrCat(origin, ": ", addr->Describe(), " without a node count (",
                     *nnodes_vars.begin(), ")"));
  }
  r.options.push_back(Binding("--nnodes", nnodes->value, nnodes->Describe(),
                              "a pod is a node"));
  ASSIGN_OR_RETURN(int64_t rank,
                   NodeRank(env, rank_vars, MaxOf(nnodes->value)));
  std::optional<EnvValue> rank_var = env.First(rank_vars);
  r.options.push_back(
      Binding("--node-rank", absl::StrCat(rank), rank_var->Describe()));
  r.options.push_back(
      Chosen("--rdzv-endpoint", endpoint,
             absl::StrCat(addr->Describe(), ", ", port_var, "=", p)));
  AddRunId(env, endpoint, r);
  AddCommon(env, r);
  r.hosts_rendezvous = rank == 0;
  return r;
}

// An Indexed Job (or a JobSet's): only the pod's index; the node count and
// the coordinator's stable DNS name come from the user.
absl::StatusOr<SchedulerInference> Indexed(const SchedulerInputs& in,
                                           EnvReader& env) {
  SchedulerInference r;
  const bool has_nnodes = in.given.count("--nnodes") > 0;
  const bool has_endpoint = in.given.count("--rdzv-endpoint") > 0;
  if (!has_nnodes || !has_endpoint) {
    if (in.choice == SchedulerChoice::kKubernetes) {
      return absl::InvalidArgumentError(
          "JOB_COMPLETION_INDEX (an Indexed Job) gives only the pod's index: "
          "give --nnodes N and --rdzv-endpoint HOST:PORT naming pod 0 by its "
          "stable DNS name (<job>-0.<headless service>)");
    }
    r.note =
        "JOB_COMPLETION_INDEX is set (an Indexed Job) but --nnodes and "
        "--rdzv-endpoint are not: not using it as the node rank";
    return r;
  }
  r.kind = SchedulerKind::kKubernetes;
  r.origin = "Kubernetes Indexed Job";
  ASSIGN_OR_RETURN(int64_t index, NodeRank(env, {"JOB_COMPLETION_INDEX"},
                                           MaxOf(in.given.at("--nnodes"))));
  r.options.push_back(Binding("--node-rank", absl::StrCat(index),
                              absl::StrCat("JOB_COMPLETION_INDEX=", index)));
  // The pod's host name is "<job>-<index>": the job's name keys the run.
  std::string job = in.hostname;
  const std::string suffix = absl::StrCat("-", index);
  if (absl::EndsWith(job, suffix)) job.resize(job.size() - suffix.size());
  if (!job.empty()) {
    r.options.push_back(
        Chosen("--rdzv-id", absl::StrCat("k8s-", job),
               absl::StrCat("the pod's host name ", in.hostname)));
  }
  r.hosts_rendezvous = index == 0;
  return r;
}

}  // namespace

absl::StatusOr<SchedulerInference> InferKubernetes(const SchedulerInputs& in) {
  EnvReader env(in.env);
  absl::StatusOr<SchedulerInference> r = SchedulerInference();
  if (env.Has({"PET_RDZV_ENDPOINT"})) {
    r = Elastic(in, env);
  } else if (env.Has({"PET_MASTER_ADDR"})) {
    // Trainer v2 (and torchrun's own PET_* form): PET_NNODES, PET_NODE_RANK
    // from the job completion index, PET_MASTER_ADDR "<job>-node-0-0.<job>".
    r = Static(env, "Kubeflow TrainJob", "PET_MASTER_ADDR", "PET_MASTER_PORT",
               {"PET_NNODES"}, {"PET_NODE_RANK", "JOB_COMPLETION_INDEX"});
  } else if (env.Has({"MASTER_ADDR"}) && env.Has({"KUBERNETES_SERVICE_HOST"}) &&
             (env.Has({"PET_NODE_RANK"}) || env.Has({"RANK"})) &&
             !env.Has({"TORCHELASTIC_RUN_ID", "TPLAUNCH_RUN_ID"})) {
    // A static PyTorchJob: the pod's WORLD_SIZE/RANK count pods (older
    // operators) or WORLD_SIZE is pods x nproc (>= v1.7, which also sets
    // PET_NNODES/PET_NODE_RANK): prefer the PET_ values, never read them as
    // process values. Inside another launcher's worker (TORCHELASTIC_RUN_ID)
    // MASTER_ADDR/RANK are that launcher's, not the pod's.
    r = Static(env, "Kubeflow PyTorchJob", "MASTER_ADDR", "MASTER_PORT",
               {"PET_NNODES", "WORLD_SIZE"}, {"PET_NODE_RANK", "RANK"});
  } else if (env.Has({"JOB_COMPLETION_INDEX"})) {
    r = Indexed(in, env);
  }
  if (!r.ok()) return r.status();
  r->variables = env.used();
  return r;
}

}  // namespace scheduler_internal
}  // namespace tplaunch
