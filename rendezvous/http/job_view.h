// job_view: the LiveJob messages of the daemon's live view (/api/v1/jobs),
// built from a KvTable's keys as `tplaunch status` reads them
// (common/key_layout.h, common/records.h) and from its parked waiters. Pure:
// no HTTP, no gRPC; `now` is passed in.
#ifndef TPLAUNCH_RENDEZVOUS_HTTP_JOB_VIEW_H_
#define TPLAUNCH_RENDEZVOUS_HTTP_JOB_VIEW_H_

#include <optional>
#include <string>

#include "absl/time/time.h"
#include "proto/live_view.pb.h"
#include "store/kv_table.h"

namespace tplaunch {

// Every job of `table`, sorted by run id. Reads never refresh a job's
// activity (KvTable::InspectJobs), so a dashboard keeps no job alive.
rendezvous::v1::LiveJobList BuildJobList(const KvTable& table, absl::Time now);

// One job; nullopt when `table` holds no job named `run_id`.
std::optional<rendezvous::v1::LiveJob> BuildJob(const KvTable& table,
                                                const std::string& run_id,
                                                absl::Time now);

}  // namespace tplaunch

#endif  // TPLAUNCH_RENDEZVOUS_HTTP_JOB_VIEW_H_
