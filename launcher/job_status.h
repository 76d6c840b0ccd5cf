// job_status: `tplaunch status`, a human-readable view of a job's rendezvous
// keys (attempt, nodes, ranks, heartbeats, how the attempt ended). Reads a
// Store only.
#ifndef TPLAUNCH_LAUNCHER_JOB_STATUS_H_
#define TPLAUNCH_LAUNCHER_JOB_STATUS_H_

#include <string>

#include "absl/status/statusor.h"
#include "store/store.h"

namespace tplaunch {

// NotFound when the run id has no keys. Heartbeat ages use this host's clock
// against the writers' clocks, so they are approximate across hosts.
absl::StatusOr<std::string> DescribeJob(Store* store,
                                        const std::string& run_id);

}  // namespace tplaunch

#endif  // TPLAUNCH_LAUNCHER_JOB_STATUS_H_
