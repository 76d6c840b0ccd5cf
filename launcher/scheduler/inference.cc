#include "launcher/scheduler/inference.h"

#include <algorithm>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "launcher/scheduler/infer_internal.h"

namespace tplaunch {
namespace scheduler_internal {

std::string EnvValue::Describe() const {
  return absl::StrCat(name, "=", value);
}

bool EnvReader::Has(std::initializer_list<const char*> names) const {
  for (const char* name : names) {
    auto it = env_.find(name);
    if (it != env_.end() && !it->second.empty()) return true;
  }
  return false;
}

std::optional<EnvValue> EnvReader::First(
    std::initializer_list<const char*> names) {
  for (const char* name : names) {
    auto it = env_.find(name);
    if (it == env_.end() || it->second.empty()) continue;
    if (std::find(used_.begin(), used_.end(), name) == used_.end()) {
      used_.push_back(name);
    }
    return EnvValue{name, it->second};
  }
  return std::nullopt;
}

absl::StatusOr<std::optional<int64_t>> EnvReader::Int(
    std::initializer_list<const char*> names, int64_t min, int64_t max) {
  std::optional<EnvValue> v = First(names);
  if (!v) return std::optional<int64_t>();
  int64_t n = 0;
  if (!absl::SimpleAtoi(v->value, &n) || n < min || n > max) {
    return absl::InvalidArgumentError(absl::StrCat(
        v->name, " '", v->value, "': expected an integer in ", min, "..", max));
  }
  return std::optional<int64_t>(n);
}

absl::StatusOr<int64_t> EnvReader::RequiredInt(
    std::initializer_list<const char*> names, int64_t min, int64_t max,
    absl::string_view what) {
  ASSIGN_OR_RETURN(std::optional<int64_t> v, Int(names, min, max));
  if (v) return *v;
  std::vector<std::string> list(names.begin(), names.end());
  return absl::InvalidArgumentError(
      absl::StrCat(what, ": ", absl::StrJoin(list, " or "), " is not set"));
}

InferredOption Binding(const char* option, std::string value,
                       std::string source, std::string hint) {
  InferredOption o;
  o.option = option;
  o.value = std::move(value);
  o.source = std::move(source);
  o.binding = true;
  o.hint = std::move(hint);
  return o;
}

InferredOption Chosen(const char* option, std::string value,
                      std::string source) {
  InferredOption o;
  o.option = option;
  o.value = std::move(value);
  o.source = std::move(source);
  return o;
}

}  // namespace scheduler_internal

namespace {

using scheduler_internal::InferKubernetes;
using scheduler_internal::InferMpi;
using scheduler_internal::InferSlurm;

absl::Status Absent(absl::string_view choice, absl::string_view expected) {
  return absl::InvalidArgumentError(
      absl::StrCat("--scheduler ", choice, ": no ", expected,
                   " found in the environment; use --scheduler auto or none"));
}

// With mpirun inside a Slurm allocation the ranks inherit the SLURM_* of the
// daemons' step (one task per node) while OMPI_* describe the ranks: the MPI
// values are the truth then. Under `srun --mpi=pmix` both agree and Slurm's
// node list makes it the richer source.
bool SlurmAgreesWithMpi(const SchedulerInference& slurm,
                        const SchedulerInference& mpi) {
  return slurm.task_rank == mpi.task_rank && slurm.task_count == mpi.task_count;
}

}  // namespace

int SlurmRendezvousPort(uint64_t job_id, uint64_t step_id) {
  const uint64_t slot = job_id * 4 + step_id % 4;
  return kSchedulerPortBase + static_cast<int>(slot % kSchedulerPortSpan);
}

int HashedRendezvousPort(absl::string_view key) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : key) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return kSchedulerPortBase + static_cast<int>(h % kSchedulerPortSpan);
}

absl::StatusOr<SchedulerInference> InferScheduler(const SchedulerInputs& in) {
  switch (in.choice) {
    case SchedulerChoice::kNone:
      return SchedulerInference();
    case SchedulerChoice::kSlurm: {
      ASSIGN_OR_RETURN(SchedulerInference s, InferSlurm(in));
      if (s.kind == SchedulerKind::kNone) {
        return Absent("slurm", "srun step (SLURM_JOB_ID and SLURM_STEP_ID)");
      }
      return s;
    }
    case SchedulerChoice::kKubernetes: {
      ASSIGN_OR_RETURN(SchedulerInference k, InferKubernetes(in));
      if (k.kind == SchedulerKind::kNone) {
        return Absent("kubernetes",
                      "PyTorchJob, TrainJob or Indexed Job variables "
                      "(PET_NNODES, MASTER_ADDR with RANK and WORLD_SIZE, "
                      "JOB_COMPLETION_INDEX)");
      }
      return k;
    }
    case SchedulerChoice::kMpi: {
      ASSIGN_OR_RETURN(SchedulerInference m, InferMpi(in));
      if (m.kind == SchedulerKind::kNone) {
        return Absent("mpi",
                      "MPI rank (OMPI_COMM_WORLD_RANK, PMI_RANK, "
                      "MV2_COMM_WORLD_RANK, PMIX_RANK)");
      }
      return m;
    }
    case SchedulerChoice::kAuto:
      break;
  }
  ASSIGN_OR_RETURN(SchedulerInference slurm, InferSlurm(in));
  ASSIGN_OR_RETURN(SchedulerInference mpi, InferMpi(in));
  if (slurm.kind != SchedulerKind::kNone) {
    if (mpi.kind == SchedulerKind::kNone || SlurmAgreesWithMpi(slurm, mpi)) {
      return slurm;
    }
    return mpi;
  }
  if (mpi.kind != SchedulerKind::kNone) {
    mpi.note = slurm.note;
    return mpi;
  }
  ASSIGN_OR_RETURN(SchedulerInference k8s, InferKubernetes(in));
  if (k8s.kind == SchedulerKind::kNone && k8s.note.empty()) {
    k8s.note = slurm.note;
  }
  return k8s;
}

}  // namespace tplaunch
