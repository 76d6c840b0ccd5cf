// apply: a SchedulerInference into a LaunchConfig, filling in only what the
// user did not give explicitly, through the same option rows (cli_options.h)
// that parse the command line, so an inferred value is checked exactly like a
// typed one and its errors name the variable it came from.
//
// Called by the cli after every option row has been applied and before the
// checks that involve several options, so those checks see the inferred
// endpoint and node count.
#ifndef TPLAUNCH_LAUNCHER_SCHEDULER_APPLY_H_
#define TPLAUNCH_LAUNCHER_SCHEDULER_APPLY_H_

#include <map>
#include <string>

#include "absl/status/status.h"
#include "launcher/cli_options.h"
#include "launcher/launch_config.h"
#include "launcher/scheduler/inference.h"

namespace tplaunch {

// The options given explicitly, by canonical name, with their raw values and
// sources (the cli's GivenOptions). A value whose source is a variable the
// inference read (PET_NNODES given through the PET_ fallback) counts as the
// scheduler's, not the user's.
using GivenOptionValues = std::map<std::string, RawValue>;

// Applies `inference` to `config`: each inferred option the user did not give
// goes through its option row; sets task_placement,
// scheduler_hosts_rendezvous (only when the endpoint in effect is the one the
// scheduler decided, or the scheduler named none) and scheduler_summary.
// Errors (InvalidArgument, a usage error): an explicit value contradicting a
// binding one ("--nnodes 4" in a 2-node Slurm step), naming both;
// --standalone in a multi-node job; whatever an option row says about an
// inferred value (naming its variable).
absl::Status ApplySchedulerInference(const SchedulerInference& inference,
                                     const GivenOptionValues& given,
                                     LaunchConfig& config);

// The shell the cli calls: gathers SchedulerInputs (config.scheduler, env,
// this host's name from HOSTNAME or gethostname(), getppid()), infers and
// applies. Errors: InferScheduler's and ApplySchedulerInference's.
absl::Status ApplyScheduler(const std::map<std::string, std::string>& env,
                            const GivenOptionValues& given,
                            LaunchConfig& config);

// The line tplaunch prints at start, from the config as finally applied:
// "Slurm job 4242 step 0: 2 nodes, node rank 0, endpoint gpu01:25017 (hosted
// here); from SLURM_JOB_ID, ...". "" for kNone without a note.
std::string SchedulerSummary(const SchedulerInference& inference,
                             const LaunchConfig& config);

}  // namespace tplaunch

#endif  // TPLAUNCH_LAUNCHER_SCHEDULER_APPLY_H_
