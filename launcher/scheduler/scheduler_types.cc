#include "launcher/scheduler/scheduler_types.h"

#include <string>

#include "absl/strings/ascii.h"

namespace tplaunch {

absl::Status ParseSchedulerChoice(absl::string_view text,
                                  SchedulerChoice* choice) {
  const std::string v = absl::AsciiStrToLower(text);
  if (v == "auto") {
    *choice = SchedulerChoice::kAuto;
  } else if (v == "slurm") {
    *choice = SchedulerChoice::kSlurm;
  } else if (v == "kubernetes" || v == "k8s") {
    *choice = SchedulerChoice::kKubernetes;
  } else if (v == "mpi") {
    *choice = SchedulerChoice::kMpi;
  } else if (v == "none") {
    *choice = SchedulerChoice::kNone;
  } else {
    return absl::InvalidArgumentError(
        "expected auto, slurm, kubernetes, mpi or none");
  }
  return absl::OkStatus();
}

}  // namespace tplaunch
